"""A Gradescope autograder for one lab: the zip, and what runs inside it.

``make autograder LAB=lab-10.4-kafka [HIDDEN=hidden/]`` runs ``build``,
which writes ``build/autograder/lab-10.4-kafka.zip`` in the shape
Gradescope's autograder specification asks for::

    setup.sh            run once when Gradescope builds the image: installs
                        Python, bubblewrap, and the course into /autograder/venv
    run_autograder      run for every submission, in /autograder
    course/             the course library as learners get it (make release:
                        frozen question banks, no solutions), with pyproject.toml
    hidden/<lab>.py     the lab's hidden tests, when HIDDEN is given

Gradescope unzips it into ``/autograder/source``, puts the learner's files in
``/autograder/submission`` and reads ``/autograder/results/results.json``.
``run_autograder`` calls ``run``: it grades the submitted notebook with
``grade_notebook`` (a notebook of another lab scores 0, with the reason) and
writes Gradescope's ``results.json``: ``score``, ``output``, ``tests`` (one per
question, with ``status`` and ``visibility``) and ``extra_data``.
``AUTOGRADER_ROOT`` and ``AUTOGRADER_PYTHON`` replace ``/autograder`` and its
Python (one with the course installed, as setup.sh installs it), to try the
package on another machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from course_lib.grading.batch import stopped_result
from course_lib.grading.feedback import format_points
from course_lib.grading.gradebook import Graded, from_record, gradescope_json, sandbox_of, to_record
from course_lib.grading.grader import (
    CELL_TIMEOUT,
    NotebookResult,
    QuestionGrade,
    find_lab,
    grade_notebook,
    read_notebook,
)
from course_lib.grading.hidden import HiddenTestsError, hidden_file, load_hidden
from course_lib.grading.questions import UnknownLab, questions_for_lab
from course_lib.grading.release import ReleaseError, build_release
from course_lib.grading.runner import DEFAULT_TEST_TIMEOUT
from course_lib.grading.submissions import Submission

# From the release: what `pip install` needs to install the library.
COURSE_FILES = ("course_lib", "pyproject.toml", "README.md", "LICENSE", "LICENSE.md", "LICENSE.txt")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root on its Ubuntu image, when it builds the autograder.
# bubblewrap is the sandbox the grader runs notebooks in, where the container allows it
# (it needs user namespaces); without it every result says "not sandboxed: <why>".
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --no-cache-dir /autograder/source/course
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: it grades the notebook in submission/ as
# {lab} and writes results/results.json, with the course setup.sh installed. To try it
# elsewhere, AUTOGRADER_ROOT stands in for /autograder and AUTOGRADER_PYTHON for
# /autograder/venv/bin/python (a Python with the course installed).
set -uo pipefail
python="${{AUTOGRADER_PYTHON:-}}"
case "$python" in ''|/*) ;; */*) python="$PWD/$python" ;; esac
root="$(cd "${{AUTOGRADER_ROOT:-/autograder}}" && pwd)" || exit 1
python="${{python:-$root/venv/bin/python}}"
cd "$root" || exit 1
exec "$python" -m course_lib.grading.autograder run {lab} --root "$root"{hidden}
"""


class AutograderError(RuntimeError):
    """The autograder cannot be built as asked (an unknown lab, broken hidden tests)."""


def build(lab: str, hidden: Path | None, out: Path, project: Path) -> Path:
    """Write ``out/<lab>.zip``; returns its path."""
    try:
        questions_for_lab(lab)
    except UnknownLab as error:
        raise AutograderError(str(error)) from None
    if hidden is not None:
        if not hidden_file(hidden, lab).is_file():
            raise AutograderError(f"{hidden} has no hidden tests for {lab} ({hidden_file(hidden, lab).name})")
        try:
            load_hidden(hidden, lab)
        except HiddenTestsError as error:
            raise AutograderError(str(error)) from None
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"{lab}.zip"
    with tempfile.TemporaryDirectory(prefix="autograder-") as scratch:
        release = Path(scratch) / "release"
        try:
            build_release(project, release)
        except ReleaseError as error:
            raise AutograderError(str(error)) from None
        partial = archive.with_suffix(".zip.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zipped:
            _add_text(zipped, "setup.sh", SETUP_SH, executable=True)
            hidden_argument = ' --hidden "$root/source/hidden"' if hidden is not None else ""
            script = RUN_AUTOGRADER.format(lab=lab, hidden=hidden_argument)
            _add_text(zipped, "run_autograder", script, executable=True)
            for name in COURSE_FILES:
                path = release / name
                files = sorted(path.rglob("*")) if path.is_dir() else [path] if path.is_file() else []
                for file in files:
                    if file.is_file():
                        zipped.write(file, f"course/{file.relative_to(release).as_posix()}")
            if hidden is not None:
                zipped.write(hidden_file(hidden, lab), f"hidden/{hidden_file(hidden, lab).name}")
        partial.replace(archive)
    return archive


def _add_text(zipped: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | 0o100000) << 16  # a regular file's mode
    zipped.writestr(info, text)


# --- inside Gradescope ------------------------------------------------------------


def run(
    lab: str,
    root: Path,
    hidden: Path | None,
    timeout: float = CELL_TIMEOUT,
    test_timeout: float = DEFAULT_TEST_TIMEOUT,
) -> dict[str, Any]:
    """Grade the notebook in ``root/submission`` as ``lab``; write and return results.json."""
    started = time.monotonic()
    notebooks = sorted(
        path
        for path in (root / "submission").rglob("*.ipynb")
        if path.is_file()
        and ".ipynb_checkpoints" not in path.parts
        and "__MACOSX" not in path.parts
        and not path.name.startswith("._")
    )
    if not notebooks:
        results: dict[str, Any] = {
            "score": 0,
            "output": f"No notebook (.ipynb file) was found in your submission: upload your {lab}.ipynb.",
            "tests": [],
        }
    else:
        chosen = next((path for path in notebooks if _lab_of(path) == lab), notebooks[0])
        try:
            result = grade_notebook(chosen, hidden, timeout, test_timeout)
        except Exception as error:  # grade_notebook does not raise; if it ever does, say so to the learner
            result = stopped_result(Submission(chosen, chosen.stem), f"the autograder failed: {error}")
        if result.lab != lab:
            result = _wrong_lab(result, lab)
        results = gradescope_json([Graded(Submission(chosen, chosen.stem), result)])
        ignored = [path.relative_to(root / "submission").as_posix() for path in notebooks if path != chosen]
        if ignored:
            graded = chosen.relative_to(root / "submission").as_posix()
            results["output"] = f"Graded {graded}; not graded: {', '.join(ignored)}.\n" + results["output"]
    results["execution_time"] = round(time.monotonic() - started, 1)
    folder = root / "results"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / "results.json.partial"
    partial.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, folder / "results.json")
    return results


def _lab_of(path: Path) -> str | None:
    try:
        return find_lab(read_notebook(path))
    except Exception:  # not a notebook: grade_notebook will say so
        return None


def _wrong_lab(result: NotebookResult, lab: str) -> NotebookResult:
    """Zero on every question of ``lab``: the notebook is another lab (or none)."""
    found = f"lab {result.lab}" if result.lab else "not a notebook of this course's labs"
    reason = f"this notebook is {found}, but this assignment is {lab}: upload your {lab}.ipynb"
    if result.message.startswith("not a Jupyter notebook"):
        reason = result.message
    grades = []
    for question in questions_for_lab(lab):
        output = f"{question.id} {question.title}: 0/{format_points(question.points)} points\n  {reason}"
        grades.append(QuestionGrade(question.id, question.title, 0.0, question.points, output))
    wrong = NotebookResult(result.path, lab, grades, message=reason)
    return from_record({**to_record(wrong), "sandbox": sandbox_of(result)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grading.autograder", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="write <out>/<lab>.zip for Gradescope")
    make.add_argument("lab", help="the lab id, e.g. lab-10.4-kafka")
    make.add_argument(
        "--hidden", type=Path, metavar="DIR", help="folder of hidden tests (<lab>.py is packed)"
    )
    make.add_argument("--out", type=Path, default=Path("build/autograder"), help="(build/autograder)")
    make.add_argument(
        "--project", type=Path, default=Path.cwd(), help="the course's root (the current folder)"
    )
    grade = commands.add_parser("run", help="grade /autograder/submission (what run_autograder calls)")
    grade.add_argument("lab")
    grade.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    grade.add_argument("--hidden", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            archive = build(args.lab, args.hidden, args.out, args.project)
        except AutograderError as error:
            parser.exit(2, f"autograder: {error}\n")
        hidden = f", with the hidden tests in {args.hidden}" if args.hidden else ", without hidden tests"
        print(f"autograder: {archive} (upload it as the assignment's autograder{hidden})")
        return 0
    results = run(args.lab, args.root, args.hidden)
    score = format_points(float(results.get("score", 0)))
    out_of = f"/{format_points(float(results['max_score']))}" if "max_score" in results else ""
    print(f"{args.lab}: {score}{out_of}")
    print(results.get("output", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
