"""`make autograder`: the zip Gradescope takes, run end to end in a folder laid out like /autograder.

Gradescope unzips the package into /autograder/source, copies run_autograder to
/autograder/run_autograder, puts the submission in /autograder/submission and reads
/autograder/results/results.json. Here a temporary folder stands in for /autograder
(AUTOGRADER_ROOT) and this test's Python, whose environment has everything setup.sh
would install, for /autograder/venv/bin/python (AUTOGRADER_PYTHON).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB = "lab-10.4-kafka"
SECRET = "zz-hidden-marker-42"  # a hidden input: must never reach results.json
HIDDEN = f"""\
from course_lib.grading import Case
from course_lib.log import partition_for

KEY = b"{SECRET}"
HIDDEN = {{"10.4-q1": [Case(args=(KEY, 7), expected=partition_for(KEY, 7))]}}
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("autograder")
    hidden = folder / "hidden"
    hidden.mkdir()
    (hidden / f"{LAB}.py").write_text(HIDDEN)
    command = [sys.executable, "-m", "course_lib.grading.autograder", "build", LAB,
               "--hidden", str(hidden), "--out", str(folder / "out"), "--project", str(ROOT)]
    built = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    return folder / "out" / f"{LAB}.zip"


def gradescope(package: Path, tmp_path: Path, *notebooks: Path) -> dict:
    """Lay out /autograder as Gradescope does, run run_autograder, return results.json."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    with zipfile.ZipFile(package) as zipped:
        zipped.extractall(root / "source")
        for info in zipped.infolist():  # extractall drops the modes; Gradescope keeps them
            mode = info.external_attr >> 16
            if mode:
                (root / "source" / info.filename).chmod(stat.S_IMODE(mode))
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    for notebook in notebooks:
        shutil.copy(notebook, root / "submission" / notebook.name)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([str(root / "run_autograder")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (root / "results" / "results.json").read_text()
    assert SECRET not in text and SECRET not in done.stdout + done.stderr
    return json.loads(text)


def test_the_zip_has_gradescopes_shape(package):
    with zipfile.ZipFile(package) as zipped:
        names = zipped.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in zipped.infolist()}
        setup = zipped.read("setup.sh").decode()
        run = zipped.read("run_autograder").decode()
        bank = zipped.read("course/course_lib/grading/bank_lab_10_4.py").decode()
    for script in ("setup.sh", "run_autograder"):
        assert script in names and modes[script] & 0o111, f"{script} must be at the root, executable"
        assert (setup if script == "setup.sh" else run).startswith("#!/usr/bin/env bash")
    assert "course/pyproject.toml" in names and "course/course_lib/grading/grader.py" in names
    assert f"hidden/{LAB}.py" in names
    assert not any(name.startswith(("course/solutions", "course/tests", "solutions/", "tests/")) for name in names)
    assert "_FROZEN" in bank  # the release's frozen banks, not the reference code
    assert "bubblewrap" in setup and "pip install" in setup and "/autograder/source/course" in setup
    assert f"run {LAB}" in run and "results" not in setup


def test_a_solution_scores_full_marks_hidden_test_included(package, tmp_path):
    results = gradescope(package, tmp_path, ROOT / "solutions" / f"{LAB}.ipynb")
    assert (results["score"], results["max_score"]) == (14, 14)
    assert [test["status"] for test in results["tests"]] == ["passed"] * 4
    assert all(test["visibility"] == "visible" and test["max_score"] > 0 for test in results["tests"])
    assert "hidden" in results["tests"][0]["output"]  # the hidden case was run, and counted
    assert "sandbox" in results["output"].splitlines()[-1]
    assert results["extra_data"]["sandbox"] and isinstance(results["execution_time"], (int, float))


def test_a_blank_lab_scores_zero(package, tmp_path):
    results = gradescope(package, tmp_path, ROOT / "labs" / f"{LAB}.ipynb")
    assert (results["score"], results["max_score"]) == (0, 14)
    assert [test["status"] for test in results["tests"]] == ["failed"] * 4
    assert "hidden" in results["tests"][0]["output"]


def test_another_labs_solution_scores_zero(package, tmp_path):
    results = gradescope(package, tmp_path, ROOT / "solutions" / "lab-10.1-events.ipynb")
    assert (results["score"], results["max_score"]) == (0, 14)
    assert f"this assignment is {LAB}" in results["output"]
    assert [test["name"].split()[0] for test in results["tests"]] == ["10.4-q1", "10.4-q2", "10.4-q3", "10.4-q4"]


def test_nothing_submitted_scores_zero_and_says_what_to_upload(package, tmp_path):
    results = gradescope(package, tmp_path)
    assert results["score"] == 0 and results["tests"] == []
    assert f"upload your {LAB}.ipynb" in results["output"]


def test_an_unknown_lab_or_missing_hidden_tests_stop_the_build(tmp_path):
    command = [sys.executable, "-m", "course_lib.grading.autograder", "build"]
    unknown = subprocess.run([*command, "lab-99-nope", "--out", str(tmp_path)], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "lab-99-nope" in unknown.stderr
    empty = tmp_path / "hidden"
    empty.mkdir()
    missing = subprocess.run([*command, LAB, "--hidden", str(empty), "--out", str(tmp_path)], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and f"no hidden tests for {LAB}" in missing.stderr
    assert not list(tmp_path.glob("*.zip"))
