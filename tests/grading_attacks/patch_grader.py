# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Patch the grader from inside the notebook, on an unanswered lab: claim full marks.

Today the grading cell runs in the learner's kernel and imports
`course_lib.grading.in_kernel.grade_namespace` from the already-imported module, so
replacing it (or `run_case`, `_attempt`, `QuestionResult.score`) prints full marks
(14/14). Every patch is tried on its own, so a grader without one of these names still
gets the others, and every loaded module of course_lib.grading gets the same treatment.
The judge must never run in the learner's process, and never take a claim of success
from it: these patches change the learner's own copy of the library only, and an
unanswered lab scores 0. (Forging *values* is `forge_results.py`.)
"""

# %%
import importlib
import json
import sys

from course_lib.grading.questions import questions_for_lab


def full_marks(namespace, lab, question_ids, *args, marker="", **kwargs):
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


def patch(module_name, attribute, value):
    try:
        module = importlib.import_module(module_name)
        if hasattr(module, attribute):
            setattr(module, attribute, value)
            leak(f"patched {module_name}.{attribute}")
    except Exception as error:
        leak(f"could not patch {module_name}.{attribute}: {type(error).__name__}")


patch("course_lib.grading.in_kernel", "grade_namespace", full_marks)
patch("course_lib.grading.runner", "_attempt", lambda answer, case: (True, "whatever the test expected"))
try:
    import course_lib.grading.runner as runner

    runner.QuestionResult.score = property(lambda self: self.question.points)
    runner.QuestionResult.passed = property(lambda self: self.total)
    runner.run_case = lambda answer, case, timeout=None, **kwargs: runner.CaseResult(True, "", "", "")
except Exception as error:
    leak(f"could not patch the runner: {type(error).__name__}")

for name, module in list(sys.modules.items()):
    if name.startswith("course_lib.grading") and module is not None:
        for attribute in ("grade_namespace", "grade_answers", "judge", "grade_notebook"):
            if callable(getattr(module, attribute, None)):
                setattr(module, attribute, full_marks)
