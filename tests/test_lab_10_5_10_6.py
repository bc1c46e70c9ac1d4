"""Labs 10.5 and 10.6: reference answers score full marks, plausible wrong answers lose points,
the banks' expected values agree with the conformance-checked library, and the grader gives
the solutions full marks and the generated labs zero.
"""

from __future__ import annotations

import time as real_time
import types

import fakeredis
import pytest
import redis

from course_lib.delivery import IdempotentConsumer, out_of_order
from course_lib.exchanges import SimClock, headers_match, nats_subject_matches, topic_matches
from course_lib.grading import bank_lab_10_5, bank_lab_10_6
from course_lib.grading.questions import get
from course_lib.grading.runner import run_question

DAY = 86400


def score(question_id: str, answer) -> tuple[float, float]:
    question = get(question_id)
    return run_question(question, answer, timeout=2).score, question.points


# -- reference answers, each with switches for the mistakes learners make ---------------------

def topic_match(binding_key, routing_key, *, mistake=None):
    if mistake == "regex":  # '*' -> [^.]+ , '#' -> .* : the classic translation
        import re
        pattern = re.escape(binding_key).replace(r"\*", "[^.]+").replace(r"\#", ".*")
        return re.fullmatch(pattern, routing_key) is not None
    split = (lambda key: key.split(".")) if mistake == "empty key is one word" else \
        (lambda key: key.split(".") if key else [])
    pattern, words = split(binding_key), split(routing_key)

    def match(i, j):
        if i == len(pattern):
            return j == len(words)
        if pattern[i] == "#":
            if mistake == "hash needs a word":
                return any(match(i + 1, k) for k in range(j + 1, len(words) + 1))
            if mistake == "greedy hash":
                return match(i + 1, len(words)) or (i + 1 == len(pattern))
            return any(match(i + 1, k) for k in range(j, len(words) + 1))
        return j < len(words) and pattern[i] in ("*", words[j]) and match(i + 1, j + 1)

    return match(0, 0)


def headers_route(arguments, headers, *, mistake=None):
    mode = arguments.get("x-match", "all")
    hits = []
    for name, value in arguments.items():
        if name.startswith("x-") and mistake != "compares x- keys":
            continue
        if name not in headers:
            hits.append(False)
        elif value is None and mistake != "None is a value":
            hits.append(True)
        elif mistake == "untyped":
            hits.append(value == headers[name])
        else:
            hits.append(isinstance(value, bool) == isinstance(headers[name], bool) and value == headers[name])
    if mistake == "any by default":
        mode = arguments.get("x-match", "any")
    return all(hits) if mode == "all" else any(hits)


def nats_match(pattern, subject, *, mistake=None):
    want, have = pattern.split("."), subject.split(".")
    if "" in have and mistake != "accepts empty tokens":
        return False
    for i, token in enumerate(want):
        if token == ">":
            return len(have) >= i if mistake == "> matches zero" else len(have) > i
        if i >= len(have) or token not in ("*", have[i]):
            return False
    if mistake == "prefix match":
        return True
    return len(have) == len(want)


def process_once(r, event, effect, *, mistake=None):
    key = f"processed:{event['eventId']}"
    if mistake == "in-memory set":
        seen = process_once.__dict__.setdefault("seen", set())
        if event["eventId"] in seen:
            return False
        seen.add(event["eventId"])
        effect(event)
        return True
    if mistake == "no ttl":
        ok = r.set(key, "1", nx=True)
    elif mistake == "key without prefix":
        ok = r.set(event["eventId"], "1", nx=True, ex=DAY)
    elif mistake == "inverted result":
        ok = r.set(key, "1", nx=True, ex=DAY)
        if ok:
            effect(event)
        return not ok
    else:
        ok = r.set(key, "1", nx=True, ex=DAY)
    if not ok:
        return False
    effect(event)
    return True


def processed_after_redelivery(deliveries, ttl, *, mistake=None):
    expires, processed = {}, []
    for second, event_id in deliveries:
        if event_id in expires:
            if mistake == "never expires":
                continue
            deadline = expires[event_id]
            still_marked = second < deadline if mistake == "expires at the deadline" else second <= deadline
            if still_marked:
                if mistake == "duplicate extends the mark":
                    expires[event_id] = second + ttl
                continue
        expires[event_id] = second + ttl
        processed.append(event_id)
    return processed


def credit_once(r, event, *, mistake=None):
    key, payload = f"processed:{event['eventId']}", event["payload"]
    if mistake == "mark first":
        if not r.set(key, "1", nx=True, ex=DAY):
            return False
        r.hincrby("balances", payload["account"], payload["amount"])
        return True
    if mistake == "credit first":
        if r.exists(key):
            return False
        r.hincrby("balances", payload["account"], payload["amount"])
        r.set(key, "1", ex=DAY)
        return True
    if mistake == "transaction without check":
        with r.pipeline() as pipe:
            pipe.set(key, "1", ex=DAY)
            pipe.hincrby("balances", payload["account"], payload["amount"])
            pipe.execute()
        return True
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                if pipe.exists(key):
                    return False
                pipe.multi()
                pipe.set(key, "1", ex=None if mistake == "mark never expires" else DAY)
                pipe.hincrby("balances", payload["account"], payload["amount"])
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def out_of_sequence(events, *, mistake=None):
    highest, late, previous = {}, [], None
    for event in events:
        order, version = event["orderId"], event["version"]
        if mistake == "global order":
            if previous is not None and version < previous:
                late.append(order)
            previous = version
            continue
        if mistake == "duplicates count":
            bad = version <= highest.get(order, 0)
        else:
            bad = version < highest.get(order, version)
        if bad and order not in late:
            late.append(order)
        highest[order] = max(version, highest.get(order, version))
    return late if mistake == "unsorted" else sorted(set(late))


def test_reference_answers_score_full_marks():
    assert score("10.5-q1", topic_match) == (4, 4)
    assert score("10.5-q2", headers_route) == (3, 3)
    assert score("10.5-q3", nats_match) == (3, 3)
    assert score("10.6-q1", process_once) == (3, 3)
    assert score("10.6-q2", processed_after_redelivery) == (3, 3)
    assert score("10.6-q3", credit_once) == (4, 4)
    assert score("10.6-q4", out_of_sequence) == (2, 2)


def _wrong(fn, mistake):
    return lambda *args, **kwargs: fn(*args, **kwargs, mistake=mistake)


WRONG = [
    *(("10.5-q1", m, _wrong(topic_match, m)) for m in ("regex", "empty key is one word", "hash needs a word",
                                                       "greedy hash")),
    *(("10.5-q2", m, _wrong(headers_route, m)) for m in ("compares x- keys", "None is a value", "untyped",
                                                         "any by default")),
    *(("10.5-q3", m, _wrong(nats_match, m)) for m in ("accepts empty tokens", "> matches zero", "prefix match")),
    *(("10.6-q1", m, _wrong(process_once, m)) for m in ("in-memory set", "no ttl", "key without prefix",
                                                        "inverted result")),
    *(("10.6-q2", m, _wrong(processed_after_redelivery, m)) for m in (
        "never expires", "expires at the deadline", "duplicate extends the mark")),
    *(("10.6-q3", m, _wrong(credit_once, m)) for m in ("mark first", "credit first", "transaction without check",
                                                       "mark never expires")),
    *(("10.6-q4", m, _wrong(out_of_sequence, m)) for m in ("global order", "duplicates count", "unsorted")),
]


@pytest.mark.parametrize("question_id, mistake, answer", WRONG, ids=[f"{q}-{m}" for q, m, _ in WRONG])
def test_a_plausible_wrong_answer_loses_points(question_id, mistake, answer):
    if hasattr(process_once, "seen"):
        del process_once.seen
    earned, points = score(question_id, answer)
    assert earned < points, f"{question_id}: the mistake '{mistake}' still scores full marks"


# -- the banks' expected values are the real systems' --------------------------------------

def test_the_lab_10_5_cases_agree_with_the_conformance_checked_library():
    for binding, key, expected in bank_lab_10_5.TOPIC_CASES:
        assert topic_matches(binding, key) is expected, (binding, key)
    for arguments, headers, expected in bank_lab_10_5.HEADERS_CASES:
        assert headers_match(arguments, headers) is expected, (arguments, headers)
    for pattern, subject, expected in bank_lab_10_5.NATS_CASES:
        assert nats_subject_matches(pattern, subject) is expected, (pattern, subject)


def test_the_redelivery_cases_are_what_redis_does(monkeypatch):
    """Replay each q2 case through SET NX EX on fakeredis with its clock frozen and moved."""
    import fakeredis._socket._base as base

    for (deliveries, ttl), expected in bank_lab_10_6.REDELIVERY_CASES:
        clock = SimClock(1_800_000_000_000)  # milliseconds; time.time() answers in seconds
        fake_time = types.SimpleNamespace(**{n: getattr(real_time, n) for n in dir(real_time) if not n.startswith("_")})
        fake_time.time = lambda: clock() / 1000
        monkeypatch.setattr(base, "time", fake_time)
        r, processed = fakeredis.FakeRedis(decode_responses=True), []
        consumer = IdempotentConsumer(r, ttl=ttl, effect=lambda e: processed.append(e["eventId"]))
        for second, event_id in deliveries:
            clock.now_ms = 1_800_000_000_000 + second * 1000
            consumer.handle({"eventId": event_id})
        assert processed == expected, (deliveries, ttl)


def test_the_ordering_cases_agree_with_out_of_order():
    for events, expected in bank_lab_10_6.ORDER_CASES:
        found = out_of_order(events, lambda e: e["orderId"], lambda e: e["version"])
        assert sorted({order for order, _, _ in found}) == expected


# -- the grader on the notebooks ----------------------------------------------------------
