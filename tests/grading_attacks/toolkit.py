"""Helpers every attack notebook gets as its first added cell.

`find_grader()` walks up the notebook's ancestor processes to the one running
`course_lib.grading` (today: the kernel's parent), so an attack can read the grader's
command line (`--hidden DIR`, `--json FILE`, `--csv FILE`, the submissions) and working
folder. `leak(text)` pushes text into every channel that might end up in the grader's
outputs: printed output, the process's own fds 1 and 2, a cell error (`raise_leaked`),
and answers whose results are that text (`answers_returning`), since the feedback shows a
failing answer's "actual" value and what it printed.
"""

# %%
import os as _os
import sys as _sys
from pathlib import Path as _Path


def _proc_argv(pid):
    try:
        raw = _Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _proc_ppid(pid):
    try:
        stat = _Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rpartition(")")[2].split()[1])


def find_grader():
    """(pid, argv, cwd) of the nearest ancestor process running course_lib.grading, or None."""
    pid = _os.getppid()
    while pid > 1:
        argv = _proc_argv(pid)
        if any("course_lib.grading" in part for part in argv):
            try:
                cwd = _os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                cwd = "/"
            return pid, argv, cwd
        pid = _proc_ppid(pid)
    return None


def grader_option(name):
    """The absolute path the grader got for option `name` (e.g. "--hidden"), or None."""
    found = find_grader()
    if found is None:
        return None
    _, argv, cwd = found
    for index, part in enumerate(argv):
        if part == name and index + 1 < len(argv):
            return _Path(cwd, argv[index + 1])
        if part.startswith(name + "="):
            return _Path(cwd, part.split("=", 1)[1])
    return None


def grader_paths():
    """The submissions the grader was given (its positional arguments), absolute."""
    found = find_grader()
    if found is None:
        return []
    _, argv, cwd = found
    start = next(index for index, part in enumerate(argv) if "course_lib.grading" in part) + 1
    paths, skip = [], False
    for part in argv[start:]:
        if skip:
            skip = False
        elif part.startswith("--"):
            skip = "=" not in part
        else:
            paths.append(_Path(cwd, part))
    return paths


LEAKED = []


def leak(text):
    """Send text everywhere a grader might pick it up."""
    text = str(text)
    LEAKED.append(text)
    print(text)
    print(text, file=_sys.stderr)
    for fd in (1, 2):
        try:
            _os.write(fd, text.encode(errors="replace") + b"\n")
        except OSError:
            pass


def answers_returning(text):
    """Define the lab's four answers so that each returns (and prints) a slice of text."""
    pieces = [text[start : start + 250] for start in range(0, len(text), 250)] or [""]

    def piece(number):
        chosen = pieces[number % len(pieces)]
        print(chosen)
        return chosen

    namespace = globals()
    namespace["kafka_partition"] = lambda key, num_partitions: piece(0)
    namespace["range_assign"] = lambda members, num_partitions: piece(1)
    namespace["lag_report"] = lambda end_offsets, committed, log_start: piece(2)
    namespace["consume_once"] = lambda consumer, process: piece(3)


def raise_leaked():
    """End the cell with an error whose message is what was leaked (cell errors reach the notes)."""
    if LEAKED:
        raise RuntimeError(" | ".join(LEAKED)[:190])
