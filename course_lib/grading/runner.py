"""Run an answer against its cases, one time-limited call at a time.

Everything a learner's answer can do wrong -- raise, loop forever, print
megabytes, return something whose ``==`` or ``repr`` explodes -- ends up as
text in a ``CaseResult`` instead of escaping into the caller. That is what
lets ``check`` promise never to stop a notebook, and the grader promise that
an endless loop costs one test, not the whole notebook.

A case has two halves. ``call_answer`` runs the learner's code (in the
learner's own kernel for ``check``, in the grading sandbox when graded) and
returns an ``Outcome``: the result as plain data, or the exception's type
names and message. ``judge_outcome`` compares an outcome with the case's
expected value; the grader does that in its own process, where no learner
code runs. ``run_case`` does both in one process, for ``check``.
"""

from __future__ import annotations

import copy
import io
import signal
import sysconfig
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_lib.grading.channel import NotPlainData, to_plain
from course_lib.grading.questions import Case, Question, readable, shorten
from course_lib.grading.references import ReferenceUnavailable, note, take_hits

DEFAULT_TEST_TIMEOUT = 3.0  # seconds per case
PRINTED_LINES = 4  # lines of an answer's own output shown on failure
PRINTED_CHARS = 2000  # characters of an answer's output kept at all
MESSAGE_CHARS = 10_000  # characters of an exception's message kept for raises/match

# Frames from these folders are not the learner's code, so a failure is
# located at the learner's last line rather than deep inside json or re.
_NOT_LEARNER_CODE = tuple(
    folder
    for folder in [
        str(Path(__file__).resolve().parent),
        *(sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")),
    ]
    if folder
)

NOT_PLAIN_HINT = "return plain values: numbers, strings, bytes, lists, tuples, dicts, sets or None"


class TestTimeout(BaseException):
    """Raised inside an answer that runs past its time limit.

    A ``BaseException`` like ``KeyboardInterrupt``, so that an answer's own
    ``except Exception: continue`` cannot swallow it and keep looping.
    """

    __test__ = False  # not a pytest test class, despite the name


# What calling an answer did (Outcome.kind).
RETURNED = "returned"
RAISED = "raised"
NOT_ANSWERED = "not answered"
TIMED_OUT = "timed out"
NOT_PLAIN = "not plain"
UNRUNNABLE = "unrunnable"  # the judge's own: the sandbox could not set the case up


@dataclass
class Outcome:
    """What one call of an answer (or of a case's driver) did, as plain data.

    ``value`` is what it returned (already checked to be plain data);
    ``error_types`` the raised exception's classes as (module, qualname), most
    specific first, with its ``error_message``; ``description`` is the
    learner-facing text for a raise or a refused value. ``hits`` names the
    refusing library parts the call ran into (see ``references``).
    """

    kind: str
    value: Any = None
    error_types: tuple[tuple[str, str], ...] = ()
    error_message: str = ""
    description: str = ""
    printed: str = ""
    hits: frozenset[str] = frozenset()

    def to_message(self) -> dict[str, Any]:
        """The outcome as the sandbox sends it."""
        return {
            "kind": self.kind,
            "value": self.value,
            "error_types": [list(pair) for pair in self.error_types],
            "error_message": self.error_message,
            "description": self.description,
            "printed": self.printed,
            "hits": sorted(self.hits),
        }

    @classmethod
    def from_message(cls, message: Any) -> Outcome:
        """Rebuild an outcome from the sandbox's (untrusted, plain) message."""
        if not isinstance(message, dict):
            raise ValueError("an outcome must be a dict")
        kind = message.get("kind")
        if kind not in (RETURNED, RAISED, NOT_ANSWERED, TIMED_OUT, NOT_PLAIN):
            raise ValueError(f"unknown outcome kind {kind!r}")
        pairs = message.get("error_types", [])
        if not isinstance(pairs, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
            for pair in pairs
        ):
            raise ValueError("error_types must be [module, name] pairs")
        texts = [message.get(key, "") for key in ("error_message", "description", "printed")]
        if not all(isinstance(text, str) for text in texts):
            raise ValueError("outcome texts must be strings")
        hits = message.get("hits", [])
        if not isinstance(hits, list) or not all(isinstance(hit, str) for hit in hits):
            raise ValueError("hits must be a list of names")
        return cls(
            kind=kind,
            value=message.get("value"),
            error_types=tuple((module, name) for module, name in pairs),
            error_message=texts[0][:MESSAGE_CHARS],
            description=shorten(texts[1], 1000),
            printed=texts[2][:PRINTED_CHARS],
            hits=frozenset(hits),
        )


@dataclass
class CaseResult:
    """The outcome of one case, already turned into text for the learner."""

    passed: bool
    shown_input: str
    expected: str
    actual: str
    printed: str = ""
    not_answered: bool = False
    timed_out: bool = False
    weight: float = 1.0
    hits: frozenset[str] = frozenset()


@dataclass
class QuestionResult:
    """All case results of one question; ``problem`` says why it scores nothing.

    The score is the question's points times the weighted share of cases
    passed (every case weighs 1 unless its ``weight`` says otherwise), or 0
    when ``refused`` names parts of the library the question asks the
    learner to write and the answer used anyway.
    """

    question: Question
    public: list[CaseResult]
    hidden: list[CaseResult] = field(default_factory=list)
    problem: str | None = None
    refused: frozenset[str] = frozenset()

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.public + self.hidden)

    @property
    def total(self) -> int:
        return len(self.public) + len(self.hidden)

    @property
    def score(self) -> float:
        """Partial credit: the question's points times the weighted share of cases passed."""
        if self.refused:
            return 0.0
        cases = self.public + self.hidden
        weight = sum(case.weight for case in cases)
        passed = sum(case.weight for case in cases if case.passed)
        return self.question.points * passed / weight if weight else 0.0


@contextmanager
def time_limit(seconds: float | None) -> Iterator[bool]:
    """Raise ``TestTimeout`` inside the block once ``seconds`` have passed.

    Uses ``SIGALRM``, which exists only on Unix and can only be set up from
    the main thread -- where Jupyter runs cells, so it works in notebooks.
    Anywhere else the block runs *without* a limit. Yields whether the limit
    is active. The previous handler and timer are restored afterwards.
    """
    if not seconds or seconds <= 0 or not _alarm_available():
        yield False
        return
    armed = True

    def on_alarm(signum: int, frame: Any) -> None:
        if armed:  # a late alarm after the block must not hit the caller
            raise TestTimeout(seconds)

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield True
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler if previous_handler is not None else signal.SIG_DFL)
        if previous_delay > 0:
            remaining = max(previous_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, remaining, previous_interval)


def _alarm_available() -> bool:
    return hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()


def run_case(answer: Any, case: Case, timeout: float | None = DEFAULT_TEST_TIMEOUT) -> CaseResult:
    """Call ``answer`` for one case under a time limit and judge the result."""
    return judge_outcome(case, call_answer(answer, case, timeout), timeout)


def call_answer(
    answer: Any, case: Case, timeout: float | None = DEFAULT_TEST_TIMEOUT, catch_all: bool = False
) -> Outcome:
    """Call ``answer`` (or the case's driver) once, under a time limit.

    The result is checked to be plain data inside the time limit too, since
    that may run the learner's ``__repr__``. ``catch_all`` (the sandbox)
    also turns ``KeyboardInterrupt`` and the like into a raised outcome.
    """
    printed = LimitedText(PRINTED_CHARS)
    take_hits()
    try:
        with time_limit(timeout), redirect_stdout(printed), redirect_stderr(printed):
            outcome = _attempt(answer, case, catch_all)
    except NotImplementedError:
        outcome = Outcome(NOT_ANSWERED)
    except TestTimeout:
        outcome = Outcome(TIMED_OUT)
    outcome.printed = printed.summary(PRINTED_LINES)
    outcome.hits = frozenset(take_hits())
    return outcome


def _attempt(answer: Any, case: Case, catch_all: bool) -> Outcome:
    caught = (BaseException,) if catch_all else (Exception, SystemExit, ReferenceUnavailable)
    try:
        if case.call is not None:
            actual = case.call(answer)
        else:
            # Copies, so an answer that mutates its input cannot change the case.
            actual = answer(*_fresh(case.args), **_fresh(case.kwargs))
    except (NotImplementedError, TestTimeout):
        raise
    except caught as error:
        return raised(error)
    try:
        return Outcome(RETURNED, value=to_plain(actual))
    except NotPlainData as refusal:
        return Outcome(NOT_PLAIN, description=f"{readable(actual)}, which is not plain data ({refusal})")


def raised(error: BaseException) -> Outcome:
    """The outcome of an exception: its classes, message and where it happened."""
    return Outcome(
        RAISED,
        error_types=tuple((kind.__module__, kind.__qualname__) for kind in type(error).__mro__),
        error_message=_message(error)[:MESSAGE_CHARS],
        description=describe_error(error),
    )


def judge_outcome(case: Case, outcome: Outcome, timeout: float | None) -> CaseResult:
    """Compare an outcome with what the case expects (plain data only: no learner code runs)."""
    result = CaseResult(
        passed=False,
        shown_input=case.shown_input(),
        expected=describe_expected(case),
        actual="",
        weight=case.share,
        hits=outcome.hits,
    )
    if outcome.kind == NOT_ANSWERED:
        result.actual, result.not_answered = "not answered yet (raised NotImplementedError)", True
        return result
    if outcome.kind == TIMED_OUT:
        limit = f"{timeout:g} s" if timeout else "its time limit"
        result.actual, result.timed_out = f"did not finish within {limit} (an endless loop?)", True
        return result
    if outcome.kind == RAISED:
        result.passed = _expected_error(case, outcome)
        result.actual = f"raised {outcome.description}"
    elif outcome.kind == NOT_PLAIN:
        result.actual = f"returned {outcome.description}: {NOT_PLAIN_HINT}"
    elif outcome.kind == UNRUNNABLE:
        result.actual = outcome.description
    elif case.raises is not None:
        result.actual = f"returned {readable(outcome.value)}"
    else:
        result.passed, result.actual = _compare(case, outcome.value)
    if not result.passed:
        result.printed = outcome.printed
    return result


def _expected_error(case: Case, outcome: Outcome) -> bool:
    if case.raises is None:
        return False
    wanted = (case.raises.__module__, case.raises.__qualname__)
    return wanted in outcome.error_types and (case.match is None or case.match in outcome.error_message)


def _compare(case: Case, actual: Any) -> tuple[bool, str]:
    try:
        same = bool(case.compare(actual, case.expected) if case.compare else actual == case.expected)
    except Exception as error:
        return False, f"{readable(actual)} (comparing it raised {type(error).__name__})"
    return same, readable(actual)


def run_question(
    question: Question,
    answer: Any,
    timeout: float | None = DEFAULT_TEST_TIMEOUT,
    hidden_cases: Sequence[Case] = (),
) -> QuestionResult:
    """Run every public and hidden case in this process; the score is the share passed."""
    problem = answer_problem(question, answer)
    if problem is not None:
        return unanswerable(question, problem, hidden=hidden_cases)
    results = _run_until_timeout(answer, [*question.public, *hidden_cases], timeout)
    public, hidden = results[: len(question.public)], results[len(question.public) :]
    return finish(question, public, hidden)


def finish(question: Question, public: list[CaseResult], hidden: list[CaseResult]) -> QuestionResult:
    """A question's result from its case results: notes an unanswered stub or a refused part."""
    result = QuestionResult(question, public, hidden)
    used = frozenset().union(*(case.hits for case in public + hidden)) & set(question.writes)
    if used:
        result.refused = frozenset(used)
        result.problem = note(question.answer_name, used)
    elif all(case.not_answered for case in public + hidden):
        result.problem = (
            "not answered yet: replace `raise NotImplementedError()` in "
            f"{question.answer_name} with your code"
        )
    return result


def not_run(case: Case) -> CaseResult:
    """A case skipped because an earlier one of its question timed out."""
    return CaseResult(
        passed=False,
        shown_input=case.shown_input(),
        expected=describe_expected(case),
        actual="not run: an earlier test of this question did not finish in time",
        weight=case.share,
    )


def _run_until_timeout(answer: Any, cases: Sequence[Case], timeout: float | None) -> list[CaseResult]:
    """Run the cases in order; once one times out, fail the rest without running them.

    An answer that loops forever on one input almost always loops on the others
    too: waiting out every case would make a learner's ``check`` hang for
    cases x timeout seconds to report the same thing.
    """
    results: list[CaseResult] = []
    for case in cases:
        if any(r.timed_out for r in results):
            results.append(not_run(case))
        else:
            results.append(run_case(answer, case, timeout))
    return results


def unanswerable(question: Question, problem: str, hidden: Sequence[Case] = ()) -> QuestionResult:
    """A result with every case failed for one reason, e.g. a missing answer."""
    failed = [
        CaseResult(
            passed=False,
            shown_input=case.shown_input(),
            expected=describe_expected(case),
            actual=problem,
            weight=case.share,
        )
        for case in question.public
    ]
    hidden_results = [
        CaseResult(passed=False, shown_input="", expected="", actual=problem, weight=case.share)
        for case in hidden
    ]
    return QuestionResult(question, failed, hidden_results, problem=problem)


def answer_problem(question: Question, answer: Any) -> str | None:
    """Why ``answer`` cannot even be called, or None if it can."""
    name = question.answer_name
    if answer is None:
        return f"got None instead of {name}: pass {name} itself, e.g. check({question.id!r}, {name})"
    if not callable(answer):
        return (
            f"got {type(answer).__name__} {readable(answer, 60)} instead of {name}: "
            f"pass {name} itself, without calling it"
        )
    return None


def describe_expected(case: Case) -> str:
    if case.raises is None:
        return readable(case.expected)
    text = f"raises {case.raises.__name__}"
    if case.match is not None:
        text += f" with {case.match!r} in its message"
    return text


def describe_error(error: BaseException) -> str:
    """``ValueError: bad id (in parse, line 3)``: type, message and where in the learner's code."""
    text = type(error).__name__
    message = _message(error)
    if message:
        text += f": {shorten(message, 200)}"
    location = _learner_location(error)
    if location:
        text += f" ({location})"
    return text


def _message(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return ""


def _learner_location(error: BaseException) -> str:
    """The innermost frame outside this package; file names are left out
    because a notebook's are random temporary paths."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith(_NOT_LEARNER_CODE)
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f"in {frame.name}, line {frame.lineno}"


def _fresh(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except Exception:
        return value  # not copyable (e.g. holds a lock): pass it as is


class LimitedText(io.TextIOBase):
    """A stdout replacement that keeps only the first ``limit`` characters,
    so an answer printing in an endless loop cannot fill the memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.size < self.limit:
            self.kept.append(text[: self.limit - self.size])
        self.size += len(text)
        return len(text)

    def summary(self, max_lines: int) -> str:
        lines = "".join(self.kept).splitlines()
        shown = [shorten(line, 120) for line in lines[:max_lines]]
        hidden_lines = len(lines) - len(shown)
        if hidden_lines > 0 or self.size > self.limit:
            shown.append("... (more output not shown)")
        return "\n".join(shown)
