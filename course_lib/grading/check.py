"""``check("10.1-q1", answer)``: the learner's feedback cell.

``check`` runs a question's public tests and returns a report that displays
itself in the notebook. It never raises for a broken answer -- a learner's
bug must not stop the rest of their notebook -- only for a question id that
does not exist, which is a mistake in the notebook rather than the answer.

It is feedback, not grading: it runs in the learner's kernel, shows no
points ("public tests: 5/5 -- hidden tests will also count"), and while its
cases run, the library parts the question asks for refuse, as they will
when the notebook is graded. Inside the grading sandbox it does nothing:
the grader runs the tests itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from course_lib.grading.feedback import render
from course_lib.grading.questions import get
from course_lib.grading.references import refusing
from course_lib.grading.runner import DEFAULT_TEST_TIMEOUT, QuestionResult, run_question

_grading = False


def while_grading() -> None:
    """Called by the grading sandbox: from then on ``check`` does nothing (the grader tests)."""
    global _grading
    _grading = True


@dataclass(repr=False)
class CheckReport:
    """What ``check`` returns; shows as plain text in Jupyter and in ``print``."""

    question_id: str
    text: str
    result: QuestionResult | None = None

    @property
    def score(self) -> float:
        """Points from the public tests alone; the grade also counts hidden tests."""
        return self.result.score if self.result else 0.0

    @property
    def max_score(self) -> float:
        return self.result.question.points if self.result else 0.0

    @property
    def passed(self) -> int:
        return self.result.passed if self.result else 0

    @property
    def total(self) -> int:
        return self.result.total if self.result else 0

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.text}


def check(question_id: str, answer: Any, timeout: float = DEFAULT_TEST_TIMEOUT) -> CheckReport:
    """Run the public tests of ``question_id`` against ``answer``.

    Each test gets ``timeout`` seconds (on the main thread of a Unix process;
    elsewhere tests run without a limit). Raises ``UnknownQuestion`` (a
    ``KeyError``) for an id no question bank defines.
    """
    question = get(question_id)
    if _grading:
        return CheckReport(question_id, f"{question.id} {question.title}: check() does not run while grading")
    try:
        with refusing(question.writes):
            result = run_question(question, answer, timeout)
        return CheckReport(question_id, render(result, graded=False), result)
    except Exception as error:  # a bug in a bank's custom driver, say: report, don't stop the notebook
        text = f"{question.id} {question.title}: the tests could not run ({type(error).__name__}: {error})"
        return CheckReport(question_id, text)
