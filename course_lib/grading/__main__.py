"""``python -m course_lib.grading PATH...``: grade notebooks from the command line.

PATHs are notebooks, or folders of them in any of the layouts
``course_lib.grading.submissions`` knows (a folder of notebooks, a folder
per learner, a Canvas or a Gradescope export). Notebooks are graded
``--jobs`` at a time (``course_lib.grading.batch``); with an output folder
(``--out``, or the folder of ``--json``/``--csv``) every finished notebook
is kept in a journal there, so an interrupted run resumes where it stopped.

Exit status: 0 when grading completed (whatever the scores), 2 for usage
errors such as a path that does not exist or an unusable hidden-tests
folder, 130 when interrupted (the grades of what was done are written), 1
when the grading workers cannot start.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from course_lib.grading.batch import (
    DEFAULT_BUDGET,
    JOURNAL_NAME,
    Journal,
    Options,
    WorkerError,
    default_jobs,
    grade_batch,
)
from course_lib.grading.gradebook import display_name, format_table, write_csv, write_json
from course_lib.grading.grader import CELL_TIMEOUT
from course_lib.grading.hidden import HiddenTestsError, load_hidden
from course_lib.grading.questions import UnknownLab
from course_lib.grading.runner import DEFAULT_TEST_TIMEOUT
from course_lib.grading.submissions import find_submissions

INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grading",
        description="Grade lab notebooks, each in its own kernel, several at a time.",
        epilog="--json writes Gradescope's results.json shape for one notebook, and "
        '{"submissions": [{"notebook": ..., "learner": ..., <that shape>}, ...]} for several. '
        f"With an output folder, finished notebooks are kept in {JOURNAL_NAME} there: "
        "running the same command again skips them.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="notebooks, or folders of them (a folder per learner, Canvas and Gradescope exports)",
    )
    parser.add_argument(
        "--hidden", type=Path, metavar="DIR", help="folder of hidden tests, one <lab-id>.py per lab"
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="write results.json, grades.csv and the journal here"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write Gradescope-style JSON here")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write a CSV gradebook here")
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        metavar="N",
        help=f"notebooks graded at a time (default: the machine's cores, {default_jobs()})",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore the journal: grade every notebook again")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET,
        metavar="S",
        help=f"seconds one notebook may take in all; 0 for no limit (default {DEFAULT_BUDGET:g})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=CELL_TIMEOUT,
        metavar="S",
        help=f"seconds per cell (default {CELL_TIMEOUT:g})",
    )
    parser.add_argument(
        "--test-timeout",
        type=float,
        default=DEFAULT_TEST_TIMEOUT,
        metavar="S",
        help=f"seconds per test of an answer (default {DEFAULT_TEST_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)

    if args.timeout <= 0 or args.test_timeout <= 0:
        parser.error("timeouts must be positive")
    if args.budget < 0:
        parser.error("--budget must be positive, or 0 for no limit")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    try:
        submissions = find_submissions(args.paths)
    except FileNotFoundError as error:
        parser.error(str(error))
    if not submissions:
        parser.error("no .ipynb files found in " + ", ".join(map(str, args.paths)))
    if args.hidden is not None:
        problem = check_hidden_dir(args.hidden)
        if problem:
            parser.error(problem)

    json_path = args.json or (args.out / "results.json" if args.out else None)
    csv_path = args.csv or (args.out / "grades.csv" if args.out else None)
    folder = args.out or next((path.parent for path in (json_path, csv_path) if path is not None), None)
    journal = Journal(folder / JOURNAL_NAME, fresh=args.fresh) if folder is not None else None
    for path in (json_path, csv_path):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    options = Options(args.hidden, args.timeout, args.test_timeout, args.budget or None)
    hide = [folder] if folder is not None else []  # the grades: no notebook may see or touch them
    try:
        outcome = grade_batch(submissions, options, args.jobs, journal, progress=_say, hide=hide)
    except WorkerError as error:
        kept = f"; what was graded is kept in {display_name(journal.path)}" if journal is not None else ""
        _say(f"cannot grade: {error}{kept}")
        return 1
    if outcome.graded:
        print(format_table(outcome.graded))
        if json_path is not None:
            write_json(outcome.graded, json_path)
        if csv_path is not None:
            write_csv(outcome.graded, csv_path)
    if not outcome.interrupted:
        return 0
    done, total = len(outcome.graded), len(submissions)
    if journal is not None:
        given = [arg for arg in (sys.argv[1:] if argv is None else argv) if arg != "--fresh"]
        again = shlex.join([sys.executable, "-m", "course_lib.grading", *given])
        _say(
            f"interrupted: {done}/{total} notebooks graded, kept in {display_name(journal.path)}. "
            f"To grade the other {total - done}, run the same command again: {again}"
        )
    else:
        _say(
            f"interrupted: {done}/{total} notebooks graded. Nothing was kept for a re-run: "
            "give --out DIR (or --json/--csv) to keep a journal that lets a run resume."
        )
    return INTERRUPTED


def _say(message: str) -> None:
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        pass  # progress is a courtesy: a closed stderr (a pipe into `head`) must not stop the grading


def check_hidden_dir(hidden_dir: Path) -> str:
    """Load every hidden-tests file once, so a typo stops the run before any grading."""
    if not hidden_dir.is_dir():
        return f"no such folder: {hidden_dir}"
    for path in sorted(hidden_dir.glob("*.py")):
        try:
            load_hidden(hidden_dir, path.stem)
        except HiddenTestsError as error:
            return str(error)
        except UnknownLab as error:
            print(f"warning: {path.name}: {error}", file=sys.stderr)
    return ""


if __name__ == "__main__":
    sys.exit(main())
