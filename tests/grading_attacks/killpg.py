# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Kill the parent's process group, then this one's, on a solved lab.

`os.killpg(os.getpgid(os.getppid()), 9)` takes the grader and everything started in
its group; `os.killpg(0, 9)` the kernel's own group. Expected: the honest answers keep
their marks (14/14) and the batch completes.
"""

# %%
import os
import signal

targets = [os.getppid()]
grader = find_grader()
if grader is not None:
    targets.append(grader[0])
for pid in targets:
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except OSError:
        pass
os.killpg(0, signal.SIGKILL)
