"""``python -m course_lib.grading PATH...``: grade notebooks from the command line.

Exit status: 0 when grading completed (whatever the scores), 2 for usage
errors such as a path that does not exist or an unusable hidden-tests folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from course_lib.grading.gradebook import display_name, format_table, write_csv, write_json
from course_lib.grading.grader import CELL_TIMEOUT, find_notebooks, grade_paths
from course_lib.grading.hidden import HiddenTestsError, load_hidden
from course_lib.grading.questions import UnknownLab
from course_lib.grading.runner import DEFAULT_TEST_TIMEOUT


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grading",
        description="Grade lab notebooks, each in its own kernel.",
        epilog="--json writes Gradescope's results.json shape for one notebook, "
        'and {"submissions": [{"notebook": ..., <that shape>}, ...]} for several.',
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="notebooks, or folders of notebooks"
    )
    parser.add_argument(
        "--hidden", type=Path, metavar="DIR", help="folder of hidden tests, one <lab-id>.py per lab"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write Gradescope-style JSON here")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write a CSV gradebook here")
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
    try:
        notebooks = find_notebooks(args.paths)
    except FileNotFoundError as error:
        parser.error(str(error))
    if not notebooks:
        parser.error("no .ipynb files found in " + ", ".join(map(str, args.paths)))
    if args.hidden is not None:
        problem = check_hidden_dir(args.hidden)
        if problem:
            parser.error(problem)

    def progress(number: int, total: int, path: Path) -> None:
        print(f"grading {number}/{total} {display_name(path)}", file=sys.stderr, flush=True)

    results = grade_paths(notebooks, args.hidden, args.timeout, args.test_timeout, progress=progress)
    print(format_table(results))
    if args.json is not None:
        write_json(results, args.json)
    if args.csv is not None:
        write_csv(results, args.csv)
    return 0


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
