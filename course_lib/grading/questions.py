"""What a question is, and where the course keeps them.

A *question* is a function (or class) the learner writes in a lab notebook.
Its tests are *cases*: inputs plus the expected result. Question banks are
ordinary modules that call ``register(Question(...))`` when imported; they
are imported lazily, the first time a lab's questions are needed, so that
``import course_lib.grading`` stays cheap and a broken bank only breaks its
own lab.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Lab id -> module holding that lab's questions. Add a line per lab.
BANKS: dict[str, str] = {
    "course-map": "course_lib.grading.bank_course_map",
    "lab-10.1-events": "course_lib.grading.bank_lab_10_1",
    "lab-10.2-event-sourcing": "course_lib.grading.bank_lab_10_2",
    "lab-10.3-cqrs": "course_lib.grading.bank_lab_10_3",
    "lab-10.4-kafka": "course_lib.grading.bank_lab_10_4",
    "lab-10.5-brokers": "course_lib.grading.bank_lab_10_5",
    "lab-10.6-idempotency": "course_lib.grading.bank_lab_10_6",
    "lab-11.1-replication": "course_lib.grading.bank_lab_11_1",
    "lab-11.2-sharding": "course_lib.grading.bank_lab_11_2",
    "lab-11.3-cap": "course_lib.grading.bank_lab_11_3",
    "lab-11.4-dynamo": "course_lib.grading.bank_lab_11_4",
}

# Extra banks as "lab-id=module.path,lab2=other.module"; the grader's tests
# use it so that a notebook kernel can find a demo bank outside the package.
BANKS_ENV_VAR = "COURSE_GRADING_BANKS"

INPUT_LIMIT = 300  # characters of an input shown to the learner


@dataclass
class Case:
    """One test of an answer: call it with ``args``/``kwargs``, expect ``expected``.

    ``compare(actual, expected)`` replaces ``==`` where equality is too strict
    (floats, unordered results). ``raises`` expects the call to raise that
    exception instead, optionally with ``match`` in its message.
    ``call(answer) -> actual`` drives answers that a single call cannot test,
    such as classes; its input cannot be guessed from ``args``, so ``show``
    (how the input reads to the learner) is then required. The driver runs
    next to the learner's code, in the grading sandbox, and its result (an
    *observation*: plain data) is compared in the judge.
    ``weight`` is the case's share of the question's points relative to the
    others (default 1; a hidden-tests file may set a default for its cases).
    """

    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    expected: Any = None
    compare: Callable[[Any, Any], bool] | None = None
    raises: type[BaseException] | None = None
    match: str | None = None
    show: str | None = None
    call: Callable[[Any], Any] | None = None
    weight: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.args, tuple):
            # Case(args=5) would otherwise fail much later, inside a learner's kernel.
            raise TypeError(f"Case.args must be a tuple, got {type(self.args).__name__}: use args=(value,)")
        if self.call is not None and self.show is None:
            raise ValueError("a Case with a custom call needs show= to describe its input")
        if self.raises is not None and issubclass(self.raises, NotImplementedError):
            # NotImplementedError is how an unanswered lab stub signals itself.
            raise ValueError("a Case cannot expect NotImplementedError: it marks an unanswered question")
        if self.match is not None and self.raises is None:
            raise ValueError("match= only makes sense together with raises=")
        if self.weight is not None and not self.weight > 0:
            raise ValueError(f"a Case's weight must be more than 0, got {self.weight!r}")

    @property
    def share(self) -> float:
        """The case's weight (1 unless set)."""
        return 1.0 if self.weight is None else float(self.weight)

    def shown_input(self) -> str:
        """The input as the learner sees it: the call's arguments, shortened."""
        if self.show is not None:
            return self.show
        parts = [readable(arg) for arg in self.args]
        parts += [f"{name}={readable(value)}" for name, value in self.kwargs.items()]
        return shorten(", ".join(parts) or "(no arguments)")


@dataclass
class Question:
    """A function or class the learner writes, worth ``points``.

    ``answer_name`` is the name the notebook defines; the grader looks it up
    in the notebook's namespace, so it must match the lab's starter code.
    ``writes`` names the library parts the question asks the learner to write
    (dotted paths to functions, methods or classes, third-party ones too):
    while this question is graded -- and while ``check`` runs it -- they
    refuse to run, and an answer that uses them scores 0 (see ``references``).
    """

    id: str
    title: str
    answer_name: str
    points: float
    public: list[Case]
    lab: str
    writes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.public:
            raise ValueError(f"question {self.id} needs at least one public case")
        if self.points <= 0:
            raise ValueError(f"question {self.id} must be worth more than 0 points")
        if isinstance(self.writes, str) or not all(isinstance(name, str) for name in self.writes):
            raise TypeError(f"question {self.id}: writes= is a tuple of dotted names")
        self.writes = tuple(self.writes)


class UnknownQuestion(KeyError):
    """Raised by ``get`` for an id no bank registers."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class UnknownLab(LookupError):
    """Raised when no bank exists for a lab, or it cannot be imported."""


_questions: dict[str, Question] = {}
_bank_errors: dict[str, str] = {}


def register(question: Question) -> Question:
    """Add a question (re-registering an id replaces it, so banks can be reloaded)."""
    _questions[question.id] = question
    return question


def banks() -> dict[str, str]:
    """The bank table: ``BANKS`` plus any pairs from $COURSE_GRADING_BANKS."""
    table = dict(BANKS)
    for pair in os.environ.get(BANKS_ENV_VAR, "").split(","):
        if not pair.strip():
            continue
        lab, sep, module = pair.partition("=")
        if not sep or not lab.strip() or not module.strip():
            raise ValueError(f"{BANKS_ENV_VAR}: expected lab-id=module.path, got {pair!r}")
        table[lab.strip()] = module.strip()
    return table


def load_bank(lab: str) -> None:
    """Import the bank module for ``lab`` if the table names one."""
    module = banks().get(lab)
    if module is None:
        return
    try:
        importlib.import_module(module)
    except Exception as error:  # a bank with a bug must not hide the other labs
        _bank_errors[lab] = f"could not import {module} ({type(error).__name__}: {error})"
        raise UnknownLab(f"question bank for {lab}: {_bank_errors[lab]}") from error
    _bank_errors.pop(lab, None)


def questions_for_lab(lab: str) -> list[Question]:
    """The lab's questions in the order the bank registered them."""
    load_bank(lab)
    found = [question for question in _questions.values() if question.lab == lab]
    if not found:
        known = sorted(set(banks()) | {question.lab for question in _questions.values()})
        raise UnknownLab(f"no questions registered for lab {lab!r}; known labs: {', '.join(known) or 'none'}")
    return found


def get(question_id: str) -> Question:
    """The question with this id, importing banks until one registers it."""
    if not isinstance(question_id, str):
        raise UnknownQuestion(
            f"a question id is a string like '10.1-q1', got {type(question_id).__name__}: "
            "check takes the id first, then your answer"
        )
    if question_id not in _questions:
        for lab in banks():
            try:
                load_bank(lab)
            except UnknownLab:
                pass  # remembered in _bank_errors and reported below if it matters
            if question_id in _questions:
                break
    if question_id in _questions:
        return _questions[question_id]
    raise UnknownQuestion(_unknown_message(question_id))


def _unknown_message(question_id: str) -> str:
    prefix = question_id.rpartition("-")[0]
    similar = [known for known in _questions if prefix and known.rpartition("-")[0] == prefix]
    message = f"unknown question id {question_id!r}"
    if similar:
        return message + f"; known ids: {', '.join(similar)}"
    if _questions:
        message += f"; known ids: {', '.join(sorted(_questions))}"
    # No similar id is known, so the question may be in a bank that failed to import.
    for lab, error in sorted(_bank_errors.items()):
        message += f" (question bank for {lab}: {error})"
    return message


def shorten(text: str, limit: int = INPUT_LIMIT) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut with ' ...'."""
    return text if len(text) <= limit else text[: limit - 4] + " ..."


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def readable(value: Any, limit: int = INPUT_LIMIT) -> str:
    """``repr(value)`` made safe to show and to compare between runs.

    Memory addresses ("<Foo object at 0x7f...>") are removed because they
    change on every run and nbval compares outputs byte for byte; a
    ``__repr__`` that raises is reported instead of propagating.
    """
    try:
        text = repr(value)
    except Exception as error:
        text = f"<{type(value).__name__} whose repr() raised {type(error).__name__}>"
    return shorten(_ADDRESS.sub("", text), limit)
