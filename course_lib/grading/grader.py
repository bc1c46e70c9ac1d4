"""Grade lab notebooks: each one runs in a sandbox, judged from outside it.

For every notebook the grader

1. reads it (anything that is not a notebook scores 0 with the reason),
2. finds its lab from ``metadata["course"]["lab"]`` -- or, failing that,
   from the ids in its ``check("...")`` calls,
3. hands its code cells, questions and hidden tests to the judge
   (``judge``), which runs the cells in a sandbox (``sandbox``,
   ``sandbox_runner``) and compares each answer's results, returned as
   plain data, with expected values the sandbox never sees.

One notebook's problems cost that notebook, and one answer's problems cost
that question. ``grade_notebook`` may be called from several threads at
once: every call has its own sandboxes and temporary folders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_lib.grading.feedback import format_points
from course_lib.grading.hidden import load_hidden
from course_lib.grading.judge import Judge, QuestionGrade
from course_lib.grading.questions import Question, UnknownLab, UnknownQuestion, get, questions_for_lab
from course_lib.grading.runner import DEFAULT_TEST_TIMEOUT
from course_lib.grading.sandbox import SandboxPolicy, SandboxUnavailable, choose

CELL_TIMEOUT = 30.0  # seconds per notebook cell
NO_QUESTIONS = "no graded questions found: is this a course lab notebook?"

_CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([^"']+)["']""")

__all__ = [
    "CELL_TIMEOUT",
    "NO_QUESTIONS",
    "NotANotebook",
    "NotebookResult",
    "QuestionGrade",
    "find_lab",
    "find_notebooks",
    "grade_notebook",
    "grade_paths",
    "read_notebook",
]


class NotANotebook(ValueError):
    """The file is not a readable Jupyter notebook."""


@dataclass
class NotebookResult:
    """The grades of one notebook, plus why it could not be fully graded.

    ``sandbox`` is ``"bubblewrap"`` when the notebook ran sandboxed, or
    ``"not sandboxed: <why>"``; every report and results file shows it.
    """

    path: Path
    lab: str | None = None
    grades: list[QuestionGrade] = field(default_factory=list)
    message: str = ""  # empty when grading completed
    notes: list[str] = field(default_factory=list)  # cells that raised, were stopped or skipped
    sandbox: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # seconds: sandbox start, cells, cases; runs

    @property
    def score(self) -> float:
        return sum(grade.score for grade in self.grades)

    @property
    def max_score(self) -> float:
        return sum(grade.max_score for grade in self.grades)

    @property
    def status(self) -> str:
        """One line for a gradebook: the problem, the cell notes, or 'ok'."""
        return self.message or "; ".join(self.notes) or "ok"


def read_notebook(path: str | Path) -> dict[str, Any]:
    """Read a notebook as JSON (cell sources as strings), raising ``NotANotebook`` otherwise.

    Version 4 notebooks are read directly; older ones are converted with
    nbformat (which takes a second to import, so it is not imported otherwise).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotANotebook("the file is not UTF-8 text") from None
    except OSError as error:
        raise NotANotebook(error.strerror or str(error)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotANotebook(str(error)) from None
    except RecursionError:
        raise NotANotebook("JSON nested too deeply") from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise NotANotebook("JSON without an nbformat version")
    if data.get("nbformat") != 4:
        data = _convert(text)
    cells = data.get("cells")
    if not isinstance(cells, list) or not all(isinstance(cell, dict) for cell in cells):
        raise NotANotebook("the notebook has no cells")
    for cell in cells:
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            cell["source"] = "".join(source)
        elif not isinstance(source, str):
            raise NotANotebook("a cell's source is not text")
    if not isinstance(data.get("metadata", {}), dict):
        raise NotANotebook("the notebook's metadata is not an object")
    return data


def _convert(text: str) -> dict[str, Any]:
    import nbformat

    try:
        converted: dict[str, Any] = json.loads(nbformat.writes(nbformat.reads(text, as_version=4)))
    except Exception as error:
        raise NotANotebook(f"{type(error).__name__}: {error}") from None
    return converted


def code_cells(notebook: Any) -> list[tuple[int, str]]:
    """(index, source) of every code cell, in notebook order."""
    return [
        (index, str(cell.get("source", "")))
        for index, cell in enumerate(notebook.get("cells", []))
        if cell.get("cell_type") == "code"
    ]


def find_lab(notebook: Any) -> str | None:
    """The lab id from the notebook metadata, or from its check("...") calls."""
    course = notebook.get("metadata", {}).get("course")
    if isinstance(course, dict) and isinstance(course.get("lab"), str):
        lab: str = course["lab"]
        return lab
    for _index, source in code_cells(notebook):
        for question_id in _CHECK_CALL.findall(source):
            try:
                return get(question_id).lab
            except UnknownQuestion:
                continue
    return None


def grade_notebook(
    path: str | Path,
    hidden_dir: str | Path | None = None,
    timeout: float = CELL_TIMEOUT,
    test_timeout: float = DEFAULT_TEST_TIMEOUT,
    *,
    budget: float | None = None,
    hide: Sequence[str | Path] = (),
    policy: SandboxPolicy | None = None,
) -> NotebookResult:
    """Grade one notebook; never raises, problems end up in ``message``.

    ``budget``: seconds for the whole notebook (None: no limit beyond the
    per-cell and per-test ones); when it runs out, what is not graded yet
    scores 0. ``hide``: more folders the sandbox must not see even when they
    lie inside a folder it needs (the hidden tests and the notebook's own
    folder always are). ``policy``: the sandbox's limits.
    """
    path = Path(path)
    try:
        sandboxed, sandbox = choose()
    except SandboxUnavailable as error:
        return NotebookResult(path, message=f"cannot grade: {error}", sandbox=f"not sandboxed: {error}")
    except ValueError as error:  # a bad $COURSE_GRADING_SANDBOX
        return NotebookResult(path, message=f"cannot grade: {error}", sandbox="not sandboxed: not started")
    try:
        notebook = read_notebook(path)
        notebook_bytes = path.read_bytes()
    except NotANotebook as error:
        return NotebookResult(path, message=f"not a Jupyter notebook: {error}", sandbox=sandbox)
    except OSError as error:
        return NotebookResult(path, message=f"not a Jupyter notebook: {error}", sandbox=sandbox)
    lab = None
    try:
        lab = find_lab(notebook)
        if lab is None:
            return NotebookResult(path, message=NO_QUESTIONS, sandbox=sandbox)
        questions = questions_for_lab(lab)
        hidden = load_hidden(hidden_dir, lab)
    except (UnknownLab, ValueError) as error:  # no bank, a broken bank table or hidden-tests file
        return NotebookResult(path, lab, message=f"cannot grade: {error}", sandbox=sandbox)
    secret = [Path(folder) for folder in hide] + [path.resolve().parent]
    if hidden_dir is not None:
        secret.append(Path(hidden_dir))
    try:
        judge = Judge(
            path.name,
            notebook_bytes,
            code_cells(notebook),
            lab,
            questions,
            hidden,
            cell_timeout=timeout,
            test_timeout=test_timeout,
            sandboxed=sandboxed,
            policy=policy,
            budget=budget,
            hide=secret,
        )
        verdict = judge.judge()
    except Exception as error:  # e.g. the sandbox could not start: this notebook scores 0, the batch goes on
        grades = [_zero(question, "not graded") for question in questions]
        message = f"grader error: {type(error).__name__}: {error}"
        return NotebookResult(path, lab, grades, message=message, sandbox=sandbox)
    timings = {**verdict.seconds, "runs": float(verdict.runs)}
    return NotebookResult(path, lab, verdict.grades, verdict.message, verdict.notes, sandbox, timings)


def grade_paths(
    paths: Iterable[str | Path],
    hidden_dir: str | Path | None = None,
    timeout: float = CELL_TIMEOUT,
    test_timeout: float = DEFAULT_TEST_TIMEOUT,
    progress: Callable[[int, int, Path], None] | None = None,
) -> list[NotebookResult]:
    """Grade every notebook in ``paths`` (files, or folders searched for .ipynb)."""
    notebooks = find_notebooks(paths)
    results = []
    for number, path in enumerate(notebooks, 1):
        if progress is not None:
            progress(number, len(notebooks), path)
        results.append(grade_notebook(path, hidden_dir, timeout, test_timeout))
    return results


def find_notebooks(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their .ipynb files (sorted, no checkpoints)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                file
                for file in path.rglob("*.ipynb")
                if ".ipynb_checkpoints" not in file.parts and file.is_file()
            )
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


def _zero(question: Question, reason: str) -> QuestionGrade:
    points = format_points(question.points)
    output = f"{question.id} {question.title}: 0/{points} points\n  {reason}"
    return QuestionGrade(question.id, question.title, 0.0, question.points, output)
