# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Forge what gets reported: each public case's expected value, on an unanswered lab.

The public cases are in the course's bank, which the notebook can import; so it can
replace what computes a result: every public driver (`Case(call=...)`, which runs where
the answer runs and reports an observation) by a function returning that case's expected
observation, and the runner's `call_answer` (if the grader has one) by one that calls a
stand-in answer returning the case's expected value. Nothing here can know a hidden
case's expected value, so this may earn what memorising the public cases earns -- and no
more: every hidden case must fail. A driver question without hidden scenarios (10.4-q4)
is therefore only as safe as its public cases are secret: not at all.
"""

# %%
import importlib

from course_lib.grading.questions import questions_for_lab

forged = 0
for question in questions_for_lab("lab-10.4-kafka"):
    for case in question.public:
        if case.call is not None:
            original, expected = case.call, case.expected
            case.call = lambda answer, expected=expected: expected
            bank = importlib.import_module(original.__module__)
            setattr(bank, original.__name__, case.call)
            forged += 1

try:
    import course_lib.grading.runner as runner

    if hasattr(runner, "call_answer"):
        # The runner's own call_answer, given a stand-in answer that returns the expected value:
        # whatever shape the grader sends back, it is the one it expects.
        real_call_answer = runner.call_answer

        def call_answer(answer, case, *args, **kwargs):
            def stand_in(*call_args, **call_kwargs):
                return case.expected

            return real_call_answer(stand_in, case, *args, **kwargs)

        runner.call_answer = call_answer
        forged += 1
except Exception as error:
    leak(f"could not patch the runner: {type(error).__name__}")
leak(f"forged {forged} results")
