"""Grading a class: layouts and learner ids, the journal and resuming, Ctrl-C, the time budget.

The notebooks graded here are the real lab 10.1 (solution and blank lab), which
grade in about a second each, whatever grader (plain kernel or sandbox) is in use.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from course_lib.grading.batch import (
    JOURNAL_NAME,
    Journal,
    Options,
    batch_fingerprint,
    default_jobs,
    descendants,
    kill_tree,
    notebook_key,
    stopped_result,
)
from course_lib.grading.gradebook import (
    SANDBOX_UNKNOWN,
    Graded,
    format_table,
    from_record,
    gradescope_json,
    sandbox_summary,
    to_record,
)
from course_lib.grading.grader import NotebookResult, QuestionGrade
from course_lib.grading.submissions import Submission, find_submissions, read_gradescope_metadata

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "lab-10.1-events.ipynb"
BLANK = ROOT / "labs" / "lab-10.1-events.ipynb"
FULL, NONE = "10/10", "0/10"

GRADESCOPE_METADATA = """\
---
submission_1001:
  :submitters:
  - :name: Jane Smith
    :sid: '12345'
    :email: jane@example.edu
  :created_at: 2026-05-15 14:30:00.000000000 -07:00
  :score: 0.0
  :status: ungraded
submission_1002:
  :submitters:
  - :name: Ann Lee
    :sid: ''
    :email: ann@example.edu
  - :name: Bo Chen
    :sid: "678"
    :email: bo@example.edu
  :created_at: 2026-05-15 15:00:00.000000000 -07:00
"""


def grade(*args: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "course_lib.grading", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return {row["learner"]: row for row in csv.DictReader(file)}


# --- layouts and learner ids (no grading) --------------------------------------


def test_layouts_give_each_notebook_its_learner(tmp_path):
    flat = tmp_path / "flat"
    per_learner = tmp_path / "per-learner"
    canvas = tmp_path / "canvas"
    export = tmp_path / "gradescope" / "assignment_42_export"
    for folder in (flat, per_learner / "alice" / "week4", per_learner / "bob", canvas, export):
        folder.mkdir(parents=True)
    for path in (
        flat / "carol.ipynb",
        per_learner / "alice" / "week4" / "lab-10.1-events.ipynb",
        per_learner / "bob" / "lab.ipynb",
        canvas / "smithjane_54321_67890_lab-10.1-events.ipynb",
        canvas / "leeann_LATE_777_888_lab-10.1-events-1.ipynb",
    ):
        path.write_text("{}")
    for submission in ("submission_1001", "submission_1002"):
        (export / submission).mkdir()
        (export / submission / "lab-10.1-events.ipynb").write_text("{}")
    (export / "submission_metadata.yml").write_text(GRADESCOPE_METADATA)
    # what a Mac adds to a zip, and Jupyter's autosaves: not submissions
    (canvas / "__MACOSX").mkdir()
    (canvas / "__MACOSX" / "._smithjane_54321_67890_lab-10.1-events.ipynb").write_text("{}")
    (flat / ".ipynb_checkpoints").mkdir()
    (flat / ".ipynb_checkpoints" / "carol-checkpoint.ipynb").write_text("{}")

    found = find_submissions([flat, per_learner, canvas, tmp_path / "gradescope"])
    by_learner = {submission.learner: submission for submission in found}
    assert sorted(by_learner) == ["12345", "54321", "777", "alice", "ann@example.edu+678", "bob", "carol"]
    assert by_learner["carol"].layout == "file"
    assert (by_learner["alice"].layout, by_learner["bob"].layout) == ("folder", "folder")
    assert (by_learner["54321"].layout, by_learner["777"].name) == ("canvas", "leeann")
    assert by_learner["ann@example.edu+678"].name == "Ann Lee & Bo Chen"
    gradescope = [s for s in found if s.layout == "gradescope"]
    assert [(s.learner, s.name) for s in gradescope] == [("12345", "Jane Smith"), ("ann@example.edu+678", "Ann Lee & Bo Chen")]
    # the e-mail stands in for a missing student id, and the folder for missing metadata
    metadata = read_gradescope_metadata(export / "submission_metadata.yml")
    assert metadata["submission_1002"][0] == {"name": "Ann Lee", "sid": "", "email": "ann@example.edu"}
    (export / "submission_metadata.yml").write_text("submission_1001:\n  :submitters:\n  - :name: X\n    :email: x@y\n")
    learners = {s.learner for s in find_submissions([export])}
    assert learners == {"x@y", "submission_1002"}


def test_a_notebook_given_by_name_is_its_own_learner(tmp_path):
    path = tmp_path / "dana.ipynb"
    path.write_text("{}")
    assert find_submissions([path]) == [Submission(path, "dana")]
    with pytest.raises(FileNotFoundError):
        find_submissions([tmp_path / "missing"])


# --- results as data, the journal, outputs --------------------------------------


def a_result(path: Path, **extra) -> NotebookResult:
    grades = [QuestionGrade("10.1-q1", "Find the problems", 4.0, 4, "all good")]
    result = NotebookResult(path, "lab-10.1-events", grades, notes=["cell 3 raised ValueError"])
    for key, value in extra.items():
        setattr(result, key, value)
    return result


def test_a_result_survives_the_round_trip_through_json(tmp_path):
    result = a_result(tmp_path / "x.ipynb", sandbox="bubblewrap")
    record = json.loads(json.dumps(to_record(result)))
    back = from_record(record)
    assert (back.path, back.lab, back.grades, back.notes) == (result.path, result.lab, result.grades, result.notes)
    assert back.sandbox == "bubblewrap"
    assert to_record(a_result(tmp_path / "y.ipynb"))["sandbox"] == SANDBOX_UNKNOWN


def test_the_journal_keeps_results_and_ignores_a_torn_line(tmp_path):
    journal = Journal(tmp_path / JOURNAL_NAME)
    submission = Submission(tmp_path / "x.ipynb", "x")
    journal.add("key-1", submission, a_result(submission.path), 1.5)
    with open(journal.path, "a") as file:
        file.write('{"key": "key-2", "result": {"pa')  # the process died mid-line
    again = Journal(journal.path)
    assert again.result("key-1").score == 4 and again.result("key-2") is None
    assert Journal(journal.path, fresh=True).result("key-1") is None and not journal.path.exists()


def test_the_key_changes_with_the_notebook_the_hidden_tests_and_the_options(tmp_path):
    notebook = tmp_path / "x.ipynb"
    notebook.write_text('{"cells": []}')
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    base = batch_fingerprint(Options())
    key = notebook_key(notebook, base)
    assert notebook_key(notebook, base) == key
    assert batch_fingerprint(Options(timeout=10)) != base
    assert batch_fingerprint(Options(hidden=hidden)) == base  # an empty folder holds no tests
    (hidden / "lab-10.1-events.py").write_text("HIDDEN = {}\n")
    with_hidden = batch_fingerprint(Options(hidden=hidden))
    assert with_hidden != base
    (hidden / "lab-10.1-events.py").write_text("HIDDEN = {'10.1-q1': []}\n")
    assert batch_fingerprint(Options(hidden=hidden)) != with_hidden
    notebook.write_text('{"cells": [1]}')
    assert notebook_key(notebook, base) != key


def test_outputs_name_the_learner_and_the_sandbox(tmp_path):
    one = Graded(Submission(tmp_path / "a.ipynb", "12345", "smithjane", "canvas"), a_result(tmp_path / "a.ipynb"))
    two = Graded(Submission(tmp_path / "b.ipynb", "bob"), a_result(tmp_path / "b.ipynb", sandbox="bubblewrap"))
    single = gradescope_json([one])
    assert single["extra_data"]["learner"] == "12345" and single["extra_data"]["name"] == "smithjane"
    assert single["output"].splitlines()[-1] == SANDBOX_UNKNOWN
    several = gradescope_json([one, two])
    assert [entry["learner"] for entry in several["submissions"]] == ["12345", "bob"]
    assert several["submissions"][1]["sandbox"] == "bubblewrap"
    assert several["sandbox"] == f"{SANDBOX_UNKNOWN} (1); sandbox: bubblewrap (1)"
    assert sandbox_summary([two, two]) == "sandbox: bubblewrap (2 notebooks)"
    table = format_table([one, two]).splitlines()
    assert table[0].split()[:2] == ["learner", "notebook"] and table[1].startswith("12345 ")
    assert table[-1] == several["sandbox"]


def test_a_stopped_notebook_scores_zero_on_every_question_of_its_lab():
    result = stopped_result(Submission(BLANK, "x"), "grading took longer than the 5 s budget")
    assert result.lab == "lab-10.1-events" and result.score == 0 and len(result.grades) == 3
    assert result.max_score == 10 and "budget" in result.grades[0].output and "scored 0" in result.message
    assert "stopped" in to_record(result)["sandbox"]


def test_default_jobs_is_the_cores_this_process_may_use():
    assert 1 <= default_jobs() <= (os.cpu_count() or 1)


def test_kill_tree_stops_a_process_and_everything_it_started():
    parent = subprocess.Popen(["bash", "-c", "sleep 300 & sleep 300 & wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while len(descendants(parent.pid)) < 2:
            assert time.monotonic() < deadline, "bash did not start its two sleeps"
            time.sleep(0.05)
        children = descendants(parent.pid)
        kill_tree(parent.pid)
        parent.wait(timeout=30)
        for child in children:
            deadline = time.monotonic() + 30
            while _alive(child):
                assert time.monotonic() < deadline, f"process {child} survived kill_tree"
                time.sleep(0.05)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie is dead, waiting for init to reap it


# --- a class graded end to end --------------------------------------------------


@pytest.mark.notebooks
def test_a_canvas_and_a_gradescope_export_graded_together(tmp_path):
    canvas, export = tmp_path / "canvas", tmp_path / "export"
    canvas.mkdir()
    shutil.copy(SOLUTION, canvas / "smithjane_12345_67890_lab-10.1-events.ipynb")
    shutil.copy(BLANK, canvas / "leeann_LATE_777_888_lab-10.1-events.ipynb")
    for folder, notebook in (("submission_1001", SOLUTION), ("submission_1002", BLANK)):
        (export / folder).mkdir(parents=True)
        shutil.copy(notebook, export / folder / "my-lab.ipynb")
    (export / "submission_metadata.yml").write_text(GRADESCOPE_METADATA)

    done = grade("canvas", "export", "--out", "out", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = done.stdout.splitlines()
    assert table[0].split()[:2] == ["learner", "notebook"]
    assert "sandbox" in table[-1] and table[-1].endswith("(4 notebooks)")
    with open(tmp_path / "out" / "grades.csv", newline="") as file:
        listed = [(row["learner"], row["name"], row["total"]) for row in csv.DictReader(file)]
    assert listed == [
        ("777", "leeann", "0"),
        ("12345", "smithjane", "10"),
        ("12345", "Jane Smith", "10"),
        ("ann@example.edu+678", "Ann Lee & Bo Chen", "0"),
    ]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [entry["learner"] for entry in results["submissions"]] == ["777", "12345", "12345", "ann@example.edu+678"]
    assert all(entry["sandbox"] for entry in results["submissions"])
    assert "graded 4/4" in done.stderr


@pytest.mark.notebooks
def test_a_rerun_grades_only_what_changed(tmp_path):
    submissions = tmp_path / "submissions"
    for learner, notebook in (("alice", SOLUTION), ("bob", BLANK)):
        (submissions / learner).mkdir(parents=True)
        shutil.copy(notebook, submissions / learner / notebook.name)
    first = grade("submissions", "--out", "out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "graded 2/2" in first.stderr and "resuming" not in first.stderr
    journal = (tmp_path / "out" / JOURNAL_NAME).read_text().splitlines()
    assert [json.loads(line)["learner"] for line in journal] != [] and len(journal) == 2

    again = grade("submissions", "--out", "out", cwd=tmp_path)
    assert again.returncode == 0 and "resuming: 2/2 already graded" in again.stderr
    assert "grading " not in again.stderr and again.stdout == first.stdout

    # bob hands in again: only his notebook is graded
    notebook = nbformat.read(submissions / "bob" / BLANK.name, as_version=4)
    notebook.cells.append(new_markdown_cell("I tried."))
    nbformat.write(notebook, submissions / "bob" / BLANK.name)
    changed = grade("submissions", "--out", "out", cwd=tmp_path)
    assert "resuming: 1/2 already graded" in changed.stderr and "graded 2/2 submissions/bob/" in changed.stderr

    # new hidden tests, or --fresh: everything again
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "lab-10.1-events.py").write_text(
        "from course_lib.grading import Case\n"
        "from course_lib.grading.bank_lab_10_1 import envelope\n"
        'HIDDEN = {"10.1-q1": [Case(args=(envelope(drop=("payload",)),), expected=["payload"])]}\n'
    )
    with_hidden = grade("submissions", "--out", "out", "--hidden", hidden, cwd=tmp_path)
    assert with_hidden.returncode == 0 and "resuming" not in with_hidden.stderr
    fresh = grade("submissions", "--out", "out", "--hidden", hidden, "--fresh", cwd=tmp_path)
    assert "resuming" not in fresh.stderr and "graded 2/2" in fresh.stderr
    assert rows(tmp_path / "out" / "grades.csv")["alice"]["total"] == "10"


@pytest.mark.notebooks
def test_ctrl_c_keeps_what_was_graded_and_the_rerun_finishes(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    names = [f"learner{number}" for number in range(5)]
    for number, name in enumerate(names):
        shutil.copy(SOLUTION if number % 2 == 0 else BLANK, submissions / f"{name}.ipynb")
    command = [sys.executable, "-m", "course_lib.grading", "submissions", "--out", "out", "--jobs", "1"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in process.stderr:  # wait for the first notebook to be graded
            seen.append(line)
            if line.startswith("graded 1/5"):
                break
        else:
            pytest.fail("".join(seen))
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = "".join(seen) + stderr
    assert process.returncode == 130, stderr
    assert "stopping: the notebooks in progress finish" in stderr
    assert "run the same command again" in stderr and "interrupted: " in stderr
    graded = rows(tmp_path / "out" / "grades.csv")
    assert 1 <= len(graded) < 5  # the one graded, and the one in progress at Ctrl-C
    kept = (tmp_path / "out" / JOURNAL_NAME).read_text().splitlines()
    assert len(kept) == len(graded)

    rerun = grade(*command[3:], cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming: {len(graded)}/5 already graded" in rerun.stderr
    final = rows(tmp_path / "out" / "grades.csv")
    assert {name: final[name]["total"] for name in names} == {
        name: "10" if number % 2 == 0 else "0" for number, name in enumerate(names)
    }


@pytest.mark.notebooks
def test_a_notebook_over_its_budget_scores_zero_and_the_others_are_graded(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(SOLUTION, submissions / "quick.ipynb")
    slow = nbformat.read(SOLUTION, as_version=4)
    slow.cells.insert(1, new_code_cell("import time\ntime.sleep(900)"))
    nbformat.write(slow, submissions / "slow.ipynb")
    # 15 s: ample for the quick one even on a loaded machine, far short of the sleep
    done = grade("submissions", "--out", "out", "--budget", "15", "--timeout", "1000", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    graded = rows(tmp_path / "out" / "grades.csv")
    assert graded["quick"]["total"] == "10"
    assert graded["slow"]["total"] == "0" and graded["slow"]["max"] == "10"
    assert "budget" in graded["slow"]["status"] and "15 s" in graded["slow"]["status"], graded["slow"]
    assert graded["slow"]["sandbox"]  # what the grader said, or that the grading was stopped


def test_workers_that_cannot_start_stop_the_batch_with_the_reason(tmp_path, monkeypatch):
    import course_lib.grading.batch as batch

    monkeypatch.setattr(batch.sys, "executable", shutil.which("false") or "/bin/false")
    notebook = tmp_path / "x.ipynb"
    shutil.copy(BLANK, notebook)
    with pytest.raises(batch.WorkerError, match="before it was ready"):
        batch.grade_batch([Submission(notebook, "x")], Options(), jobs=1, journal=Journal(tmp_path / JOURNAL_NAME))
