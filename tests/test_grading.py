"""Tests for course_lib.grading: check, the lab generator and the notebook grader.

The demo question bank lives in tests/grading_fixtures/bank_demo.py (lab
"lab-demo"); kernels started by the grader find it through PYTHONPATH and
COURSE_GRADING_BANKS. Notebook-executing tests share one CLI run over a
folder of generated notebooks (module-scoped fixture), because every kernel
start costs a second or two.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib.grading import Case, Question, check, generate_labs, make_lab, register
from course_lib.grading.__main__ import main as grading_main
from course_lib.grading.feedback import HIDDEN_NOTE
from course_lib.grading.grader import NO_QUESTIONS, NotebookResult, QuestionGrade, grade_notebook, grade_paths
from course_lib.grading.gradebook import gradescope_json, sandbox_line, sandbox_of
from course_lib.grading.hidden import HiddenTestsError, load_hidden
from course_lib.grading.labgen import main as labgen_main
from course_lib.grading.labmaker import SolutionMarkerError, strip_solutions
from course_lib.grading.questions import UnknownLab, UnknownQuestion, banks, questions_for_lab
from course_lib.grading.runner import TestTimeout, run_case, time_limit

FIXTURES = Path(__file__).parent / "grading_fixtures"
BANK_ENV = {
    "COURSE_GRADING_BANKS": "lab-demo=bank_demo",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(FIXTURES), os.environ.get("PYTHONPATH")])),
}


@pytest.fixture(scope="module", autouse=True)
def demo_bank():
    """Make bank_demo importable here and in every kernel the grader starts."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in BANK_ENV.items():
            patch.setenv(name, value)
        patch.syspath_prepend(str(FIXTURES))
        questions_for_lab("lab-demo")  # imports bank_demo through the table
        yield


# --- answers -------------------------------------------------------------


def add(a, b):
    return a + b


def add_with_ints(a, b):  # wrong for floats and strings: 3 of 5 public tests pass
    return int(a) + int(b)


def add_stub(a, b):
    raise NotImplementedError()


def is_even(n):
    return n % 2 == 0


def is_even_loops_on_seven(n):
    if n == 7:
        while True:
            pass
    return n % 2 == 0


def parse_port(text):
    if not text.isdigit():
        raise ValueError(f"not a port number: {text!r}")
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {port}")
    return port


# --- check ---------------------------------------------------------------


def test_check_full_marks_mentions_hidden_tests():
    report = check("demo-q1", add)
    assert str(report) == f"demo-q1 Add two numbers: public tests: 5/5 passed (3/3 points)\n{HIDDEN_NOTE}"
    assert (report.score, report.max_score, report.passed, report.total) == (3, 3, 5, 5)
    assert "all tests passed" not in str(report).lower()


def test_check_partial_credit_shows_input_expected_actual():
    text = str(check("demo-q1", add_with_ints))
    assert text.startswith("demo-q1 Add two numbers: public tests: 3/5 passed (1.8/3 points)\n")
    assert "  ✗ test 4: input: 2.5, 0.5\n      expected: 3.0\n      actual:   2\n" in text
    assert "✗ test 5: input: 'a', 'b'" in text
    assert "actual:   raised ValueError: invalid literal for int()" in text
    assert "in add_with_ints, line" in text  # where in the learner's code
    assert "test 1" not in text  # passing tests are not listed
    for test_code in ("Case(", "args=", "expected=", "bank_demo", "assert"):
        assert test_code not in text
    assert text.endswith(HIDDEN_NOTE)


def test_check_stub_reads_not_answered_yet():
    text = str(check("demo-q1", add_stub))
    assert "public tests: 0/5 passed (0/3 points)" in text
    assert "not answered yet" in text
    assert "Traceback" not in text and "NotImplementedError()` in add" in text


def test_check_stops_a_looping_test_and_skips_the_rest_of_that_question():
    handler_before = signal.getsignal(signal.SIGALRM)
    report = check("demo-q2", is_even_loops_on_seven, timeout=0.5)
    assert "public tests: 3/5 passed" in str(report)  # tests 1-3 pass, 4 loops, 5 is not run
    assert "✗ test 4: input: 7" in str(report)
    assert "did not finish within 0.5 s" in str(report)
    assert "✗ test 5: input: -4" in str(report)
    assert "not run: an earlier test of this question did not finish in time" in str(report)
    assert signal.getsignal(signal.SIGALRM) is handler_before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_check_expected_exceptions():
    assert "public tests: 4/4 passed" in str(check("demo-q3", parse_port))

    def never_raises(text):
        return -1

    text = str(check("demo-q3", never_raises))
    assert "public tests: 0/4 passed" in text
    assert "expected: raises ValueError with 'port' in its message\n      actual:   returned -1" in text

    def wrong_message(text):
        if not text.isdigit() or int(text) > 65535:
            raise ValueError("nope")
        return int(text)

    assert "public tests: 2/4 passed" in str(check("demo-q3", wrong_message))

    def wrong_type(text):
        if not text.isdigit():
            raise TypeError("not a port")
        return int(text)

    text = str(check("demo-q3", wrong_type))
    assert "public tests: 2/4 passed" in text
    assert "actual:   raised TypeError: not a port" in text


def test_unexpected_exception_is_a_failed_test_not_a_crash():
    def divide_by_zero(a, b):
        return a / 0

    text = str(check("demo-q1", divide_by_zero))
    assert "public tests: 0/5 passed" in text
    assert "raised ZeroDivisionError: division by zero (in divide_by_zero, line" in text


def test_check_output_is_deterministic():
    def returns_object(a, b):
        return object()

    first, second = str(check("demo-q1", returns_object)), str(check("demo-q1", returns_object))
    assert first == second
    assert "0x" not in first
    assert "actual:   <object object>" in first


def test_check_reports_unusable_answers():
    assert "got None instead of add" in str(check("demo-q1", None))
    text = str(check("demo-q1", add(1, 2)))
    assert "got int 3 instead of add: pass add itself, without calling it" in text
    assert "0/5 passed" in text


def test_check_caps_printed_output():
    def chatty(a, b):
        for number in range(10_000):
            print("line", number)
        return None

    text = str(check("demo-q1", chatty))
    assert text.count("line 0") == 5  # once per failing test shown
    assert "line 4" not in text
    assert "... (more output not shown)" in text
    assert len(text) < 3000


def test_check_never_raises_for_broken_results():
    class Weird:
        def __eq__(self, other):
            raise RuntimeError("no comparing")

        def __repr__(self):
            raise RuntimeError("no repr")

    text = str(check("demo-q1", lambda a, b: Weird()))
    assert "0/5 passed" in text
    assert "comparing it raised RuntimeError" in text
    assert "repr() raised RuntimeError" in text

    def exits(a, b):
        sys.exit(3)

    assert "raised SystemExit: 3" in str(check("demo-q1", exits))


def test_check_class_answer_with_custom_driver():
    class Counter:
        def __init__(self):
            self.value = 0

        def increment(self):
            self.value += 1

    assert "public tests: 2/2 passed (2/2 points)" in str(check("demo-q4", Counter))

    class StuckCounter(Counter):
        def increment(self):
            pass

    text = str(check("demo-q4", StuckCounter))
    assert "✗ test 2: input: c = Counter(); c.increment(); c.increment(); c.value" in text
    assert "expected: 2\n      actual:   0" in text


def test_answer_mutating_its_input_does_not_change_the_case():
    case = Case(args=([3, 1, 2],), expected=[1, 2, 3])

    def sorts_in_place(items):
        items.sort()
        return items

    assert run_case(sorts_in_place, case).passed
    assert case.args == ([3, 1, 2],)


def test_check_shows_text_in_jupyter():
    report = check("demo-q1", add)
    assert report._repr_mimebundle_() == {"text/plain": str(report)}
    assert repr(report) == str(report)


def test_unknown_question_id_lists_known_ids():
    with pytest.raises(KeyError) as info:
        check("demo-q9", add)
    assert isinstance(info.value, UnknownQuestion)
    assert "unknown question id 'demo-q9'" in str(info.value)
    assert "demo-q1, demo-q2, demo-q3, demo-q4" in str(info.value)


def test_case_and_question_validation():
    with pytest.raises(ValueError, match="show="):
        Case(call=lambda answer: answer())
    with pytest.raises(ValueError, match="NotImplementedError"):
        Case(raises=NotImplementedError)
    with pytest.raises(TypeError, match="tuple"):
        Case(args=5)
    with pytest.raises(ValueError, match="at least one"):
        Question("x-q1", "X", "x", 1, [], "lab-x")


def test_inputs_are_shortened():
    case = Case(args=("x" * 1000,), kwargs={"flag": True})
    shown = case.shown_input()
    assert len(shown) <= 300 and shown.endswith(" ...")
    assert Case(args=(1,), kwargs={"b": 2}).shown_input() == "1, b=2"


def test_time_limit_restores_previous_timer():
    handler_before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(TestTimeout):
        with time_limit(0.2):
            while True:
                pass
    assert signal.getsignal(signal.SIGALRM) is handler_before
    with time_limit(0.2) as active:
        assert active
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_registry_and_bank_table():
    assert [question.id for question in questions_for_lab("lab-demo")] == ["demo-q1", "demo-q2", "demo-q3", "demo-q4"]
    assert banks()["lab-demo"] == "bank_demo"
    assert banks()["lab-10.1-events"] == "course_lib.grading.bank_lab_10_1"
    register(Question("other-q1", "Other", "other", 1, [Case(args=(1,), expected=1)], "lab-other"))
    assert [question.id for question in questions_for_lab("lab-other")] == ["other-q1"]
    with pytest.raises(UnknownLab, match="lab-nowhere"):
        questions_for_lab("lab-nowhere")


def test_missing_bank_module_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_GRADING_BANKS", "lab-ghost=no_such_bank_module")
    with pytest.raises(UnknownLab, match="could not import no_such_bank_module"):
        questions_for_lab("lab-ghost")


# --- hidden tests --------------------------------------------------------


def write_hidden(folder: Path, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "lab-demo.py").write_text("from course_lib.grading import Case\n\n" + body)
    return folder


HIDDEN_BODY = """HIDDEN = {
    "demo-q1": [Case(args=(123456789, 987654321), expected=1111111110)],
    "demo-q2": [Case(args=(10**12 + 1,), expected=False), Case(args=(-7,), expected=False)],
}
"""


def test_load_hidden(tmp_path):
    hidden = load_hidden(write_hidden(tmp_path / "hidden", HIDDEN_BODY), "lab-demo")
    assert {key: len(cases) for key, cases in hidden.items()} == {"demo-q1": 1, "demo-q2": 2}
    assert load_hidden(tmp_path / "hidden", "lab-other") == {}
    bad = write_hidden(tmp_path / "bad", 'HIDDEN = {"demo-q7": []}\n')
    with pytest.raises(HiddenTestsError, match="demo-q7"):
        load_hidden(bad, "lab-demo")


# --- lab generation ------------------------------------------------------

ADD_SOLUTION = '''def add(a, b):
    """Return a + b."""
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION'''

IS_EVEN_SOLUTION = """def is_even(n):
    ### BEGIN SOLUTION
    return n % 2 == 0
    ### END SOLUTION"""

PARSE_PORT_SOLUTION = """def parse_port(text):
    ### BEGIN SOLUTION
    if not text.isdigit():
        raise ValueError(f"not a port number: {text!r}")
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {port}")
    return port
    ### END SOLUTION"""

COUNTER_SOLUTION = """class Counter:
    def __init__(self):
        ### BEGIN SOLUTION
        self.value = 0
        ### END SOLUTION

    def increment(self):
        ### BEGIN SOLUTION
        self.value += 1
        ### END SOLUTION"""

SOLUTIONS = {
    "demo-q1": ("add", ADD_SOLUTION),
    "demo-q2": ("is_even", IS_EVEN_SOLUTION),
    "demo-q3": ("parse_port", PARSE_PORT_SOLUTION),
    "demo-q4": ("Counter", COUNTER_SOLUTION),
}


def demo_notebook(answers=None, checks=tuple(SOLUTIONS), extra=(), lab_metadata=True):
    """A lab-demo solution notebook; ``answers`` replaces answer cells by question id."""
    answers = answers or {}
    cells = [
        new_markdown_cell("# Demo lab\nWhy is addition commutative?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"),
        new_code_cell("from course_lib.grading import check\nDATA = open('data.txt').read()"),
        *(new_code_cell(source) for source in extra),
    ]
    for question_id, (name, source) in SOLUTIONS.items():
        cells.append(new_code_cell(answers.get(question_id, source)))
        if question_id in checks:
            cells.append(new_code_cell(f'check("{question_id}", {name})'))
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if lab_metadata:
        notebook.metadata["course"] = {"lab": "lab-demo"}
    return notebook


def test_make_lab_replaces_regions_at_their_indentation():
    lab = make_lab(demo_notebook())
    sources = [cell.source for cell in lab.cells]
    assert sources[0] == "# Demo lab\nWhy is addition commutative?\nYOUR ANSWER HERE"
    assert sources[2] == 'def add(a, b):\n    """Return a + b."""\n    raise NotImplementedError()'
    assert "    def __init__(self):\n        raise NotImplementedError()\n\n    def increment" in sources[8]
    joined = "\n".join(sources)
    assert "SOLUTION" not in joined and "return a + b" not in joined and "port out of range" not in joined
    assert 'check("demo-q1", add)' in joined
    assert lab.metadata["course"] == {"lab": "lab-demo"}


def test_make_lab_clears_outputs_and_revealing_metadata():
    solution = demo_notebook()
    solution.cells[2].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "3"}, execution_count=4)]
    solution.cells[2].execution_count = 4
    solution.cells[2].metadata = {
        "tags": ["keep-me"],
        "slideshow": {"slide_type": "slide"},
        "execution": {"iopub.execute_input": "2024-01-01T00:00:00"},
        "scrolled": True,
    }
    solution.cells.append(new_code_cell("assert add(2, 2) == 4", metadata={"tags": ["solution-only"]}))
    lab = make_lab(solution)
    cell = lab.cells[2]
    assert cell.outputs == [] and cell.execution_count is None
    assert dict(cell.metadata) == {"tags": ["keep-me"], "slideshow": {"slide_type": "slide"}}
    assert len(lab.cells) == len(solution.cells) - 1
    assert all("solution-only" not in cell.metadata.get("tags", []) for cell in lab.cells)
    assert solution.cells[2].outputs  # the solution itself is untouched


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n### END SOLUTION", "cell 3, line 2: ### END SOLUTION without"),
        ("def f():\n    ### BEGIN SOLUTION\n    return 1", "cell 3, line 2: ### BEGIN SOLUTION is never closed"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "cell 3, line 2: ### BEGIN SOLUTION inside"),
        ("## BEGIN SOLUTION\nsecret = 1\n### END SOLUTION", "cell 3, line 1: a marker must be a line of its own"),
    ],
)
def test_unbalanced_markers_name_notebook_cell_and_line(source, message):
    notebook = demo_notebook(answers={"demo-q1": source})
    with pytest.raises(SolutionMarkerError) as info:
        make_lab(notebook, name="solutions/demo.ipynb")
    assert str(info.value).startswith("solutions/demo.ipynb: ")
    assert message in str(info.value)


def test_strip_solutions_keeps_text_outside_regions():
    source = "a = 1\n  ### BEGIN SOLUTION\n  b = 2\n  ### END SOLUTION\nc = 3\n"
    assert strip_solutions(source, "raise NotImplementedError()") == "a = 1\n  raise NotImplementedError()\nc = 3\n"


def test_generate_labs_is_deterministic_and_check_detects_stale(tmp_path, capsys):
    solutions, labs = tmp_path / "solutions", tmp_path / "labs"
    solutions.mkdir()
    nbformat.write(demo_notebook(), solutions / "lab-demo.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), solutions / "other.ipynb")

    assert generate_labs(solutions, labs) == [labs / "lab-demo.ipynb", labs / "other.ipynb"]
    first = (labs / "lab-demo.ipynb").read_bytes()
    (labs / "lab-demo.ipynb").unlink()
    generate_labs(solutions, labs)
    assert (labs / "lab-demo.ipynb").read_bytes() == first
    assert b"### BEGIN SOLUTION" not in first
    assert labgen_main([str(solutions), str(labs), "--check"]) == 0

    changed = demo_notebook(answers={"demo-q1": ADD_SOLUTION.replace("a + b", "b + a")})
    changed.cells.insert(1, new_markdown_cell("A new hint."))
    nbformat.write(changed, solutions / "lab-demo.ipynb")
    (labs / "other.ipynb").unlink()
    (labs / "stray.ipynb").write_text("{}")
    capsys.readouterr()
    assert labgen_main([str(solutions), str(labs), "--check"]) == 1
    out = capsys.readouterr().out
    assert f"stale: {labs / 'lab-demo.ipynb'}" in out
    assert f"missing: {labs / 'other.ipynb'}" in out
    assert f"extra: {labs / 'stray.ipynb'}" in out
    assert (labs / "lab-demo.ipynb").read_bytes() == first  # --check writes nothing

    assert labgen_main([str(solutions), str(labs)]) == 0
    assert labgen_main([str(solutions), str(labs), "--check"]) == 1  # stray.ipynb is still there
    (labs / "stray.ipynb").unlink()
    assert labgen_main([str(solutions), str(labs), "--check"]) == 0


def test_labgen_reports_bad_markers_without_writing(tmp_path, capsys):
    solutions, labs = tmp_path / "solutions", tmp_path / "labs"
    solutions.mkdir()
    nbformat.write(demo_notebook(answers={"demo-q2": "### BEGIN SOLUTION\nx = 1"}), solutions / "bad.ipynb")
    assert labgen_main([str(solutions), str(labs)]) == 1
    assert "bad.ipynb: cell 5, line 1: ### BEGIN SOLUTION is never closed" in capsys.readouterr().err
    assert not labs.exists()


def test_labgen_command_line(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(demo_notebook(), solutions / "lab-demo.ipynb")
    command = [sys.executable, "-m", "course_lib.grading.labgen", str(solutions), str(tmp_path / "labs")]
    written = subprocess.run(command, capture_output=True, text=True)
    assert written.returncode == 0 and written.stderr == ""
    assert subprocess.run([*command, "--check"], capture_output=True, text=True).returncode == 0
    missing = [*command[:-2], str(tmp_path / "nope"), str(tmp_path / "labs")]
    assert subprocess.run(missing, capture_output=True).returncode == 2


# --- grading without a kernel ----------------------------------------------


def test_files_that_are_not_notebooks_score_zero(tmp_path):
    texts = {"notes.ipynb": "this is plain text", "empty.ipynb": "", "dict.ipynb": "{}", "binary.ipynb": b"\xff\xfe"}
    for name, content in texts.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    results = {result.path.name: result for result in grade_paths([tmp_path])}
    assert results["notes.ipynb"].message == "not a Jupyter notebook: Expecting value: line 1 column 1 (char 0)"
    assert results["dict.ipynb"].message == "not a Jupyter notebook: JSON without an nbformat version"
    assert results["binary.ipynb"].message == "not a Jupyter notebook: the file is not UTF-8 text"
    assert all(result.score == 0 and result.grades == [] for result in results.values())


def test_notebook_without_lab_or_checks(tmp_path):
    path = tmp_path / "random.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print('hello')")]), path)
    result = grade_notebook(path)
    assert result.message == NO_QUESTIONS and result.score == 0


def test_lab_comes_from_metadata_or_check_calls(tmp_path, monkeypatch):
    from course_lib.grading.grader import find_lab

    assert find_lab(demo_notebook()) == "lab-demo"
    assert find_lab(demo_notebook(lab_metadata=False)) == "lab-demo"  # from check("demo-q1", ...)
    assert find_lab(demo_notebook(lab_metadata=False, checks=())) is None

    monkeypatch.setenv("COURSE_GRADING_BANKS", "lab-ghost=no_such_bank_module")
    ghost = demo_notebook()
    ghost.metadata["course"]["lab"] = "lab-ghost"
    nbformat.write(ghost, tmp_path / "ghost.ipynb")
    result = grade_notebook(tmp_path / "ghost.ipynb")
    assert result.message.startswith("cannot grade: question bank for lab-ghost: could not import no_such_bank_module")
    assert result.score == 0


def test_gradescope_json_shapes():
    grade = QuestionGrade("demo-q1", "Add two numbers", 1.8, 3, "demo-q1 Add two numbers: ...")
    one = NotebookResult(Path("alice.ipynb"), "lab-demo", [grade])
    broken = NotebookResult(Path("bob.ipynb"), message="not a Jupyter notebook: nope")
    unsandboxed = sandbox_of(one)  # "bubblewrap" or "not sandboxed: <why>", whatever this grader says
    single = gradescope_json([one])
    assert single == {
        "score": 1.8,
        "max_score": 3,
        "output": f"lab-demo: 1.8/3 points\n{sandbox_line(unsandboxed)}",
        "tests": [
            {
                "name": "demo-q1 Add two numbers",
                "score": 1.8,
                "max_score": 3,
                "status": "failed",
                "output": "demo-q1 Add two numbers: ...",
                "visibility": "visible",
            }
        ],
        "extra_data": {"notebook": "alice.ipynb", "learner": "alice", "sandbox": unsandboxed},
    }
    several = gradescope_json([one, broken])
    assert [entry["notebook"] for entry in several["submissions"]] == ["alice.ipynb", "bob.ipynb"]
    assert several["submissions"][1] == {
        "notebook": "bob.ipynb",
        "learner": "bob",
        "sandbox": sandbox_of(broken),
        "score": 0,
        "output": f"not a Jupyter notebook: nope\n{sandbox_line(sandbox_of(broken))}",
        "tests": [],
    }


def test_cli_usage_errors(tmp_path, capsys):
    for argv in (
        [str(tmp_path / "missing")],
        [str(tmp_path)],  # a folder without notebooks
        [str(tmp_path), "--timeout", "0"],
    ):
        with pytest.raises(SystemExit) as info:
            grading_main(argv)
        assert info.value.code == 2
    nbformat.write(new_notebook(), tmp_path / "a.ipynb")
    bad_hidden = write_hidden(tmp_path / "hidden", 'HIDDEN = {"demo-q7": [Case(args=(1,), expected=1)]}\n')
    for hidden in (tmp_path / "no-such-folder", bad_hidden):
        with pytest.raises(SystemExit) as info:
            grading_main([str(tmp_path / "a.ipynb"), "--hidden", str(hidden)])
        assert info.value.code == 2
    assert "'demo-q7' is not a question of lab-demo" in capsys.readouterr().err


# --- grading notebooks in kernels --------------------------------------------

WRONG_ADD = "def add(a, b):\n    return a - b"
LOOPING_IS_EVEN = "def is_even(n):\n    while True:\n        pass"
BROKEN_PARSE_PORT = "def parse_port(text):\n    return int(text))"
CRASHING_ADD = "def add(a, b):\n    import os\n    os._exit(1)"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One CLI run over a folder of notebooks, shared by the tests below."""
    root = tmp_path_factory.mktemp("grading")
    submissions = root / "submissions"
    submissions.mkdir()
    (submissions / "data.txt").write_text("read from the notebook's folder\n")
    notebooks = {
        "solution": demo_notebook(),
        "lab": make_lab(demo_notebook()),
        "wrong": demo_notebook(answers={"demo-q1": WRONG_ADD}),
        # An answer that loops forever, and a cell that does.
        "loop": demo_notebook(answers={"demo-q2": LOOPING_IS_EVEN}, checks=(), extra=["while True:\n    pass"]),
        "syntax": demo_notebook(answers={"demo-q3": BROKEN_PARSE_PORT}),
        "nocheck": demo_notebook(checks=(), lab_metadata=True),
        # A cell that kills the kernel, and an answer that does when graded.
        "crash": demo_notebook(answers={"demo-q1": CRASHING_ADD}, checks=(), extra=["import os\nos._exit(1)"]),
    }
    for name, notebook in notebooks.items():
        nbformat.write(notebook, submissions / f"{name}.ipynb")
    (submissions / "notes.ipynb").write_text("not a notebook")
    hidden = write_hidden(root / "hidden", HIDDEN_BODY)
    env = {**os.environ, **BANK_ENV}
    command = [sys.executable, "-m", "course_lib.grading", "submissions", "--hidden", str(hidden)]
    command += ["--json", "results.json", "--csv", "grades.csv", "--timeout", "3", "--test-timeout", "0.5"]
    started = time.monotonic()
    process = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - started
    results = json.loads((root / "results.json").read_text())
    by_name = {Path(entry["notebook"]).stem: entry for entry in results["submissions"]}
    with open(root / "grades.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    return {"process": process, "json": by_name, "csv": rows, "elapsed": elapsed, "root": root}


def scores(entry):
    return {test["name"].split()[0]: test["score"] for test in entry["tests"]}


@pytest.mark.notebooks
def test_cli_prints_table_and_exits_zero(graded):
    process = graded["process"]
    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert lines[0].split() == ["learner", "notebook", "demo-q1", "demo-q2", "demo-q3", "demo-q4", "total", "notes"]
    solution_row = next(line for line in lines if line.startswith("solution "))
    assert solution_row.split() == ["solution", "submissions/solution.ipynb", "3", "2", "2", "2", "9/9"]
    notes_row = next(line for line in lines if line.startswith("notes "))
    assert "not a Jupyter notebook: Expecting value" in notes_row
    assert lines[-1].endswith("(8 notebooks)") and ("sandbox: " in lines[-1] or "not sandboxed: " in lines[-1])
    assert re.search(r"^graded 8/8 submissions/\w+\.ipynb \[\w+\]", process.stderr, re.M), process.stderr


@pytest.mark.notebooks
def test_solution_scores_full_marks(graded):
    solution = graded["json"]["solution"]
    assert (solution["score"], solution["max_score"]) == (9, 9)
    assert solution["output"].splitlines()[0] == "lab-demo: 9/9 points"  # no cell errors: data.txt was found
    assert len(solution["output"].splitlines()) == 2  # and the sandbox line
    q1 = solution["tests"][0]
    assert q1["output"] == "demo-q1 Add two numbers: public tests: 5/5 passed, hidden tests: 1/1 passed (3/3 points)"


@pytest.mark.notebooks
def test_generated_lab_scores_zero(graded):
    lab = graded["json"]["lab"]
    assert lab["score"] == 0 and lab["max_score"] == 9
    assert all("not answered yet" in test["output"] for test in lab["tests"])


@pytest.mark.notebooks
def test_wrong_answer_loses_points(graded):
    wrong = graded["json"]["wrong"]
    assert scores(wrong) == {"demo-q1": 0.5, "demo-q2": 2, "demo-q3": 2, "demo-q4": 2}
    output = wrong["tests"][0]["output"]
    assert "public tests: 1/5 passed, hidden tests: 0/1 passed (0.5/3 points)" in output
    assert "✗ test 1: input: 1, 2" in output
    assert "✗ hidden test 1: failed" in output


@pytest.mark.notebooks
def test_hidden_tests_never_show_their_inputs(graded):
    everything = graded["process"].stdout + json.dumps(graded["json"]) + json.dumps(graded["csv"])
    for secret in ("123456789", "1111111110", "1000000000001", "10**12"):
        assert secret not in everything
    assert "hidden tests: 2/2 passed" in graded["json"]["solution"]["tests"][1]["output"]
    assert "hidden tests: 0/2 passed" in graded["json"]["loop"]["tests"][1]["output"]


@pytest.mark.notebooks
def test_endless_loops_cost_only_their_question(graded):
    loop = graded["json"]["loop"]
    assert scores(loop) == {"demo-q1": 3, "demo-q2": 0, "demo-q3": 2, "demo-q4": 2}
    assert "did not finish within 0.5 s" in loop["tests"][1]["output"]
    assert "cell 3 was stopped after 3 s (an endless loop?)" in loop["output"]


@pytest.mark.notebooks
def test_syntax_error_names_the_cell_and_others_are_graded(graded):
    syntax = graded["json"]["syntax"]
    assert scores(syntax) == {"demo-q1": 3, "demo-q2": 2, "demo-q3": 0, "demo-q4": 2}
    output = syntax["tests"][2]["output"]
    assert "`parse_port` is not defined: did the cell that defines it run without errors?" in output
    assert "(cell 7 raised SyntaxError: unmatched ')' (line 2))" in output
    assert "cell 7 raised SyntaxError" in syntax["output"]


@pytest.mark.notebooks
def test_deleted_check_cells_do_not_matter(graded):
    assert graded["json"]["nocheck"]["score"] == 9


@pytest.mark.notebooks
def test_kernel_crashes_cost_only_the_crashing_parts(graded):
    crash = graded["json"]["crash"]
    assert scores(crash) == {"demo-q1": 0, "demo-q2": 2, "demo-q3": 2, "demo-q4": 2}
    assert "the kernel crashed while testing this answer" in crash["tests"][0]["output"]
    assert "cell 3 crashed the kernel; it was skipped" in crash["output"]


@pytest.mark.notebooks
def test_non_notebook_scores_zero_in_the_batch(graded):
    notes = graded["json"]["notes"]
    assert notes == {
        "notebook": "submissions/notes.ipynb",
        "learner": "notes",
        "sandbox": notes["sandbox"],
        "score": 0,
        "output": "not a Jupyter notebook: Expecting value: line 1 column 1 (char 0)\n"
        + sandbox_line(notes["sandbox"]),
        "tests": [],
    }


@pytest.mark.notebooks
def test_json_has_gradescope_shape(graded):
    for entry in graded["json"].values():
        assert set(entry) <= {"notebook", "learner", "sandbox", "score", "max_score", "output", "tests"}
        for test in entry["tests"]:
            assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
            assert test["visibility"] == "visible"
            assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")
            assert 0 <= test["score"] <= test["max_score"]


@pytest.mark.notebooks
def test_csv_has_one_row_per_notebook(graded):
    rows = {Path(row["notebook"]).stem: row for row in graded["csv"]}
    assert set(rows) == {"solution", "lab", "wrong", "loop", "syntax", "nocheck", "crash", "notes"}
    columns = ["demo-q1", "demo-q2", "demo-q3", "demo-q4"]
    assert list(graded["csv"][0]) == ["learner", "name", "notebook", *columns, "total", "max", "status", "sandbox"]
    assert rows["solution"] | {"notebook": "", "sandbox": ""} == {
        "learner": "solution",
        "name": "",
        "notebook": "",
        "sandbox": "",
        "demo-q1": "3",
        "demo-q2": "2",
        "demo-q3": "2",
        "demo-q4": "2",
        "total": "9",
        "max": "9",
        "status": "ok",
    }
    assert rows["notes"]["status"].startswith("not a Jupyter notebook")
    assert rows["notes"]["demo-q1"] == "" and rows["notes"]["total"] == "0"
