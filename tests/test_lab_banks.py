"""The question banks: plausible wrong answers lose points, and the reference answers don't.

Each wrong answer is a mistake a learner is likely to make; if a bank's public
tests stop catching one of them, this file says which.
"""

from __future__ import annotations

import copy
import re

import pytest

from course_lib.grading.questions import get
from course_lib.grading.runner import run_question

REQUIRED = ["eventId", "eventType", "aggregateId", "aggregateType", "timestamp", "version", "metadata", "payload"]
TS = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"


def score(question_id: str, answer) -> tuple[float, float]:
    question = get(question_id)
    return run_question(question, answer, timeout=2).score, question.points


# -- reference answers (the same logic as solutions/, kept independent of the notebook) --

def find_problems(envelope, *, bool_is_int=False, loose_ts=False, check_meta=True, sort=True,
                  skip_missing=False):
    problems = [] if skip_missing else [k for k in REQUIRED if k not in envelope]
    def bad(key, ok):
        if key in envelope and not ok(envelope[key]):
            problems.append(key)
    bad("eventId", lambda v: isinstance(v, str) and v.startswith("evt_") and len(v) > 4)
    bad("timestamp", lambda v: isinstance(v, str) and (loose_ts or re.fullmatch(TS, v)))
    bad("version", lambda v: (isinstance(v, int) if bool_is_int else type(v) is int) and v >= 1)
    bad("metadata", lambda v: isinstance(v, dict))
    bad("payload", lambda v: isinstance(v, dict))
    meta = envelope.get("metadata")
    if check_meta and isinstance(meta, dict):
        problems += [f"metadata.{k}" for k in ("correlationId", "source") if not (isinstance(meta.get(k), str) and meta.get(k))]
    return sorted(problems) if sort else problems


def follow_up(parent, event_type, payload, *, event_id, timestamp, source, mistake=None):
    child = {
        "eventId": event_id, "eventType": event_type,
        "aggregateId": parent["aggregateId"], "aggregateType": parent["aggregateType"],
        "timestamp": timestamp, "version": 1,
        "metadata": {"correlationId": parent["metadata"]["correlationId"], "causationId": parent["eventId"],
                     "userId": parent["metadata"]["userId"], "source": source},
        "payload": payload,
    }
    if mistake == "causation copied":
        child["metadata"]["causationId"] = parent["metadata"]["causationId"]
    elif mistake == "new correlation":
        child["metadata"]["correlationId"] = event_id
    elif mistake == "mutates parent":
        parent["metadata"]["causationId"] = parent["eventId"]
        child["metadata"] = parent["metadata"]
        child["metadata"]["source"] = source
    elif mistake == "forgets user":
        child["metadata"]["userId"] = None
    return child


def causal_chain(events, event_id, *, mistake=None):
    by_id = {e["eventId"]: e for e in events}
    if mistake == "assumes order":
        ids = [e["eventId"] for e in events]
        return ids[: ids.index(event_id) + 1]
    if event_id not in by_id:
        if mistake == "returns empty":
            return []
        raise KeyError(event_id)
    chain = [event_id]
    cause = by_id[event_id]["metadata"]["causationId"]
    if mistake == "parent only":
        return [cause, event_id] if cause in by_id else [event_id]
    while cause in by_id:
        chain.append(cause)
        cause = by_id[cause]["metadata"]["causationId"]
    if mistake == "includes command" and cause is not None:
        chain.append(cause)
    return chain if mistake == "leaf first" else chain[::-1]


def test_reference_answers_score_full_marks():
    assert score("10.1-q1", find_problems) == (4, 4)
    assert score("10.1-q2", follow_up) == (3, 3)
    assert score("10.1-q3", causal_chain) == (3, 3)


WRONG_Q1 = {
    "treats True as version 1": lambda e: find_problems(e, bool_is_int=True),
    "accepts isoformat timestamps": lambda e: find_problems(e, loose_ts=True),
    "ignores metadata fields": lambda e: find_problems(e, check_meta=False),
    "forgets to sort": lambda e: find_problems(e, sort=False),
    "misses absent keys": lambda e: find_problems(e, skip_missing=True),
    "raises on a bad envelope": lambda e: [k for k in REQUIRED if k not in e] + (
        [] if e["metadata"]["correlationId"] else []),
}

WRONG_Q2 = {m: (lambda m: lambda *a, **k: follow_up(*a, **k, mistake=m))(m)
            for m in ("causation copied", "new correlation", "mutates parent", "forgets user")}

WRONG_Q3 = {m: (lambda m: lambda *a, **k: causal_chain(*a, **k, mistake=m))(m)
            for m in ("assumes order", "returns empty", "parent only", "includes command", "leaf first")}


@pytest.mark.parametrize("question_id, mistake, answer", [
    *(("10.1-q1", name, fn) for name, fn in WRONG_Q1.items()),
    *(("10.1-q2", name, fn) for name, fn in WRONG_Q2.items()),
    *(("10.1-q3", name, fn) for name, fn in WRONG_Q3.items()),
    ("00-q1", "float arithmetic", lambda amount: int(float(amount) * 100)),
    ("00-q1", "rounds instead of refusing a third decimal", lambda amount: round(float(amount) * 100)),
    ("00-q1", "string surgery drops leading digits", lambda amount: int(amount.replace(".", "")[-4:])),
])
def test_a_plausible_wrong_answer_loses_points(question_id, mistake, answer):
    earned, points = score(question_id, answer)
    assert earned < points, f"{question_id}: the mistake '{mistake}' still scores full marks"


def test_the_parent_event_is_not_shared_between_cases():
    # A mutating answer must not poison the bank's own data for later cases or questions.
    from course_lib.grading import bank_lab_10_1 as bank

    before = copy.deepcopy(bank.PARENT)
    score("10.1-q2", WRONG_Q2["mutates parent"])
    assert bank.PARENT == before
