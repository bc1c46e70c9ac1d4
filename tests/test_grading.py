"""Tests for course_lib.grading: check, the lab generator and the notebook grader.

The demo question bank lives in tests/grading_fixtures/bank_demo.py (lab
"lab-demo"); the grader finds it through PYTHONPATH and COURSE_GRADING_BANKS,
and binds that one file into its sandboxes. Most notebook-grading tests share
one CLI run over a folder of generated notebooks (module-scoped fixture).
The later sections test the channel, the refusing library parts, weights,
the sandbox's properties (run as nobody, no network, read-only course,
limits, no survivors) and the attacks on the old in-kernel grader.
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
from course_lib.grading import sandbox as sandbox_module
from course_lib.grading.__main__ import main as grading_main
from course_lib.grading.channel import ChannelClosed
from course_lib.grading.feedback import HIDDEN_COUNT
from course_lib.grading.grader import NO_QUESTIONS, NotebookResult, QuestionGrade, grade_notebook, grade_paths
from course_lib.grading.gradebook import gradescope_json, sandbox_line, sandbox_of
from course_lib.grading.hidden import HiddenTestsError, load_hidden
from course_lib.grading.labgen import main as labgen_main
from course_lib.grading.labmaker import SolutionMarkerError, strip_solutions
from course_lib.grading.questions import UnknownLab, UnknownQuestion, banks, questions_for_lab
from course_lib.grading.runner import TestTimeout, run_case, time_limit
from course_lib.grading.sandbox import Launch, Sandbox, SandboxPolicy

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


def test_check_full_marks_mentions_hidden_tests_and_shows_no_points():
    report = check("demo-q1", add)
    assert str(report) == f"demo-q1 Add two numbers: public tests: 5/5 — {HIDDEN_COUNT}"
    assert HIDDEN_COUNT == "hidden tests will also count"
    assert (report.score, report.max_score, report.passed, report.total) == (3, 3, 5, 5)
    assert "all tests passed" not in str(report).lower()
    assert "points" not in str(report)


def test_check_partial_credit_shows_input_expected_actual():
    text = str(check("demo-q1", add_with_ints))
    assert text.startswith(f"demo-q1 Add two numbers: public tests: 3/5 — {HIDDEN_COUNT}\n")
    assert "  ✗ test 4: input: 2.5, 0.5\n      expected: 3.0\n      actual:   2\n" in text
    assert "✗ test 5: input: 'a', 'b'" in text
    assert "actual:   raised ValueError: invalid literal for int()" in text
    assert "in add_with_ints, line" in text  # where in the learner's code
    assert "test 1" not in text  # passing tests are not listed
    for test_code in ("Case(", "args=", "expected=", "bank_demo", "assert", "points"):
        assert test_code not in text


def test_check_stub_reads_not_answered_yet():
    text = str(check("demo-q1", add_stub))
    assert f"public tests: 0/5 — {HIDDEN_COUNT}" in text
    assert "not answered yet" in text
    assert "Traceback" not in text and "NotImplementedError()` in add" in text


def test_check_stops_a_looping_test_and_skips_the_rest_of_that_question():
    handler_before = signal.getsignal(signal.SIGALRM)
    report = check("demo-q2", is_even_loops_on_seven, timeout=0.5)
    assert "public tests: 3/5 —" in str(report)  # tests 1-3 pass, 4 loops, 5 is not run
    assert "✗ test 4: input: 7" in str(report)
    assert "did not finish within 0.5 s" in str(report)
    assert "✗ test 5: input: -4" in str(report)
    assert "not run: an earlier test of this question did not finish in time" in str(report)
    assert signal.getsignal(signal.SIGALRM) is handler_before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_check_expected_exceptions():
    assert "public tests: 4/4 —" in str(check("demo-q3", parse_port))

    def never_raises(text):
        return -1

    text = str(check("demo-q3", never_raises))
    assert "public tests: 0/4 —" in text
    assert "expected: raises ValueError with 'port' in its message\n      actual:   returned -1" in text

    def wrong_message(text):
        if not text.isdigit() or int(text) > 65535:
            raise ValueError("nope")
        return int(text)

    assert "public tests: 2/4 —" in str(check("demo-q3", wrong_message))

    def wrong_type(text):
        if not text.isdigit():
            raise TypeError("not a port")
        return int(text)

    text = str(check("demo-q3", wrong_type))
    assert "public tests: 2/4 —" in text
    assert "actual:   raised TypeError: not a port" in text


def test_unexpected_exception_is_a_failed_test_not_a_crash():
    def divide_by_zero(a, b):
        return a / 0

    text = str(check("demo-q1", divide_by_zero))
    assert "public tests: 0/5 —" in text
    assert "raised ZeroDivisionError: division by zero (in divide_by_zero, line" in text


def test_check_output_is_deterministic():
    def returns_object(a, b):
        return object()

    first, second = str(check("demo-q1", returns_object)), str(check("demo-q1", returns_object))
    assert first == second
    assert "0x" not in first
    assert "actual:   returned <object object>, which is not plain data" in first


def test_check_reports_unusable_answers():
    assert "got None instead of add" in str(check("demo-q1", None))
    text = str(check("demo-q1", add(1, 2)))
    assert "got int 3 instead of add: pass add itself, without calling it" in text
    assert "0/5 —" in text


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
    assert "0/5 —" in text
    assert "repr() raised RuntimeError" in text and "which is not plain data" in text
    explodes = Case(args=(1,), expected=1, compare=lambda actual, expected: 1 / 0)
    assert "comparing it raised ZeroDivisionError" in run_case(lambda x: x, explodes).actual

    def exits(a, b):
        sys.exit(3)

    assert "raised SystemExit: 3" in str(check("demo-q1", exits))


def test_check_class_answer_with_custom_driver():
    class Counter:
        def __init__(self):
            self.value = 0

        def increment(self):
            self.value += 1

    assert "public tests: 2/2 —" in str(check("demo-q4", Counter))

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
        new_code_cell("from course_lib.grading import check"),
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


@pytest.fixture(scope="module", params=["bwrap", "off"], ids=["sandboxed", "unsandboxed"])
def graded(tmp_path_factory, request):
    """One CLI run over a folder of notebooks, shared by the tests below: sandboxed, and not."""
    root = tmp_path_factory.mktemp("grading")
    submissions = root / "submissions"
    submissions.mkdir()
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
    if request.param == "bwrap" and sandbox_module.bwrap_problem() is not None:
        pytest.skip(f"bubblewrap unavailable: {sandbox_module.bwrap_problem()}")
    env = {**os.environ, **BANK_ENV, "COURSE_GRADING_SANDBOX": request.param}
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
    assert solution["output"].splitlines()[0] == "lab-demo: 9/9 points"  # no cell errors
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


# --- the channel: only plain data reaches the judge ----------------------------


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/course-grading-pwned",))


class AlwaysEqual:
    def __eq__(self, other):
        return True


class SneakyInt(int):
    def __eq__(self, other):
        return True


def test_the_whitelist_unpickler_refuses_arbitrary_classes(tmp_path):
    import pickle

    from course_lib.grading.channel import NotPlainData, loads_plain
    from course_lib.log import TopicPartition

    for value in (Evil(), AlwaysEqual(), SneakyInt(3), {"nested": [AlwaysEqual()]}, os.getcwd):
        with pytest.raises(NotPlainData):
            loads_plain(pickle.dumps(value, protocol=4))
    assert not Path("/tmp/course-grading-pwned").exists()  # the payload never ran
    plain = {"a": [1, 2.5, "x", b"y", None, (True, frozenset({3}))], 7: {4, 5}}
    assert loads_plain(pickle.dumps(plain, protocol=4)) == plain
    assert loads_plain(pickle.dumps(TopicPartition("t", 1))) == TopicPartition("t", 1)

    shared: list = []
    for _ in range(40):  # 2**40 values once expanded: refused before anything compares or prints it
        shared = [shared, shared]
    with pytest.raises(NotPlainData, match="more than"):
        loads_plain(pickle.dumps(shared))
    deep: list = []
    for _ in range(150):
        deep = [deep]
    with pytest.raises(NotPlainData, match="nested"):
        loads_plain(pickle.dumps(deep))
    with pytest.raises(NotPlainData):
        loads_plain(b"not a pickle")


def test_check_refuses_values_that_are_not_plain_data():
    text = str(check("demo-q1", lambda a, b: AlwaysEqual()))
    assert "public tests: 0/5 —" in text and "which is not plain data" in text
    assert "public tests: 0/5 —" in str(check("demo-q1", lambda a, b: SneakyInt(a + b)))


# --- library parts a question asks for ------------------------------------------


def test_check_refuses_the_part_a_question_asks_for_and_puts_it_back():
    import bank_demo

    text = str(check("demo-q1", lambda a, b: bank_demo.reference_add(a, b)))
    assert "this question asks you to write add yourself: bank_demo.reference_add is off limits for it" in text

    def hides_it(a, b):
        try:
            return bank_demo.reference_add(a, b)
        except BaseException:
            return a + b

    assert "is off limits for it" in str(check("demo-q1", hides_it))  # caught or not, it was used
    assert bank_demo.reference_add(2, 3) == 5  # restored after check


def test_stubs_reach_aliases_and_methods():
    from course_lib.dynamo import VectorClock
    from course_lib.grading.references import ReferenceUnavailable, refusing, take_hits
    from course_lib.log import partition_for as alias

    with refusing(["course_lib.log.partitioner.partition_for", "course_lib.dynamo.VectorClock", "no.such.part"]) as done:
        with pytest.raises(ReferenceUnavailable, match="partition_for is off limits"):
            alias(b"key", 3)
        with pytest.raises(ReferenceUnavailable):
            VectorClock({"a": 1})
        assert done.missing == ["no.such.part"]
        assert take_hits() == {"course_lib.log.partitioner.partition_for", "course_lib.dynamo.VectorClock"}
    assert alias(b"key", 3) == alias(b"key", 3) and VectorClock({"a": 1}).counters == {"a": 1}


# --- weights --------------------------------------------------------------------


def test_case_weights_and_hidden_file_weights(tmp_path):
    from course_lib.grading.runner import run_question

    question = Question(
        "w-q1", "Weighted", "f", 4, [Case(args=(1,), expected=1), Case(args=(2,), expected=2, weight=3)], "lab-w"
    )
    assert run_question(question, lambda x: 1).score == 1.0  # passes the weight-1 case only
    assert run_question(question, lambda x: x).score == 4.0
    with pytest.raises(ValueError, match="weight"):
        Case(weight=0)

    folder = write_hidden(
        tmp_path / "hidden",
        'WEIGHT = {"demo-q1": 4}\n'
        'HIDDEN = {"demo-q1": [Case(args=(5, 5), expected=10), Case(args=(1, 1), expected=2, weight=1)],\n'
        '          "demo-q2": [Case(args=(9,), expected=False)]}\n',
    )
    hidden = load_hidden(folder, "lab-demo")
    assert [case.share for case in hidden["demo-q1"]] == [4.0, 1.0]
    assert [case.share for case in hidden["demo-q2"]] == [1.0]
    bad = write_hidden(tmp_path / "bad", 'WEIGHT = {"demo-q1": -1}\nHIDDEN = {}\n')
    with pytest.raises(HiddenTestsError, match="WEIGHT"):
        load_hidden(bad, "lab-demo")


def test_hidden_drivers_must_be_public_code(tmp_path):
    folder = write_hidden(
        tmp_path / "ok",
        "import functools\nimport bank_demo\n"
        'HIDDEN = {"demo-q4": [Case(call=bank_demo.count_twice, show="x", expected=2),\n'
        '                      Case(call=functools.partial(bank_demo.count_n, 5), show="y", expected=5)]}\n',
    )
    assert len(load_hidden(folder, "lab-demo")["demo-q4"]) == 2
    for body in (
        'HIDDEN = {"demo-q4": [Case(call=lambda Counter: 0, show="x", expected=0)]}\n',
        'def drive(Counter):\n    return 0\nHIDDEN = {"demo-q4": [Case(call=drive, show="x", expected=0)]}\n',
    ):
        with pytest.raises(HiddenTestsError, match="call="):
            load_hidden(write_hidden(tmp_path / "bad", body), "lab-demo")


# --- the sandbox ------------------------------------------------------------------


needs_bwrap = pytest.mark.skipif(
    sandbox_module.bwrap_problem() is not None, reason=f"bubblewrap unavailable: {sandbox_module.bwrap_problem()}"
)
SMALL = SandboxPolicy(memory_bytes=1024**3, cpu_seconds=60, processes=32, file_bytes=1024**2)


def run_cells(cells, policy=SMALL, during=None, timeout=10.0):
    """Run cells in a fresh sandbox; returns (status, error) per cell. ``during(box)`` runs before it ends."""
    launch = Launch(policy, sandboxed=True, extra_modules=[FIXTURES / "bank_demo.py"], env={"COURSE_GRADING_BANKS": "lab-demo=bank_demo"})
    replies = []
    with Sandbox(launch, "probe.ipynb", b"{}") as box:
        deadline = time.monotonic() + 60
        box.send({"op": "start", "lab": "lab-demo", "writes": []}, deadline)
        assert box.receive(deadline)["error"] is None
        for index, source in enumerate(cells):
            box.send({"op": "cell", "index": index, "source": source, "timeout": timeout}, time.monotonic() + 30)
            reply = box.receive(time.monotonic() + timeout + 30)
            replies.append((reply["status"], reply["error"]))
        if during is not None:
            during(box)
    return replies


@needs_bwrap
def test_sandbox_runs_as_nobody_in_its_own_pid_namespace():
    outside = os.getpid()
    replies = run_cells(
        [
            "import os\nassert (os.getuid(), os.getgid()) == (65534, 65534), (os.getuid(), os.getgid())",
            f"pids = [p for p in os.listdir('/proc') if p.isdigit()]\nassert '{outside}' not in pids and len(pids) < 10, pids",
            "assert os.getcwd() == '/submission' and os.listdir('.') == ['probe.ipynb'], os.listdir('.')",
        ]
    )
    assert replies == [("ok", "")] * 3


@needs_bwrap
def test_sandbox_has_no_network():
    import socket

    cell = (
        "import socket\ns = socket.socket()\ns.settimeout(3)\n"
        "try:\n    s.connect(('127.0.0.1', 6379))\nexcept OSError as error:\n    print(error)\n"
        "else:\n    raise AssertionError('connected to 127.0.0.1:6379')"
    )
    assert run_cells([cell]) == [("ok", "")]
    with socket.socket() as probe:  # outside, the port answers (when Redis runs), so the test means something
        probe.settimeout(1)
        reachable = probe.connect_ex(("127.0.0.1", 6379)) == 0
    if not reachable:
        pytest.skip("nothing listens on 127.0.0.1:6379 outside the sandbox")


@needs_bwrap
def test_sandbox_cannot_write_outside_its_work_folder_nor_see_hidden_files(tmp_path):
    import course_lib

    secret = tmp_path / "hidden" / "lab-demo.py"
    secret.parent.mkdir()
    secret.write_text("HIDDEN = {}  # canary-7f3a\n")
    targets = [
        "/usr/course-grading-test",
        "/etc/passwd",
        str(Path(course_lib.__file__).parent / "pwned.py"),
        str(Path(sys.prefix) / "pwned.txt"),
        str(tmp_path / "pwned.txt"),
        str(Path(__file__).parent / "pwned.txt"),
    ]
    # Inside the sandbox /tmp is a private tmpfs: a path under the host's /tmp (pytest's
    # tmp_path; the checkout itself when CI clones into /tmp) may be writable *there*, which
    # harms nothing. For those the check is on the host, after the run.
    cells = [
        f"import os\nfor target in {targets!r}:\n"
        "    try:\n        open(target, 'a').close()\n    except OSError:\n        continue\n"
        "    if not target.startswith('/tmp/'):\n"
        "        raise AssertionError('wrote ' + target)",
        f"assert not os.path.exists({str(secret)!r}) and not os.path.exists({str(tmp_path)!r})",
        f"assert not os.path.exists({str(Path(__file__).parents[1] / 'solutions')!r})",
        "open('mine.txt', 'w').write('fine')\nopen('/tmp/scratch', 'w').write('fine')",
    ]
    assert run_cells(cells) == [("ok", "")] * 4
    for target in targets[2:]:
        assert not Path(target).exists(), f"the sandbox wrote {target} on the host"


@needs_bwrap
def test_a_secret_folder_inside_a_bound_folder_is_covered(tmp_path):
    package = tmp_path / "shelf" / "my_banks"
    (package / "secret").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "secret" / "lab-demo.py").write_text("HIDDEN = {}")
    launch = Launch(SMALL, sandboxed=True, extra_modules=[package], hide=[package / "secret"])
    with Sandbox(launch, "probe.ipynb", b"{}") as box:
        deadline = time.monotonic() + 60
        box.send({"op": "start", "lab": "lab-10.1-events", "writes": []}, deadline)
        assert box.receive(deadline)["error"] is None
        cell = f"import my_banks, os\nassert os.listdir({str(package / 'secret')!r}) == []"
        box.send({"op": "cell", "index": 0, "source": cell, "timeout": 5}, deadline)
        assert box.receive(deadline)["status"] == "ok"


@needs_bwrap
def test_sandbox_limits_stop_a_fork_bomb_a_memory_hog_and_big_files():
    replies = run_cells(
        [
            # children that wait: the process limit stops the parent long before 1000
            "import os, time\nchildren = 0\ntry:\n    while children < 1000:\n        if os.fork() == 0:\n"
            "            time.sleep(60)\n            os._exit(0)\n        children += 1\nexcept OSError:\n    pass\n"
            "assert children < 40, children",
            "import os\nwhile True:\n    os.fork()",  # the classic fork bomb
            "hog = bytearray(3 * 1024**3)",
            "hog = [bytearray(100 * 1024**2) for _ in range(30)]",
            "open('big.bin', 'wb').write(b'x' * 2 * 1024**2)",
            "still = 'alive'",
        ]
    )
    assert replies[0] == ("ok", "")
    assert replies[1][0] == "error" and "BlockingIOError" in replies[1][1]
    assert replies[2] == ("error", "MemoryError") and replies[3] == ("error", "MemoryError")
    assert replies[4][0] == "error" and "File too large" in replies[4][1]
    assert replies[5] == ("ok", "")


@needs_bwrap
def test_sandbox_cpu_limit_kills_a_busy_process():
    with pytest.raises(ChannelClosed):
        run_cells(["while True:\n    pass"], policy=SandboxPolicy(cpu_seconds=1), timeout=30)


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@needs_bwrap
def test_a_detached_child_is_dead_after_the_run():
    token = f"course-grading-detached-{os.getpid()}-{time.monotonic_ns()}"
    spawn = (
        "import subprocess, sys, os\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', {token!r}], start_new_session=True,"
        " stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(120)', {token!r}])\n"
        "    os._exit(0)"
    )
    seen_during = []

    def look(box):
        for _ in range(50):
            if len(_processes_with(token)) >= 2:
                break
            time.sleep(0.1)
        seen_during.extend(_processes_with(token))

    assert run_cells([spawn], during=look) == [("ok", "")]
    assert len(seen_during) >= 2  # both children really ran, outside the runner's process group
    for _ in range(50):
        if not _processes_with(token):
            break
        time.sleep(0.1)
    assert _processes_with(token) == []


# --- grading through the sandbox: attacks on the old in-kernel grader -----------------


def grade_demo(tmp_path, answers, hidden_body=None, **kwargs):
    notebook = demo_notebook(answers=answers, checks=())
    path = tmp_path / "submission.ipynb"
    nbformat.write(notebook, path)
    hidden = write_hidden(tmp_path / "hidden", hidden_body) if hidden_body else None
    return grade_notebook(path, hidden, timeout=5, test_timeout=1, **kwargs)


@needs_bwrap
def test_grading_runs_sandboxed_and_solutions_score_full_marks(tmp_path):
    result = grade_demo(tmp_path, {})
    assert result.sandbox == "bubblewrap"
    assert (result.score, result.max_score, result.status) == (9, 9, "ok")


def test_unsandboxed_grading_works_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_GRADING_SANDBOX", "off")
    result = grade_demo(tmp_path, {})
    assert result.sandbox == "not sandboxed: COURSE_GRADING_SANDBOX=off"
    assert (result.score, result.max_score) == (9, 9)

    monkeypatch.setenv("COURSE_GRADING_SANDBOX", "auto")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bwrap-here"))
    sandbox_module._bwrap_problem.cache_clear()
    try:
        result = grade_demo(tmp_path, {"demo-q1": WRONG_ADD})
        assert result.sandbox == "not sandboxed: bubblewrap (bwrap) is not installed"
        assert result.score == pytest.approx(6.6)
        monkeypatch.setenv("COURSE_GRADING_SANDBOX", "bwrap")
        refused = grade_demo(tmp_path, {})
        assert refused.score == 0 and refused.message.startswith("cannot grade: COURSE_GRADING_SANDBOX=bwrap but")
    finally:
        sandbox_module._bwrap_problem.cache_clear()


ALWAYS_EQUAL_ADD = """class Anything:
    def __eq__(self, other):
        return True
    def __repr__(self):
        return '3'
def add(a, b):
    return Anything()"""

SNEAKY_IS_EVEN = """class Yes(int):
    def __eq__(self, other):
        return True
def is_even(n):
    return Yes(1)"""

PATCHING_CELL = """import course_lib.grading.runner as runner, course_lib.grading.judge as judge
runner.judge_outcome = lambda case, outcome, timeout: runner.CaseResult(True, '', '', '')
judge.Judge.judge = lambda self: None"""


@needs_bwrap
def test_always_equal_results_and_a_patched_grader_score_nothing(tmp_path):
    result = grade_demo(tmp_path, {"demo-q1": ALWAYS_EQUAL_ADD, "demo-q2": SNEAKY_IS_EVEN})
    grades = {grade.id: grade for grade in result.grades}
    assert grades["demo-q1"].score == 0 and "which is not plain data" in grades["demo-q1"].output
    assert grades["demo-q2"].score == 0
    notebook = make_lab(demo_notebook(checks=()))
    notebook.cells.insert(1, new_code_cell(PATCHING_CELL))
    nbformat.write(notebook, tmp_path / "patcher.ipynb")
    patched = grade_notebook(tmp_path / "patcher.ipynb", timeout=5, test_timeout=1)
    assert patched.score == 0 and patched.status == "ok"


@needs_bwrap
def test_an_answer_leaning_on_the_part_it_should_write_scores_zero(tmp_path):
    leaning = "from bank_demo import reference_add as helper\ndef add(a, b):\n    return helper(a, b)"
    result = grade_demo(tmp_path, {"demo-q1": leaning})
    grades = {grade.id: grade for grade in result.grades}
    assert grades["demo-q1"].score == 0
    assert "this question asks you to write add yourself: bank_demo.reference_add is off limits for it" in grades["demo-q1"].output
    assert result.score == 6  # the other questions are untouched
    # The stubs are in place before the first cell: a table computed with the part is no way round.
    in_a_cell = (
        "import bank_demo\n"
        "TABLE = {(a, b): bank_demo.reference_add(a, b) for a, b in [(1, 2), (-1, 1), (0, 0), (2.5, 0.5), ('a', 'b')]}"
    )
    result = grade_notebook_with_extra(tmp_path, in_a_cell, {"demo-q1": "def add(a, b):\n    return TABLE[a, b]"})
    assert [grade.score for grade in result.grades] == [0, 2, 2, 2]
    assert "NameError: name 'TABLE' is not defined" in result.grades[0].output


def grade_notebook_with_extra(tmp_path, cell, answers=None):
    notebook = demo_notebook(answers=answers, checks=(), extra=[cell])
    nbformat.write(notebook, tmp_path / "extra.ipynb")
    return grade_notebook(tmp_path / "extra.ipynb", timeout=5, test_timeout=1)


HIDDEN_CANARY = """HIDDEN = {
    "demo-q1": [Case(args=(424242, 1), expected=424243, weight=4)],
    "demo-q4": [Case(call=__import__("functools").partial(__import__("bank_demo").count_n, 5), show="x", expected=5)],
}
"""

STASHING = {
    # add remembers every input; is_even and parse_port then try to show them to the learner
    "demo-q1": "SEEN = []\ndef add(a, b):\n    SEEN.append((a, b))\n    print('inputs', SEEN)\n    raise ValueError(f'seen {SEEN}')",
    "demo-q2": "def is_even(n):\n    raise ValueError(f'seen {SEEN}')",
    "demo-q3": "def parse_port(text):\n    return str(SEEN)",
}


@needs_bwrap
def test_hidden_inputs_never_come_back_and_hidden_weights_count(tmp_path):
    result = grade_demo(tmp_path, STASHING, HIDDEN_CANARY)
    everything = json.dumps([grade.output for grade in result.grades]) + json.dumps(result.notes) + result.message
    assert "424242" not in everything and "424243" not in everything
    assert "seen [(1, 2)" in everything  # public inputs may be shown: they are public
    solved = grade_demo(tmp_path, {}, HIDDEN_CANARY)
    assert solved.score == 9 and "hidden tests: 1/1 passed" in solved.grades[3].output
    wrong = grade_demo(tmp_path, {"demo-q1": WRONG_ADD}, HIDDEN_CANARY)
    assert wrong.grades[0].score == pytest.approx(3 * 1 / (5 + 4))  # 1 of 5 public, the weight-4 hidden case failed


@needs_bwrap
def test_grade_notebook_is_safe_from_several_threads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    paths = []
    for name, answers in {"a": {}, "b": {"demo-q1": WRONG_ADD}, "c": {}, "d": {"demo-q2": LOOPING_IS_EVEN}}.items():
        folder = tmp_path / name
        folder.mkdir()
        nbformat.write(demo_notebook(answers=answers, checks=()), folder / "lab.ipynb")
        paths.append(folder / "lab.ipynb")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda path: grade_notebook(path, timeout=5, test_timeout=0.5), paths))
    assert [result.score for result in results] == pytest.approx([9, 6.6, 9, 7])
    assert all(result.sandbox == "bubblewrap" for result in results)


@needs_bwrap
def test_a_huge_result_is_refused_not_sent(tmp_path):
    result = grade_demo(tmp_path, {"demo-q1": "def add(a, b):\n    return 'x' * (20 * 1024**2)"})
    assert result.grades[0].score == 0 and "bytes (the grader accepts up to" in result.grades[0].output
    assert result.score == 6 and result.status == "ok"


@needs_bwrap
def test_a_time_budget_bounds_the_whole_notebook(tmp_path):
    notebook = demo_notebook(checks=(), extra=["import time\ntime.sleep(30)"])
    nbformat.write(notebook, tmp_path / "slow.ipynb")
    started = time.monotonic()
    result = grade_notebook(tmp_path / "slow.ipynb", timeout=20, budget=1.5)
    assert time.monotonic() - started < 10
    assert result.message == "the notebook's time budget of 1.5 s ran out"
    assert result.score == 0 and all("time budget" in grade.output for grade in result.grades)


@needs_bwrap
def test_the_sandbox_line_says_when_processes_cannot_be_limited(monkeypatch):
    assert sandbox_module.choose() == (True, "bubblewrap")
    if os.geteuid() != 0:
        pytest.skip("only root needs a pids cgroup to limit processes")
    monkeypatch.setattr(sandbox_module, "_pids_parent", lambda: None)
    sandboxed, line = sandbox_module.choose()
    assert sandboxed and line == "bubblewrap (processes not limited: running as root without a writable pids cgroup)"


@needs_bwrap
def test_a_request_the_runner_cannot_serve_gets_an_error_reply_not_a_crash():
    def ask(box):
        deadline = time.monotonic() + 30
        box.send({"op": "case", "question": "nope-q1", "public": 0, "hidden": None, "timeout": 1}, deadline)
        reply = box.receive(deadline)
        assert reply["op"] == "error" and "nope-q1" in reply["text"]
        box.send({"op": "cell", "index": 1, "source": "x = 1", "timeout": 5}, deadline)
        assert box.receive(deadline)["status"] == "ok"  # still serving

    assert run_cells(["y = 2"], during=ask) == [("ok", "")]
