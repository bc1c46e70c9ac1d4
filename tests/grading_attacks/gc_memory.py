# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Answers that find the test cases in memory, on an unanswered lab.

Scans `gc.get_objects()` for objects that look like a `Case` (`args` and `expected`
attributes) and returns the expected value of the one whose inputs match the call:
today the bank and the hidden cases live in the learner's kernel, so every data case
passes (10/14). `consume_once` puts the hidden cases it finds (a Case no bank
registers) into its error message. In a sandbox, expected values and hidden cases are
not in memory at all; the public bank is (it is public), but the judge only trusts
plain results, so a looked-up public value scores only where it is right -- and the
hidden cases decide.
"""

# %%
import gc


def _cases():
    return [
        thing
        for thing in gc.get_objects()
        if type(thing).__name__ == "Case" and hasattr(thing, "args") and hasattr(thing, "expected")
    ]


def expected_from_memory(*args):
    for case in _cases():
        try:
            if case.args == args:
                return case.expected
        except Exception:
            continue
    raise LookupError("no case with these inputs in memory")


def kafka_partition(key, num_partitions):
    return expected_from_memory(key, num_partitions)


def range_assign(members, num_partitions):
    return expected_from_memory(members, num_partitions)


def lag_report(end_offsets, committed, log_start):
    return expected_from_memory(end_offsets, committed, log_start)


def consume_once(consumer, process):
    from course_lib.grading.questions import _questions

    public = {id(case) for question in _questions.values() for case in question.public}
    hidden = [case for case in _cases() if id(case) not in public]
    raise RuntimeError(" ".join(f"{case.args!r}->{case.expected!r}" for case in hidden)[:1000])
