"""`make release`: what learners get holds no answer, installs, and grades as the course does.

The release is built once, as `make release` builds it, into a temporary folder.
A *solution line* is a line between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
in solutions/*.ipynb, stripped, that does not also appear elsewhere in its solution
notebook (the question text and the starter code are public anyway). Lines shorter
than MIN_LENGTH characters (``for event in events:``, ``return True``) are common
code rather than an answer, and are not looked for.

The library's own modules (course_lib/, outside course_lib/grading/) are exempt: they
are working implementations learners read by design, and the grader forbids a
question's reference implementation while its answer is graded. Everywhere else --
the module notebooks, the labs, the question banks, the docs -- no solution line may
appear.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MIN_LENGTH = 24
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def solution_lines() -> dict[str, str]:
    """Each non-trivial solution line -> the solution notebook it comes from."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        inside_lines, outside_lines = [], []
        for cell in json.loads(path.read_text())["cells"]:
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            inside = False
            for line in source.splitlines():
                stripped = line.strip()
                if stripped == BEGIN:
                    inside = True
                elif stripped == END:
                    inside = False
                else:
                    (inside_lines if inside else outside_lines).append(stripped)
        public = "\n".join(outside_lines)
        for line in inside_lines:
            if len(line) >= MIN_LENGTH and line not in public:
                found.setdefault(line, path.name)
    return found


def leaks(folder: Path, lines: dict[str, str]) -> list[str]:
    """'file: line (from notebook)' for each solution line found in a file outside the library proper."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if not path.is_file() or path.suffix in (".png", ".svg", ".jpg", ".woff", ".woff2"):
            continue
        if relative.startswith("course_lib/") and not relative.startswith("course_lib/grading/"):
            continue  # the library learners read (see the module docstring)
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{relative}: {line!r} (from {notebook})" for line, notebook in lines.items() if line in text]
    return found


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("release") / "release"
    built = subprocess.run(
        [sys.executable, "-m", "course_lib.grading.release", str(target), "--project", str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    assert "frozen question banks" in built.stdout
    return target


def test_the_release_has_the_course_and_no_answers(release):
    for needed in ("modules", "labs", "course_lib", "binder", "README.md", "pyproject.toml", "Makefile"):
        assert (release / needed).exists(), f"the release lacks {needed}"
    assert sorted(p.name for p in (release / "labs").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "solutions").glob("*.ipynb"))
    for never in ("solutions", "tests", "hidden", ".ci", ".git", "build", "course_lib.egg-info"):
        assert not (release / never).exists(), f"the release ships {never}/"
    assert not list(release.rglob("__pycache__")) and not list(release.rglob(".ipynb_checkpoints"))
    for path in release.rglob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        assert BEGIN not in text and END not in text, f"{path} has solution regions"


def test_no_solution_line_is_in_the_release(release):
    lines = solution_lines()
    assert len(lines) > 100  # the check looks for something
    assert leaks(release, lines) == []


def test_the_unfrozen_banks_would_give_answers_away():
    """The check can fail: the project's own banks compute expected values with reference code."""
    found = leaks(ROOT / "course_lib", solution_lines())
    assert any(line.startswith("grading/bank_lab_") for line in found), found


def test_the_frozen_banks_register_the_same_questions_and_cases(release):
    script = (
        "import json\n"
        "from course_lib.grading.questions import BANKS, questions_for_lab\n"
        "from course_lib.grading.release import summarize\n"
        "import course_lib\n"
        "print(json.dumps({'where': course_lib.__file__,"
        " 'labs': {lab: repr(summarize(questions_for_lab(lab))) for lab in sorted(BANKS)}}))\n"
    )

    def summary(pythonpath: Path) -> dict:
        env = {**os.environ, "PYTHONPATH": str(pythonpath)}
        done = subprocess.run([sys.executable, "-c", script], cwd=pythonpath, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    frozen, original = summary(release), summary(ROOT)
    assert Path(frozen["where"]).is_relative_to(release)
    assert frozen["labs"] == original["labs"]
    bank = (release / "course_lib" / "grading" / "bank_lab_11_4.py").read_text()
    assert "_FROZEN" in bank and "def _reconcile" not in bank


CHECK_RESULTS = """\
import json, re, sys
import nbformat
from nbclient import NotebookClient

def counts(path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, allow_errors=True, kernel_name="python3").execute()
    text = ""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text += output.get("text", "") + output.get("data", {}).get("text/plain", "")
    return [[int(n) for n in pair] for pair in re.findall(r"public tests: (\\d+)/(\\d+)", text)]

print(json.dumps({name: counts(name) for name in sys.argv[1:]}))
"""


@pytest.mark.notebooks
def test_the_release_installs_and_its_checks_give_the_courses_feedback(release, tmp_path):
    """Installed on its own, the release's check() passes every solution and fails every stub."""
    source = tmp_path / "source"
    shutil.copytree(release, source)  # pip writes build files into what it installs
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=600,
    )
    assert installed.returncode == 0, installed.stderr
    assert "_FROZEN" in (site / "course_lib" / "grading" / "bank_lab_11_4.py").read_text()
    env = {**os.environ, "PYTHONPATH": str(site)}  # the kernels inherit it: they import the release
    where = subprocess.run([sys.executable, "-c", "import course_lib; print(course_lib.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stderr

    labs = ("lab-11.4-dynamo", "lab-10.1-events", "lab-11.2-sharding")
    notebooks = [str(ROOT / "solutions" / f"{lab}.ipynb") for lab in labs]
    notebooks += [str(release / "labs" / f"{lab}.ipynb") for lab in labs]
    ran = subprocess.run([sys.executable, "-c", CHECK_RESULTS, *notebooks], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=900)
    assert ran.returncode == 0, ran.stderr
    counts = json.loads(ran.stdout)
    for notebook, found in counts.items():
        assert found, f"no check() output in {notebook}"
        if "/solutions/" in notebook:
            assert all(passed == total for passed, total in found), (notebook, found)
        else:
            assert all(passed == 0 for passed, _total in found), (notebook, found)
