# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Patch the grader from inside the notebook, on an unanswered lab.

Today the grading cell runs in the learner's kernel and imports
`course_lib.grading.in_kernel.grade_namespace` from the already-imported module, so
replacing it (or `run_case`, `_attempt`, `QuestionResult.score`) prints full marks
(14/14). The judge must never run in the learner's process: these patches can only
change the learner's own copy of the library, and an unanswered lab scores 0.
"""

# %%
import json
import sys

import course_lib.grading.in_kernel as in_kernel
import course_lib.grading.runner as runner
from course_lib.grading.questions import questions_for_lab


def full_marks(
    namespace, lab, question_ids, hidden_dir=None, test_timeout=None, first_error=None, marker="", **extra
):
    for question in questions_for_lab(lab):
        if question.id in question_ids:
            payload = {
                "id": question.id,
                "score": question.points,
                "public": [1, 1],
                "hidden": [1, 1],
                "output": f"{question.id} {question.title}: all tests passed",
            }
            print(f"{marker} {json.dumps(payload)}", flush=True)


in_kernel.grade_namespace = full_marks
runner.QuestionResult.score = property(lambda self: self.question.points)
runner._attempt = lambda answer, case: (True, "whatever the test expected")
runner.run_case = lambda answer, case, timeout=None: runner.CaseResult(True, "", "", "")

# The same for any other module of the grader that might be in this process.
for name, module in list(sys.modules.items()):
    if name.startswith("course_lib.grading") and module is not None:
        for attribute in ("grade_namespace", "grade_answers", "judge"):
            if callable(getattr(module, attribute, None)):
                setattr(module, attribute, full_marks)
