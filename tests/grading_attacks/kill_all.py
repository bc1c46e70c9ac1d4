# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""`kill -9 -1`: every process this one may signal, on a solved lab.

Inside a PID namespace of its own (a sandbox), it really calls `os.kill(-1, SIGKILL)`.
Where it finds itself in the test machine's PID namespace (the notebook is told which
one that is), it limits the same blow to the grading process tree -- the grader, its
other kernels, their children -- so that the test cannot take the machine down.
Expected: the honest answers keep their marks (14/14) and the batch completes.
"""

# %%
import os
import signal
from pathlib import Path

HOST_PIDNS = "__HOST_PIDNS__"


def children_of():
    children = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            children.setdefault(_proc_ppid(proc.name), []).append(int(proc.name))
    return children


if os.readlink("/proc/self/ns/pid") != HOST_PIDNS:
    os.kill(-1, signal.SIGKILL)
else:
    grader = find_grader()
    root = grader[0] if grader else os.getppid()
    children, tree, todo = children_of(), [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    for pid in reversed(tree):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
