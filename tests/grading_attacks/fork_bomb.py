# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""A fork bomb, on an unanswered lab: every process forks, 11 times over.

At most 2**11 - 1 = 2047 new processes, each named "course-attack" (so the test can see
whether any outlives the grading), holding its slot for 60 s and then exiting, so it
cannot hurt the test machine even unsandboxed; the test still skips it when the grader
says it is not sandboxed. A sandbox's process limit makes the forks fail early, the
classmates graded beside it must not notice, and none of the processes may survive the
sandbox.
"""

# %%
import os
import time

ORIGINAL = os.getpid()
for _ in range(11):
    try:
        os.fork()
    except OSError:
        break
if os.getpid() != ORIGINAL:
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write("course-attack")
        time.sleep(60)
    finally:
        os._exit(0)
