"""Grade lab notebooks: run each in its own kernel, then grade what it defined.

For every notebook the grader

1. reads it (anything that is not a notebook scores 0 with the reason),
2. finds its lab from ``metadata["course"]["lab"]`` -- or, failing that,
   from the ids in its ``check("...")`` calls,
3. executes its cells in a fresh kernel started in the notebook's folder,
   each cell under a timeout; errors are recorded and execution goes on,
4. appends a grading cell that runs in the same kernel (see ``in_kernel``)
   and reads the per-question results it prints.

A cell that crashes the kernel, or keeps running after being interrupted,
is skipped and the notebook run again without it; an answer that does the
same while being graded scores 0 and the others are graded in a new run.
So one notebook's problems cost that notebook, and one answer's problems
cost that question.
"""

from __future__ import annotations

import copy
import json
import math
import re
import secrets
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from course_lib.grading.feedback import format_points
from course_lib.grading.hidden import load_hidden
from course_lib.grading.in_kernel import MARKER
from course_lib.grading.questions import Question, UnknownLab, UnknownQuestion, get, questions_for_lab
from course_lib.grading.runner import DEFAULT_TEST_TIMEOUT

if TYPE_CHECKING:
    from nbclient import NotebookClient
    from nbformat import NotebookNode

# nbformat and nbclient are imported inside the functions that use them:
# importing nbformat can take a second, and `from course_lib.grading
# import check` in every lab notebook should not pay for it.

CELL_TIMEOUT = 30.0  # seconds per notebook cell
MAX_RUNS = 3  # executions of one notebook: the first, plus reruns skipping a culprit
GRADING_SLACK = 10.0  # seconds the grading cell gets on top of its tests' time limits
NO_QUESTIONS = "no graded questions found: is this a course lab notebook?"

_CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([^"']+)["']""")
_TIMEOUT_ENAME = "CellTimeout"  # our fake error name for a cell nbclient gave up waiting on
_KERNEL_FILE = re.compile(r"\([^()]*\.py, (line \d+)\)")  # "(3498234.py, line 3)" -> "(line 3)"


class NotANotebook(ValueError):
    """The file is not a readable Jupyter notebook."""


@dataclass
class QuestionGrade:
    """One question's grade for one notebook, as the gradebook reports it."""

    id: str
    title: str
    score: float
    max_score: float
    output: str


@dataclass
class NotebookResult:
    """The grades of one notebook, plus why it could not be fully graded."""

    path: Path
    lab: str | None = None
    grades: list[QuestionGrade] = field(default_factory=list)
    message: str = ""  # empty when grading completed
    notes: list[str] = field(default_factory=list)  # cells that raised, were stopped or skipped

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


def read_notebook(path: str | Path) -> NotebookNode:
    """Read a notebook, raising ``NotANotebook`` with a short reason otherwise."""
    import nbformat

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
    if not isinstance(data, dict) or "nbformat" not in data:
        raise NotANotebook("JSON without an nbformat version")
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:
        raise NotANotebook(f"{type(error).__name__}: {error}") from None
    if not isinstance(notebook.get("cells"), list):
        raise NotANotebook("the notebook has no cells")
    return notebook


def find_lab(notebook: NotebookNode) -> str | None:
    """The lab id from the notebook metadata, or from its check("...") calls."""
    course = notebook.get("metadata", {}).get("course")
    if isinstance(course, dict) and isinstance(course.get("lab"), str):
        return course["lab"]
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        for question_id in _CHECK_CALL.findall(cell.get("source", "")):
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
) -> NotebookResult:
    """Grade one notebook; never raises, problems end up in ``message``."""
    path = Path(path)
    try:
        notebook = read_notebook(path)
    except NotANotebook as error:
        return NotebookResult(path, message=f"not a Jupyter notebook: {error}")
    lab = None
    try:
        lab = find_lab(notebook)
        if lab is None:
            return NotebookResult(path, message=NO_QUESTIONS)
        questions = questions_for_lab(lab)
        hidden_counts = {key: len(cases) for key, cases in load_hidden(hidden_dir, lab).items()}
    except (UnknownLab, ValueError) as error:  # no bank, a broken bank table or hidden-tests file
        return NotebookResult(path, lab, message=f"cannot grade: {error}")
    try:
        return _grade_by_running(
            path, notebook, lab, questions, hidden_dir, hidden_counts, timeout, test_timeout
        )
    except Exception as error:  # e.g. no kernel could start: this notebook scores 0, the batch goes on
        grades = [_zero(question, "not graded") for question in questions]
        return NotebookResult(path, lab, grades, message=f"grader error: {type(error).__name__}: {error}")


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


@dataclass
class _Run:
    """What one execution of a notebook produced."""

    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stuck_cell: int | None = None  # crashed the kernel or could not be stopped
    stuck_question: str | None = None  # ditto, while its answer was being graded
    reason: str = ""  # why the run stopped early


def _grade_by_running(
    path: Path,
    notebook: NotebookNode,
    lab: str,
    questions: list[Question],
    hidden_dir: str | Path | None,
    hidden_counts: dict[str, int],
    timeout: float,
    test_timeout: float,
) -> NotebookResult:
    skipped_cells: dict[int, str] = {}
    skipped_questions: dict[str, str] = {}
    cases = sum(len(question.public) + hidden_counts.get(question.id, 0) for question in questions)
    grading_timeout = cases * test_timeout + GRADING_SLACK
    message = ""
    for _ in range(MAX_RUNS):
        to_grade = [question.id for question in questions if question.id not in skipped_questions]
        run = _run_once(
            notebook,
            path.parent,
            lab,
            to_grade,
            hidden_dir,
            timeout,
            test_timeout,
            grading_timeout,
            skipped_cells,
        )
        if run.stuck_cell is not None:
            skipped_cells[run.stuck_cell] = run.reason
        elif run.stuck_question is not None:
            skipped_questions[run.stuck_question] = run.reason
        else:
            message = run.reason  # empty, or why the grading cell failed
            break
    else:
        message = f"gave up after {MAX_RUNS} runs: {run.reason}"
    grades = []
    for question in questions:
        payload = run.payloads.get(question.id)
        if payload is not None:
            score = min(max(float(payload["score"]), 0.0), question.points)
            grades.append(
                QuestionGrade(question.id, question.title, score, question.points, str(payload["output"]))
            )
        else:
            grades.append(_zero(question, skipped_questions.get(question.id) or run.reason or "not graded"))
    notes = run.notes + [f"{key}: {reason}; it scored 0" for key, reason in skipped_questions.items()]
    return NotebookResult(path, lab, grades, message=message, notes=notes)


def _run_once(
    notebook: NotebookNode,
    folder: Path,
    lab: str,
    question_ids: Sequence[str],
    hidden_dir: str | Path | None,
    timeout: float,
    test_timeout: float,
    grading_timeout: float,
    skipped_cells: dict[int, str],
) -> _Run:
    """Execute the notebook in a fresh kernel, then its grading cell."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell

    working = copy.deepcopy(notebook)  # each run starts from the notebook as submitted
    cell_timeout = max(1, math.ceil(timeout))  # nbclient counts whole seconds
    timed_out: set[int] = set()  # cells nbclient stopped waiting for

    def on_cell_executed(cell: NotebookNode, cell_index: int, execute_reply: dict[str, Any] | None) -> None:
        if execute_reply and execute_reply.get("content", {}).get("ename") == _TIMEOUT_ENAME:
            timed_out.add(cell_index)

    client = NotebookClient(
        working,
        timeout=cell_timeout,
        allow_errors=True,
        interrupt_on_timeout=True,
        # Don't wait for the kernel to confirm an interrupt: it never comes
        # from a loop that ignores KeyboardInterrupt. _run_cells checks.
        error_on_timeout={"ename": _TIMEOUT_ENAME, "evalue": "", "traceback": []},
        kernel_name="python3",
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(folder.resolve())}},
        on_cell_executed=on_cell_executed,
    )
    run = _Run()
    # The kernel process's own stderr (not the cells' output) is start-up noise.
    with client.setup_kernel(stderr=subprocess.DEVNULL):
        _run_cells(client, working, skipped_cells, timed_out, cell_timeout, run)
        run.notes = _cell_notes(working.cells, skipped_cells, timed_out, cell_timeout)
        if run.stuck_cell is None:
            first_error = run.notes[0] if run.notes else None
            code, marker = _grading_source(lab, question_ids, hidden_dir, test_timeout, first_error)
            working.cells.append(new_code_cell(code))
            client.timeout = math.ceil(grading_timeout)
            _run_grading_cell(client, working, timed_out, marker, question_ids, run)
    return run


def _run_cells(
    client: NotebookClient,
    notebook: NotebookNode,
    skipped_cells: dict[int, str],
    timed_out: set[int],
    cell_timeout: int,
    run: _Run,
) -> None:
    """Execute the code cells, stopping at one that kills or hangs the kernel."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or index in skipped_cells:
            continue
        try:
            client.execute_cell(cell, index)
        except DeadKernelError:
            run.stuck_cell, run.reason = index, f"cell {index + 1} crashed the kernel"
        except CellTimeoutError:
            run.stuck_cell, run.reason = index, f"cell {index + 1} could not be stopped"
        else:
            if index in timed_out and not _has_error(cell, "KeyboardInterrupt"):
                reason = (
                    f"cell {index + 1} kept running after being interrupted at the {cell_timeout} s limit"
                )
                run.stuck_cell, run.reason = index, reason
        if run.stuck_cell is not None:
            return


def _run_grading_cell(
    client: NotebookClient,
    notebook: NotebookNode,
    timed_out: set[int],
    marker: str,
    question_ids: Sequence[str],
    run: _Run,
) -> None:
    """Execute the appended grading cell and collect the results it printed."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    index = len(notebook.cells) - 1
    cell = notebook.cells[index]
    ended = ""  # why the cell ended early, if it did
    try:
        client.execute_cell(cell, index)
    except DeadKernelError:
        ended = "the kernel crashed while testing this answer"
    except CellTimeoutError:
        ended = "testing this answer did not finish and could not be stopped"
    else:
        if index in timed_out:
            ended = "testing this answer did not finish and could not be stopped"
        elif _has_error(cell, "KeyboardInterrupt"):
            ended = "testing this answer was interrupted"
    run.payloads = _read_payloads(cell, marker, question_ids)
    missing = [question_id for question_id in question_ids if question_id not in run.payloads]
    if missing and ended:
        # Results arrive in order, so the first missing question was running.
        run.stuck_question, run.reason = missing[0], ended
    elif missing:
        error = _first_error(cell)
        run.reason = f"the grader failed: {error}" if error else "the grader printed no results"
        if "No module named 'course_lib" in error:
            run.reason += " (is the python3 kernel the Python where course_lib is installed?)"


def _grading_source(
    lab: str,
    question_ids: Sequence[str],
    hidden_dir: str | Path | None,
    test_timeout: float,
    first_error: str | None,
) -> tuple[str, str]:
    """The grading cell's code, and the marker its result lines start with."""
    # A fresh marker per run, so a notebook printing look-alike lines cannot
    # pass them off as the grader's.
    marker = f"{MARKER}-{secrets.token_hex(8)}"
    hidden = str(Path(hidden_dir).resolve()) if hidden_dir is not None else None
    code = (
        "from course_lib.grading.in_kernel import grade_namespace as _course_grade_namespace\n"
        f"_course_grade_namespace(globals(), lab={lab!r}, question_ids={list(question_ids)!r}, "
        f"hidden_dir={hidden!r}, test_timeout={float(test_timeout)!r}, first_error={first_error!r}, "
        f"marker={marker!r})\n"
    )
    return code, marker


def _read_payloads(cell: NotebookNode, marker: str, question_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    text = "".join(
        output.get("text", "")
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    )
    payloads = {}
    for line in text.splitlines():
        if line.startswith(marker + " "):
            payload = json.loads(line[len(marker) + 1 :])
            if payload.get("id") in question_ids:
                payloads[payload["id"]] = payload
    return payloads


def _cell_notes(
    cells: list[NotebookNode], skipped_cells: dict[int, str], timed_out: set[int], timeout: int
) -> list[str]:
    """One line per cell that did not run cleanly, in notebook order."""
    notes = []
    for index, cell in enumerate(cells):
        if index in skipped_cells:
            notes.append(f"{skipped_cells[index]}; it was skipped")
        elif index in timed_out:
            notes.append(f"cell {index + 1} was stopped after {timeout} s (an endless loop?)")
        else:
            error = _first_error(cell)
            if error:
                notes.append(f"cell {index + 1} raised {error}")
    return notes


def _first_error(cell: NotebookNode) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            evalue = _KERNEL_FILE.sub(r"(\1)", str(output.get("evalue", "")))
            text = output.get("ename", "Error") + (f": {evalue}" if evalue else "")
            return text if len(text) <= 200 else text[:196] + " ..."
    return ""


def _has_error(cell: NotebookNode, ename: str) -> bool:
    return any(
        output.get("output_type") == "error" and output.get("ename") == ename
        for output in cell.get("outputs", [])
    )


def _zero(question: Question, reason: str) -> QuestionGrade:
    points = format_points(question.points)
    output = f"{question.id} {question.title}: 0/{points} points\n  {reason}"
    return QuestionGrade(question.id, question.title, 0.0, question.points, output)
