"""Who handed in which notebook: the submission layouts a grader meets.

``find_submissions(paths)`` turns files and folders into ``Submission``
records (the notebook, and the learner it belongs to). Four layouts are
recognised, folder by folder:

* **a folder of notebooks**: ``submissions/alice.ipynb`` is alice's; the
  learner id is the file name without ``.ipynb``;
* **a folder per learner**: ``submissions/alice/lab-10.1-events.ipynb`` (any
  depth) is alice's; the id is the first folder under the one given;
* **Canvas** ("Download Submissions"): one flat folder of files named
  ``<name>_<user id>_<submission id>_<the learner's file name>``, with
  ``LATE`` after the name for late work, e.g.
  ``smithjane_LATE_12345_67890_lab-10.4-kafka.ipynb``; the id is the Canvas
  user id (12345), the name is ``smithjane``;
* **Gradescope** ("Export Submissions"): a ``submission_metadata.yml`` beside
  one ``submission_<id>/`` folder per submission; the metadata lists each
  folder's submitters (``:name:``, ``:sid:``, ``:email:``). The id is the
  student id (or the e-mail when there is none); a group submission's ids
  are joined with ``+``.

Files a Mac adds to zip archives (``__MACOSX/``, ``._name``) and Jupyter's
``.ipynb_checkpoints/`` are not submissions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from course_lib.grading.grader import find_notebooks

GRADESCOPE_METADATA = "submission_metadata.yml"

# <name>_[LATE_]<user id>_<submission id>_<file>: Canvas's bulk-download names.
_CANVAS = re.compile(r"^(?P<name>[^_]+)_(?:LATE_)?(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$")


@dataclass(frozen=True)
class Submission:
    """One notebook to grade and the learner it belongs to."""

    path: Path
    learner: str  # the id a gradebook keys on
    name: str = ""  # a display name, when the layout gives one
    layout: str = "file"  # "file", "folder", "canvas" or "gradescope"


def find_submissions(paths: list[Path]) -> list[Submission]:
    """Every notebook under ``paths`` with its learner; raises FileNotFoundError like find_notebooks."""
    found: list[Submission] = []
    seen: set[Path] = set()
    for root in paths:
        for notebook in find_notebooks([root]):
            if _is_archive_junk(notebook) or notebook.resolve() in seen:
                continue
            seen.add(notebook.resolve())
            found.append(identify(notebook, root))
    return found


def identify(notebook: Path, root: Path) -> Submission:
    """The learner of ``notebook``, found under the folder (or file) ``root`` that was given."""
    if root.is_dir():
        export = _gradescope_export(notebook, root)
        if export is not None:
            return export
        relative = notebook.relative_to(root)
        if len(relative.parts) > 1:
            return Submission(notebook, relative.parts[0], layout="folder")
    canvas = _CANVAS.match(notebook.name)
    if canvas:
        return Submission(notebook, canvas["user"], canvas["name"], layout="canvas")
    return Submission(notebook, notebook.stem, layout="file")


def _is_archive_junk(path: Path) -> bool:
    return "__MACOSX" in path.parts or path.name.startswith("._")


def _gradescope_export(notebook: Path, root: Path) -> Submission | None:
    """The submission for a notebook inside a Gradescope export, if it is in one."""
    for folder in [notebook.parent, *notebook.parent.parents]:
        metadata = folder / GRADESCOPE_METADATA
        if metadata.is_file():
            submitters = read_gradescope_metadata(metadata)
            key = notebook.relative_to(folder).parts[0]
            people = submitters.get(key, [])
            ids = [person.get("sid") or person.get("email") or "" for person in people]
            learner = "+".join(i for i in ids if i) or key
            name = " & ".join(person["name"] for person in people if person.get("name"))
            return Submission(notebook, learner, name, layout="gradescope")
        if folder == root or folder == folder.parent:
            break
    return None


def read_gradescope_metadata(path: Path) -> dict[str, list[dict[str, str]]]:
    """``submission_<id>`` -> its submitters, from Gradescope's ``submission_metadata.yml``.

    The file is YAML written by Ruby (keys start with a colon)::

        submission_123456:
          :submitters:
          - :name: Jane Smith
            :sid: '12345'
            :email: jane@example.edu
          :created_at: 2026-05-15 14:30:00.000000000 -07:00

    Only the submitters are read, with a small line parser (no YAML library
    is needed): a top-level key opens a submission, ``- :name:`` opens a
    submitter, and ``:name:``/``:sid:``/``:email:`` lines fill it in.
    """
    submissions: dict[str, list[dict[str, str]]] = {}
    current: list[dict[str, str]] | None = None
    in_submitters = False
    indent_of_submitters = 0
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#") or raw.startswith("---"):
            continue
        indent = len(raw) - len(raw.lstrip())
        line = raw.strip()
        if indent == 0:
            key = line.rstrip(":").strip("'\"")
            current = submissions.setdefault(key, [])
            in_submitters = False
            continue
        if current is None:
            continue
        if line == ":submitters:":
            in_submitters, indent_of_submitters = True, indent
            continue
        if in_submitters and indent <= indent_of_submitters and not line.startswith("-"):
            in_submitters = False  # the next key of this submission
        if not in_submitters:
            continue
        if line.startswith("- "):
            current.append({})
            line = line[2:].strip()
        field, _, value = line.partition(": ")
        field = field.strip().lstrip(":").rstrip(":")
        if current and field in ("name", "sid", "email"):
            current[-1][field] = _yaml_scalar(value)
    return submissions


def _yaml_scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return "" if text in ("~", "null") else text
