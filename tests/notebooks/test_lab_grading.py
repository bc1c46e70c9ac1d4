"""The grader on the real labs: solutions full marks, generated labs zero, failures contained.

One command-line run grades a whole batch, as an instructor would: the solution, the
generated lab, a copy whose answer loops forever, a copy with a syntax error, and a
file that is not a notebook. Every run here requires the sandbox
(COURSE_GRADING_SANDBOX=bwrap): if bubblewrap cannot run, grading fails instead of
quietly running unsandboxed.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab-10.1-events.ipynb"
SANDBOXED = {**os.environ, "COURSE_GRADING_SANDBOX": "bwrap"}


def _replace_in_answer(nb, answer_name: str, new_body: str) -> None:
    """Replace the function `answer_name` in the notebook with `new_body`."""
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith(f"def {answer_name}("):
            cell.source = new_body
            return
    raise AssertionError(f"no cell defines {answer_name}")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    shutil.copy(ROOT / "solutions" / LAB, folder / "alice-solution.ipynb")
    shutil.copy(ROOT / "labs" / LAB, folder / "bob-untouched-lab.ipynb")

    looping = nbformat.read(ROOT / "solutions" / LAB, as_version=4)
    _replace_in_answer(looping, "causal_chain",
                       "def causal_chain(events, event_id):\n    while True:\n        pass\n")
    nbformat.write(looping, folder / "carol-endless-loop.ipynb")

    broken = nbformat.read(ROOT / "solutions" / LAB, as_version=4)
    _replace_in_answer(broken, "follow_up", "def follow_up(parent, event_type, payload, *, event_id:\n    return {}\n")
    nbformat.write(broken, folder / "dave-syntax-error.ipynb")

    (folder / "erin-not-a-notebook.ipynb").write_text("I could not get Jupyter to work, sorry\n")

    json_path, csv_path = folder / "results.json", folder / "grades.csv"
    run = subprocess.run(
        [sys.executable, "-m", "course_lib.grading", str(folder), "--json", str(json_path),
         "--csv", str(csv_path), "--timeout", "20", "--test-timeout", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=SANDBOXED,
    )
    results = {Path(s["notebook"]).name: s for s in json.loads(json_path.read_text())["submissions"]}
    rows = {Path(r["notebook"]).name: r for r in csv.DictReader(csv_path.open())}
    return run, results, rows


def _scores(submission) -> dict[str, float]:
    return {t["name"].split()[0]: t["score"] for t in submission["tests"]}


def test_the_batch_finishes_and_prints_a_table(batch):
    run, results, rows = batch
    assert run.returncode == 0, run.stderr
    assert len(results) == len(rows) == 5
    for name in results:
        assert name in run.stdout


def test_the_solution_scores_full_marks(batch):
    _, results, _ = batch
    alice = results["alice-solution.ipynb"]
    assert alice["score"] == alice["max_score"] == 10


def test_the_generated_lab_scores_zero(batch):
    _, results, _ = batch
    bob = results["bob-untouched-lab.ipynb"]
    assert bob["score"] == 0 and bob["max_score"] == 10
    assert "not answered yet" in json.dumps(bob)


def test_an_endless_loop_costs_only_its_own_question(batch):
    _, results, _ = batch
    carol = results["carol-endless-loop.ipynb"]
    assert _scores(carol) == {"10.1-q1": 4, "10.1-q2": 3, "10.1-q3": 0}


def test_a_syntax_error_is_named_and_the_other_questions_still_count(batch):
    _, results, _ = batch
    dave = results["dave-syntax-error.ipynb"]
    assert _scores(dave) == {"10.1-q1": 4, "10.1-q2": 0, "10.1-q3": 3}
    assert "SyntaxError" in json.dumps(dave)


def test_a_file_that_is_not_a_notebook_gets_a_clear_message_and_zero(batch):
    _, results, rows = batch
    erin = results["erin-not-a-notebook.ipynb"]
    assert erin["score"] == 0
    assert "not a Jupyter notebook" in erin["output"]
    assert "not a Jupyter notebook" in rows["erin-not-a-notebook.ipynb"]["status"]


@pytest.fixture(scope="module")
def every_lab(tmp_path_factory):
    """One grader run over every solution and every generated lab on disk."""
    folder = tmp_path_factory.mktemp("all-labs")
    solutions = sorted((ROOT / "solutions").glob("*.ipynb"))
    for path in solutions:
        shutil.copy(path, folder / f"solution-{path.name}")
        shutil.copy(ROOT / "labs" / path.name, folder / f"lab-copy-{path.name}")
    json_path = folder / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "course_lib.grading", str(folder), "--json", str(json_path),
         "--timeout", "60", "--test-timeout", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, env=SANDBOXED,
    )
    assert run.returncode == 0, run.stderr
    results = {Path(s["notebook"]).name: s for s in json.loads(json_path.read_text())["submissions"]}
    return [path.name for path in solutions], results


def test_every_solution_scores_full_marks_and_every_generated_lab_zero(every_lab):
    names, results = every_lab
    assert len(names) >= 10
    for name in names:
        solved, untouched = results[f"solution-{name}"], results[f"lab-copy-{name}"]
        assert solved["max_score"] > 0, f"{name}: no graded questions found"
        assert solved["score"] == solved["max_score"], f"{name}: {solved['output']}"
        assert untouched["score"] == 0, f"{name}: {untouched['output']}"
        assert untouched["max_score"] == solved["max_score"], name
