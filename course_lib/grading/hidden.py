"""Hidden tests: cases the instructor keeps out of the learners' repository.

``--hidden DIR`` holds one Python file per lab, named after the lab
(``lab-10.1-events.py``), defining::

    from course_lib.grading import Case

    HIDDEN = {
        "10.1-q1": [Case(args=({"eventId": ""},), raises=ValueError)],
    }

They count toward the score like public cases, but learners only ever see
"hidden test 2: failed" -- never the input, expected value or code.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from course_lib.grading.questions import Case, questions_for_lab


class HiddenTestsError(ValueError):
    """A hidden-tests file that cannot be used (bad shape, unknown question id)."""


def hidden_file(hidden_dir: str | Path, lab: str) -> Path:
    return Path(hidden_dir) / f"{lab}.py"


def load_hidden(hidden_dir: str | Path | None, lab: str) -> dict[str, list[Case]]:
    """The hidden cases for ``lab`` by question id; empty if the lab has no file."""
    if hidden_dir is None:
        return {}
    path = hidden_file(hidden_dir, lab)
    if not path.is_file():
        return {}
    module = _import_file(path)
    hidden = getattr(module, "HIDDEN", None)
    if not isinstance(hidden, dict):
        raise HiddenTestsError(f"{path}: expected HIDDEN = {{question_id: [Case(...), ...]}}")
    known = {question.id for question in questions_for_lab(lab)}
    cases_by_id: dict[str, list[Case]] = {}
    for question_id, cases in hidden.items():
        if question_id not in known:
            raise HiddenTestsError(
                f"{path}: {question_id!r} is not a question of {lab} ({', '.join(sorted(known))})"
            )
        if not isinstance(cases, (list, tuple)) or not all(isinstance(case, Case) for case in cases):
            raise HiddenTestsError(f"{path}: HIDDEN[{question_id!r}] must be a list of Case")
        cases_by_id[question_id] = list(cases)
    return cases_by_id


def _import_file(path: Path) -> ModuleType:
    # Lab ids contain dots and dashes, so the file cannot be imported by name.
    name = "_course_hidden_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise HiddenTestsError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses defined in the file look themselves up here
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise HiddenTestsError(f"{path}: {type(error).__name__}: {error}") from error
    finally:
        sys.modules.pop(name, None)
    return module
