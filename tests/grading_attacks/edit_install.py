# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Edit the installed course, on an unanswered lab: a lasting change for every later run.

Appends to the course's files where this process imports them from
(`course_lib/grading/runner.py` and `__init__.py`), to the editable install's source
(the folder the editable finder maps `course_lib` to), to the venv's editable finder and
the `.pth` that loads it, and creates a new `.pth` in site-packages (run by every Python
start of that venv). Whoever can do this can make every later grading run give full
marks. The payload here is an inert comment line and a harmless `import os`, because the
test runs against the real install: it removes exactly these lines afterwards. In a
sandbox the course and the venv are mounted read-only.
"""

# %%
import re
import site
import sysconfig
from pathlib import Path

import course_lib.grading
import course_lib.grading.runner

PAYLOAD = "\n# course-attack was here\n"  # the test strips exactly this text afterwards


def append(path):
    try:
        with open(path, "a") as file:
            file.write(PAYLOAD)
        leak(f"edited {path}")
    except OSError as error:
        leak(f"could not edit {path}: {error}")


append(course_lib.grading.runner.__file__)
append(course_lib.grading.__file__)

folders = {Path(folder) for folder in site.getsitepackages()}
folders |= {Path(sysconfig.get_paths()[name]) for name in ("purelib", "platlib")}
for folder in sorted(folders):
    installed = sorted(folder.glob("__editable__*course_lib*")) + sorted(folder.glob("course_lib*.pth"))
    for path in installed:
        if path.suffix == ".py":
            for mapped in re.findall(r"'course_lib': '([^']+)'", path.read_text()):
                append(Path(mapped, "grading", "runner.py"))
        append(path)
    if installed:
        try:
            (folder / "course-attack.pth").write_text("import os\n")
            leak(f"created {folder / 'course-attack.pth'}")
        except OSError as error:
            leak(f"could not create a .pth in {folder}: {error}")
