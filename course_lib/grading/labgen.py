"""``python -m course_lib.grading.labgen solutions labs [--check]``.

Writes ``labs/<name>.ipynb`` for every ``solutions/<name>.ipynb`` (see
``labmaker`` for what changes). ``--check`` writes nothing and exits 1 when
a lab is missing, stale or has no solution, so CI can fail on an
out-of-date ``labs/``. Exit 2 for usage errors.

This is a separate module from ``labmaker`` because ``course_lib.grading``
imports the library, and ``python -m`` should run a module the package has
not imported yet.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from course_lib.grading.labmaker import SolutionMarkerError, generate_labs, stale_labs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grading.labgen",
        description="Generate learner labs from solution notebooks.",
    )
    parser.add_argument("solutions", type=Path, help="folder of solution notebooks")
    parser.add_argument("labs", type=Path, help="folder to write the labs to")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a lab is missing, stale or extra"
    )
    args = parser.parse_args(argv)
    if not args.solutions.is_dir():
        parser.error(f"no such folder: {args.solutions}")
    try:
        if args.check:
            problems = stale_labs(args.solutions, args.labs)
            for problem in problems:
                print(problem)
            if problems:
                print("labs are out of date: run `make labs`", file=sys.stderr)
                return 1
            return 0
        for path in generate_labs(args.solutions, args.labs):
            print(f"wrote {path}")
    except SolutionMarkerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
