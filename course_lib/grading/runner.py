"""Run an answer against its cases, one time-limited call at a time.

Everything a learner's answer can do wrong -- raise, loop forever, print
megabytes, return something whose ``==`` or ``repr`` explodes -- ends up as
text in a ``CaseResult`` instead of escaping into the caller. That is what
lets ``check`` promise never to stop a notebook, and the grader promise that
an endless loop costs one test, not the whole notebook.
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

from course_lib.grading.questions import Case, Question, readable, shorten

DEFAULT_TEST_TIMEOUT = 3.0  # seconds per case
PRINTED_LINES = 4  # lines of an answer's own output shown on failure
PRINTED_CHARS = 2000  # characters of an answer's output kept at all

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


class TestTimeout(BaseException):
    """Raised inside an answer that runs past its time limit.

    A ``BaseException`` like ``KeyboardInterrupt``, so that an answer's own
    ``except Exception: continue`` cannot swallow it and keep looping.
    """

    __test__ = False  # not a pytest test class, despite the name


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


@dataclass
class QuestionResult:
    """All case results of one question; ``problem`` says why none could run."""

    question: Question
    public: list[CaseResult]
    hidden: list[CaseResult] = field(default_factory=list)
    problem: str | None = None

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.public + self.hidden)

    @property
    def total(self) -> int:
        return len(self.public) + len(self.hidden)

    @property
    def score(self) -> float:
        """Partial credit: the question's points times the share of cases passed."""
        return self.question.points * self.passed / self.total


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
    shown_input = case.shown_input()
    expected = describe_expected(case)
    printed = _LimitedText(PRINTED_CHARS)
    not_answered = timed_out = False
    try:
        with time_limit(timeout), redirect_stdout(printed), redirect_stderr(printed):
            passed, actual = _attempt(answer, case)
    except NotImplementedError:
        passed, actual, not_answered = False, "not answered yet (raised NotImplementedError)", True
    except TestTimeout:
        passed, actual, timed_out = False, f"did not finish within {timeout:g} s (an endless loop?)", True
    return CaseResult(
        passed=passed,
        shown_input=shown_input,
        expected=expected,
        actual=actual,
        printed="" if passed else printed.summary(PRINTED_LINES),
        not_answered=not_answered,
        timed_out=timed_out,
    )


def _attempt(answer: Any, case: Case) -> tuple[bool, str]:
    """Call the answer and compare; returns (passed, what actually happened)."""
    try:
        if case.call is not None:
            actual = case.call(answer)
        else:
            # Copies, so an answer that mutates its input cannot change the case.
            actual = answer(*_fresh(case.args), **_fresh(case.kwargs))
    except NotImplementedError:
        raise
    except (Exception, SystemExit) as error:
        expected_error = case.raises is not None and isinstance(error, case.raises)
        if expected_error and (case.match is None or case.match in _message(error)):
            return True, f"raised {describe_error(error)}"
        return False, f"raised {describe_error(error)}"
    if case.raises is not None:
        return False, f"returned {readable(actual)}"
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
    """Run every public and hidden case; the score is the share passed."""
    problem = answer_problem(question, answer)
    if problem is not None:
        return unanswerable(question, problem, hidden_count=len(hidden_cases))
    results = _run_until_timeout(answer, [*question.public, *hidden_cases], timeout)
    public, hidden = results[: len(question.public)], results[len(question.public) :]
    result = QuestionResult(question, public, hidden)
    if all(case.not_answered for case in public + hidden):
        result.problem = (
            "not answered yet: replace `raise NotImplementedError()` in "
            f"{question.answer_name} with your code"
        )
    return result


def _run_until_timeout(answer: Any, cases: Sequence[Case], timeout: float | None) -> list[CaseResult]:
    """Run the cases in order; once one times out, fail the rest without running them.

    An answer that loops forever on one input almost always loops on the others
    too: waiting out every case would make a learner's ``check`` hang for
    cases x timeout seconds to report the same thing.
    """
    results: list[CaseResult] = []
    for case in cases:
        if any(r.timed_out for r in results):
            results.append(
                CaseResult(
                    passed=False,
                    shown_input=case.shown_input(),
                    expected=describe_expected(case),
                    actual="not run: an earlier test of this question did not finish in time",
                )
            )
        else:
            results.append(run_case(answer, case, timeout))
    return results


def unanswerable(question: Question, problem: str, hidden_count: int = 0) -> QuestionResult:
    """A result with every case failed for one reason, e.g. a missing answer."""
    failed = [
        CaseResult(
            passed=False, shown_input=case.shown_input(), expected=describe_expected(case), actual=problem
        )
        for case in question.public
    ]
    hidden = [
        CaseResult(passed=False, shown_input="", expected="", actual=problem) for _ in range(hidden_count)
    ]
    return QuestionResult(question, failed, hidden, problem=problem)


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


class _LimitedText(io.TextIOBase):
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
