# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Read the hidden-tests folder from the grader's command line in /proc, and print the tests.

`/proc/<ppid>/cmdline` (and any `/proc/*/cmdline` with `--hidden`) names the folder;
today the kernel is the grader's child and can read it, then the files. Their text goes
to every channel (printed output, fds 1 and 2, the answers' results, a cell error), on
an unanswered lab. In a sandbox the grader is not among the processes the notebook can
see, and the folder is not mounted.
"""

# %%
import os
from pathlib import Path

folders = []
own = grader_option("--hidden")
if own is not None:
    folders.append(own)
for proc in Path("/proc").iterdir():
    if not proc.name.isdigit():
        continue
    argv = _proc_argv(proc.name)
    for index, part in enumerate(argv[:-1]):
        if part == "--hidden":
            try:
                cwd = os.readlink(proc / "cwd")
            except OSError:
                continue
            folders.append(Path(cwd, argv[index + 1]))

texts = []
for folder in dict.fromkeys(folders):
    leak(f"hidden tests in {folder}")
    for path in sorted(Path(folder).glob("*.py")):
        try:
            texts.append(path.read_text(errors="replace"))
        except OSError:
            continue
        leak(texts[-1])
answers_returning("\n".join(texts) or "nothing found")
raise_leaked()
