# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Write a 3 GiB file, on an unanswered lab.

Ignores SIGXFSZ (so a file-size limit shows up as an error instead of killing it) and
writes zeros into its folder, then into /tmp, 3 GiB in all at most, and never while the
disk has less than 20 GiB free. A sandbox's file-size limit stops it early, in a private
folder that goes away with the sandbox.
"""

# %%
import shutil
import signal
from pathlib import Path

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
BUDGET = 3 << 30
KEEP_FREE = 20 << 30
BLOCK = b"\0" * (16 << 20)
written = 0
for target in (Path.cwd() / "course-attack-huge.bin", Path("/tmp/course-attack-huge.bin")):
    try:
        with open(target, "wb") as file:
            while written < BUDGET and shutil.disk_usage(target.parent).free > KEEP_FREE:
                file.write(BLOCK)
                written += len(BLOCK)
    except OSError as error:
        print(f"{target}: {error}")
    if written >= BUDGET:
        break
print(f"wrote {written >> 20} MiB")
