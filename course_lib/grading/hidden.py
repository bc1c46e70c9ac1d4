"""Hidden tests: cases the instructor keeps out of the learners' repository.

``--hidden DIR`` holds one Python file per lab, named after the lab
(``lab-10.1-events.py``), defining::

    from course_lib.grading import Case

    HIDDEN = {
        "10.1-q1": [Case(args=({"eventId": ""},), raises=ValueError)],
    }

They count toward the score like public cases -- each weighs 1 unless its
``Case(weight=...)`` says otherwise, and an optional ``WEIGHT = 3`` (or
``WEIGHT = {"10.1-q1": 3}``) gives the file's cases a default weight -- but
learners only ever see "hidden test 2: failed": never the input, expected
value or code.

When a notebook is graded, a hidden case's *inputs* go into the sandbox (the
answer must be called with them); its expected value, ``compare`` and
``raises`` stay with the judge, and this file is never visible there. A
hidden ``Case(call=...)`` therefore names a public driver: a module-level
function of ``course_lib`` or of a question bank (or a ``functools.partial``
of one with plain arguments), called as ``call(answer)``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import pickle
import re
import sys
import threading
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

from course_lib.grading.questions import Case, banks, questions_for_lab


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
    weights = _weights(path, getattr(module, "WEIGHT", None), known)
    cases_by_id: dict[str, list[Case]] = {}
    for question_id, cases in hidden.items():
        if question_id not in known:
            raise HiddenTestsError(
                f"{path}: {question_id!r} is not a question of {lab} ({', '.join(sorted(known))})"
            )
        if not isinstance(cases, (list, tuple)) or not all(isinstance(case, Case) for case in cases):
            raise HiddenTestsError(f"{path}: HIDDEN[{question_id!r}] must be a list of Case")
        default = weights.get(question_id)
        weighted = [
            dataclasses.replace(case, weight=default) if case.weight is None and default else case
            for case in cases
        ]
        for number, case in enumerate(weighted, 1):
            try:
                sandbox_inputs(case)
            except HiddenTestsError as error:
                raise HiddenTestsError(f"{path}: HIDDEN[{question_id!r}] case {number}: {error}") from None
        cases_by_id[question_id] = weighted
    return cases_by_id


def _weights(path: Path, weight: Any, known: set[str]) -> dict[str, float]:
    """WEIGHT as a default weight per question id."""
    if weight is None:
        return {}
    table = weight if isinstance(weight, dict) else dict.fromkeys(known, weight)
    for question_id, value in table.items():
        if question_id not in known:
            raise HiddenTestsError(
                f"{path}: WEIGHT names {question_id!r}, which is not a question of this lab"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise HiddenTestsError(
                f"{path}: WEIGHT must be a number above 0, or a dict of them; got {value!r}"
            )
    return {question_id: float(value) for question_id, value in table.items()}


def sandbox_inputs(case: Case) -> tuple[tuple, dict[str, Any], Any]:
    """What of a hidden case enters the sandbox: (args, kwargs, call) -- never its expected value.

    Raises ``HiddenTestsError`` when they cannot be sent: inputs that do not
    pickle, or a ``call`` that is not a public driver.
    """
    if case.call is not None:
        _check_public_driver(case.call)
    value = (case.args, case.kwargs, case.call)
    try:
        pickle.dumps(value, protocol=4)
    except Exception as error:
        raise HiddenTestsError(
            f"its inputs cannot be sent to the sandbox ({type(error).__name__}: {error})"
        ) from None
    return value


def _check_public_driver(call: Any) -> None:
    function = call
    while isinstance(function, functools.partial):
        function = function.func
    if not isinstance(function, FunctionType) or "<" in function.__qualname__:
        raise HiddenTestsError(
            "call= must be a module-level function of course_lib or of a question bank "
            "(or functools.partial of one), not a lambda or a function defined here"
        )
    module = function.__module__
    public = module.split(".")[0] == "course_lib" or module in banks().values()
    if not public:
        raise HiddenTestsError(
            f"call= names {module}.{function.__qualname__}, but the sandbox only has course_lib and the "
            "question banks: define drivers there and give the data as arguments"
        )


_import_lock = threading.Lock()  # grade_notebook runs in several threads; sys.modules is shared


def _import_file(path: Path) -> ModuleType:
    with _import_lock:
        return _import_file_unlocked(path)


def _import_file_unlocked(path: Path) -> ModuleType:
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
