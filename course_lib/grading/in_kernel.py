"""The half of the grader that runs inside the learner's kernel.

After executing a notebook, the grader appends one cell that calls
``grade_namespace``. It grades the answers the notebook *defined* (looked
up by name in the kernel's globals), not the learner's ``check`` cells, so
deleting or editing a check cell cannot change the score.

Results travel back as printed lines: ``<marker> <json>``, one per
question, printed as soon as that question is graded. If an answer crashes
the kernel, the grader knows which question was running from the first
line that never arrived. The JSON carries numbers and the learner-facing
text only; hidden cases' inputs never leave the kernel.

This is not a sandbox: the learner's code runs in the same process.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from course_lib.grading.feedback import render
from course_lib.grading.hidden import load_hidden
from course_lib.grading.questions import questions_for_lab
from course_lib.grading.runner import QuestionResult, run_question, unanswerable

MARKER = "@@course-grading"


def grade_namespace(
    namespace: dict[str, Any],
    lab: str,
    question_ids: Sequence[str],
    hidden_dir: str | None,
    test_timeout: float,
    first_error: str | None,
    marker: str,
) -> None:
    """Grade ``question_ids`` against the answers in ``namespace``, printing one line each."""
    questions = {question.id: question for question in questions_for_lab(lab)}
    hidden = load_hidden(hidden_dir, lab)
    for question_id in question_ids:
        question = questions[question_id]
        hidden_cases = hidden.get(question_id, [])
        if question.answer_name in namespace:
            result = run_question(question, namespace[question.answer_name], test_timeout, hidden_cases)
        else:
            problem = (
                f"`{question.answer_name}` is not defined: did the cell that defines it run without errors?"
            )
            if first_error:
                problem += f" ({first_error})"
            result = unanswerable(question, problem, hidden_count=len(hidden_cases))
        print(f"{marker} {json.dumps(to_payload(result))}", file=sys.stdout, flush=True)


def to_payload(result: QuestionResult) -> dict[str, Any]:
    """What the grader needs from one question: numbers and visible text."""
    return {
        "id": result.question.id,
        "score": result.score,
        "public": [sum(case.passed for case in result.public), len(result.public)],
        "hidden": [sum(case.passed for case in result.hidden), len(result.hidden)],
        "output": render(result, graded=True),
    }
