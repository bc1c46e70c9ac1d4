"""Generate learner labs from solution notebooks.

``solutions/*.ipynb`` is the only place a lab is written. Its answers sit
between nbgrader-style marker lines::

    def add(a, b):
        ### BEGIN SOLUTION
        return a + b
        ### END SOLUTION

and ``make_lab`` turns each region into ``raise NotImplementedError()`` at
the marker's indentation (``YOUR ANSWER HERE`` in markdown cells), drops
cells tagged ``solution-only``, and clears outputs and run metadata, so the
lab reveals nothing the solution computed. Output is deterministic, which
lets ``--check`` (and CI) tell whether ``labs/`` is up to date. The
command line is in ``labgen``.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

# nbformat is imported where files are read and written: it can take a
# second to import, and importing course_lib.grading should stay quick.

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CODE_STUB = "raise NotImplementedError()"
MARKDOWN_STUB = "YOUR ANSWER HERE"
SOLUTION_ONLY_TAG = "solution-only"
# Cell metadata a lab keeps; everything else (execution timings, collapsed
# outputs, tool state) may describe the solution's run and is dropped.
KEPT_CELL_METADATA = ("tags", "slideshow", "editable", "deletable", "jupyter")


class SolutionMarkerError(ValueError):
    """Solution markers that do not pair up; the message names notebook, cell and line."""


def strip_solutions(source: str, stub: str, where: str = "cell") -> str:
    """Replace every marked region of ``source`` (markers included) by ``stub``."""
    kept: list[str] = []
    begin_line: int | None = None
    for number, line in enumerate(source.split("\n"), 1):
        marker = line.strip()
        if marker == BEGIN:
            if begin_line is not None:
                opened = f"the region opened at line {begin_line}"
                raise SolutionMarkerError(f"{where}, line {number}: {BEGIN} inside {opened}")
            begin_line = number
            kept.append(line[: len(line) - len(line.lstrip())] + stub)
        elif marker == END:
            if begin_line is None:
                raise SolutionMarkerError(f"{where}, line {number}: {END} without a {BEGIN} before it")
            begin_line = None
        elif "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            # A misspelt marker would otherwise leak the answer into the lab.
            marker_rule = f"a marker must be a line of its own: {BEGIN!r} or {END!r}"
            raise SolutionMarkerError(f"{where}, line {number}: {marker_rule}")
        elif begin_line is None:
            kept.append(line)
    if begin_line is not None:
        raise SolutionMarkerError(f"{where}, line {begin_line}: {BEGIN} is never closed by {END}")
    return "\n".join(kept)


def make_lab(solution: NotebookNode, name: str = "notebook") -> NotebookNode:
    """The learner's version of a solution notebook (a new notebook; the input is unchanged).

    ``name`` only labels error messages, e.g. the solution's file name.
    """
    lab = copy.deepcopy(solution)
    cells = []
    for index, cell in enumerate(lab.cells):
        if SOLUTION_ONLY_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        stub = CODE_STUB if cell.cell_type == "code" else MARKDOWN_STUB
        cell.source = strip_solutions(source, stub, where=f"{name}: cell {index + 1}")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in [key for key in cell.get("metadata", {}) if key not in KEPT_CELL_METADATA]:
            del cell.metadata[key]
        cells.append(cell)
    lab.cells = cells
    lab.metadata.pop("widgets", None)  # saved widget state is output too
    _ensure_cell_ids(lab)
    return lab


def _ensure_cell_ids(notebook: NotebookNode) -> None:
    # nbformat >= 4.5 requires ids and would otherwise invent random ones
    # while writing, making the output differ from run to run.
    if (notebook.nbformat, notebook.nbformat_minor) < (4, 5):
        return
    for position, cell in enumerate(notebook.cells):
        if not cell.get("id"):
            cell.id = hashlib.sha1(f"{position}:{cell.source}".encode()).hexdigest()[:12]


def lab_text(notebook: NotebookNode) -> str:
    """The exact file content for a lab notebook (same input, same bytes)."""
    import nbformat

    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"


def _lab_texts(solutions_dir: Path, labs_dir: Path) -> dict[Path, str]:
    """Every lab's expected content, computed before anything is written."""
    import nbformat

    texts = {}
    for solution in sorted(solutions_dir.glob("*.ipynb")):
        notebook = nbformat.read(solution, as_version=4)
        texts[labs_dir / solution.name] = lab_text(make_lab(notebook, name=str(solution)))
    return texts


def generate_labs(solutions_dir: str | Path, labs_dir: str | Path) -> list[Path]:
    """Write ``labs_dir/<name>.ipynb`` for every ``solutions_dir/<name>.ipynb``.

    Returns all lab paths. Up-to-date labs are not rewritten, so their
    timestamps stay. Nothing is written if any solution has bad markers.
    """
    labs_dir = Path(labs_dir)
    texts = _lab_texts(Path(solutions_dir), labs_dir)
    labs_dir.mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            with open(path, "w", encoding="utf-8", newline="\n") as file:
                file.write(text)
    return list(texts)


def stale_labs(solutions_dir: str | Path, labs_dir: str | Path) -> list[str]:
    """Problems that make ``labs_dir`` differ from what ``generate_labs`` would write."""
    labs_dir = Path(labs_dir)
    texts = _lab_texts(Path(solutions_dir), labs_dir)
    problems = []
    for path, text in texts.items():
        if not path.is_file():
            problems.append(f"missing: {path}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"stale: {path}")
    for path in sorted(labs_dir.glob("*.ipynb")):
        if path not in texts:
            problems.append(f"extra: {path} (no solution notebook of that name)")
    return problems
