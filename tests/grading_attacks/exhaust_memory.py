# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Allocate 10 GiB and hold it, on an unanswered lab.

Touches every page (256 MiB blocks filled with a byte), and keeps them while the grader
carries on, to starve the grader and the classmates graded beside it. Bounded for the
test machine's sake, sandbox or not: it stops while /proc/meminfo still shows 6 GiB
available. A sandbox's memory limit (2 GiB by default) ends it with MemoryError.
"""

# %%
BLOCK = 256 << 20
GOAL = 10 << 30
KEEP_AVAILABLE = 6 << 30


def available():
    with open("/proc/meminfo") as file:
        for line in file:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


HOARD = []
try:
    while len(HOARD) * BLOCK < GOAL and available() - BLOCK > KEEP_AVAILABLE:
        HOARD.append(bytearray(b"\x01") * BLOCK)
except MemoryError:
    pass
print(f"holding {len(HOARD) * BLOCK >> 20} MiB")
