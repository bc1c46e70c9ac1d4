"""Questions of lab 10.6 (ordering and idempotency).

q1 is the source text's idempotent handler on Redis; q2 replays deliveries against
Redis's TTL rules; q3 must survive a crash between its two writes, which only a
transaction (or a Lua script) does; q4 finds per-entity ordering violations.
Answers that talk to Redis get a fresh fakeredis per test.
"""

from __future__ import annotations

import time

from course_lib.grading.questions import Case, Question, register

LAB = "lab-10.6-idempotency"
DAY = 86400


def _redis():
    import fakeredis

    return fakeredis.FakeRedis(decode_responses=True)


def _event(event_id: str, account: str = "acc_1", amount: int = 25) -> dict:
    return {
        "eventId": event_id,
        "eventType": "PaymentReceived",
        "payload": {"account": account, "amount": amount},
    }


# -- q1: the idempotent handler ------------------------------------------------------------


def _three_deliveries(process_once):
    r = _redis()
    done: list[dict] = []
    results = [process_once(r, _event("evt_abc123"), done.append) for _ in range(3)]
    return results, [e["eventId"] for e in done]


def _two_events(process_once):
    r = _redis()
    done: list[dict] = []
    results = [process_once(r, _event(i), done.append) for i in ("evt_1", "evt_2", "evt_1")]
    return results, [e["eventId"] for e in done]


def _mark(process_once):
    r = _redis()
    process_once(r, _event("evt_abc123"), lambda event: None)
    key = "processed:evt_abc123"
    return {"keys": sorted(r.keys()), "value": r.get(key), "ttl": r.ttl(key)}


def _already_marked_elsewhere(process_once):
    r = _redis()
    done: list[dict] = []
    r.set("processed:evt_7", "1", ex=DAY)  # another consumer instance handled it
    return process_once(r, _event("evt_7"), done.append), len(done)


def _after_the_mark_expired(process_once):
    r = _redis()
    done: list[dict] = []
    process_once(r, _event("evt_9"), done.append)
    r.pexpire("processed:evt_9", 1)
    time.sleep(0.005)
    return process_once(r, _event("evt_9"), done.append), len(done)


register(
    Question(
        id="10.6-q1",
        title="An idempotent handler on Redis SET NX EX",
        answer_name="process_once",
        points=3,
        writes=("course_lib.delivery.IdempotentConsumer",),
        lab=LAB,
        public=[
            Case(
                call=_three_deliveries,
                show="process_once(r, evt_abc123, effect) three times; (results, effects)",
                expected=([True, False, False], ["evt_abc123"]),
            ),
            Case(
                call=_two_events,
                show="evt_1, evt_2, evt_1; (results, effects)",
                expected=([True, True, False], ["evt_1", "evt_2"]),
            ),
            Case(
                call=_mark,
                show="after one call: Redis keys, the mark's value and TTL",
                expected={"keys": ["processed:evt_abc123"], "value": "1", "ttl": DAY},
                compare=lambda a, e: (
                    isinstance(a, dict)
                    and a.get("keys") == e["keys"]
                    and a.get("value") == e["value"]
                    and isinstance(a.get("ttl"), int)
                    and DAY - 5 <= a["ttl"] <= DAY
                ),
            ),
            Case(
                call=_already_marked_elsewhere,
                show="processed:evt_7 already set by another consumer; (result, effects)",
                expected=(False, 0),
            ),
            Case(
                call=_after_the_mark_expired,
                show="evt_9, its mark expires, evt_9 again; (result, effects)",
                expected=(True, 2),
            ),
        ],
    )
)


# -- q2: deduplication under redelivery, with Redis's TTL rules ----------------------------

REDELIVERY_CASES = [
    (([(0, "e1"), (0, "e2"), (1, "e1"), (1, "e2"), (2, "e3")], DAY), ["e1", "e2", "e3"]),
    (([(0, "a"), (10, "a")], 10), ["a"]),  # at exactly t + ttl the mark still exists
    (([(0, "a"), (11, "a")], 10), ["a", "a"]),  # one second later it is gone
    (([(0, "a"), (8, "a"), (16, "a")], 10), ["a", "a"]),  # a skipped duplicate does not extend the mark
    (([(0, "a"), (11, "a"), (15, "a"), (22, "a")], 10), ["a", "a", "a"]),
    (([(0, "a"), (5, "b"), (12, "a"), (14, "b"), (16, "b")], 10), ["a", "b", "a", "b"]),
    (([], 10), []),
]

register(
    Question(
        id="10.6-q2",
        title="Which deliveries get processed?",
        answer_name="processed_after_redelivery",
        points=3,
        lab=LAB,
        public=[Case(args=args, expected=expected) for args, expected in REDELIVERY_CASES],
    )
)


# -- q3: the atomic handler ----------------------------------------------------------------


class ConsumerCrashed(Exception):
    """Raised by CrashingRedis: the process died right after a write."""


class CrashingRedis:
    """A Redis client that crashes the consumer right after its first direct write.

    Writes queued on a pipeline and sent with ``execute()`` (MULTI/EXEC), or done by
    one ``eval`` (a Lua script), happen in one step and are not interrupted.
    """

    WRITES = {
        "set",
        "setnx",
        "setex",
        "psetex",
        "hincrby",
        "hset",
        "hsetnx",
        "incr",
        "incrby",
        "expire",
        "pexpire",
        "delete",
        "getset",
        "mset",
        "msetnx",
    }

    def __init__(self, inner) -> None:
        self._inner = inner
        self.armed = True

    def __getattr__(self, name):
        attribute = getattr(self._inner, name)
        if name not in self.WRITES:
            return attribute

        def write(*args, **kwargs):
            result = attribute(*args, **kwargs)
            if self.armed:
                self.armed = False
                raise ConsumerCrashed(f"crashed right after {name}")
            return result

        return write


def _credits(credit_once):
    r = _redis()
    results = [
        credit_once(r, e)
        for e in (
            _event("evt_1"),
            _event("evt_1"),
            _event("evt_2", amount=10),
            _event("evt_3", account="acc_2", amount=5),
        )
    ]
    return results, r.hgetall("balances")


def _crash_then_redeliver(credit_once):
    r = _redis()
    crashing = CrashingRedis(r)
    try:
        credit_once(crashing, _event("evt_1"))
    except ConsumerCrashed:
        pass  # the process died; the broker redelivers the unacked message
    credit_once(r, _event("evt_1"))
    credit_once(r, _event("evt_1"))  # and a plain duplicate for good measure
    return r.hgetall("balances")


def _atomic_mark(credit_once):
    r = _redis()
    credit_once(r, _event("evt_1"))
    return r.get("processed:evt_1"), r.ttl("processed:evt_1")


register(
    Question(
        id="10.6-q3",
        title="Credit an account exactly once, atomically",
        answer_name="credit_once",
        points=4,
        writes=("course_lib.delivery.AtomicIdempotentConsumer",),
        lab=LAB,
        public=[
            Case(
                call=_credits,
                show="evt_1 (acc_1 +25), evt_1 again, evt_2 (acc_1 +10), evt_3 (acc_2 +5)",
                expected=([True, False, True, True], {"acc_1": "35", "acc_2": "5"}),
            ),
            Case(
                call=_crash_then_redeliver,
                show=(
                    "evt_1 (acc_1 +25): the process crashes right after a direct write, "
                    "then evt_1 is redelivered"
                ),
                expected={"acc_1": "25"},
            ),
            Case(
                call=_atomic_mark,
                show="after evt_1: the mark's value and TTL",
                expected=("1", DAY),
                compare=lambda a, e: (
                    isinstance(a, tuple) and a[0] == "1" and isinstance(a[1], int) and DAY - 5 <= a[1] <= DAY
                ),
            ),
        ],
    )
)


# -- q4: ordering violations per entity ----------------------------------------------------


def _orders(*pairs) -> list[dict]:
    return [{"orderId": order, "version": version} for order, version in pairs]


ORDER_CASES = [
    (_orders(("o1", 1), ("o1", 2), ("o1", 3)), []),
    (_orders(("o1", 1), ("o2", 1), ("o1", 2), ("o2", 2)), []),  # interleaved, each in order
    (_orders(("o2", 1), ("o1", 2), ("o1", 1)), ["o1"]),  # o1's version 1 came too late
    (_orders(("o3", 2), ("o1", 1), ("o3", 1), ("o2", 3), ("o2", 1), ("o1", 2)), ["o2", "o3"]),
    (_orders(("o1", 1), ("o1", 1), ("o1", 2)), []),  # a duplicate is not out of order
    (_orders(("o1", 3), ("o1", 1), ("o1", 2)), ["o1"]),
    ([], []),
]

register(
    Question(
        id="10.6-q4",
        title="Which orders arrived out of sequence?",
        answer_name="out_of_sequence",
        points=2,
        lab=LAB,
        public=[Case(args=(events,), expected=expected) for events, expected in ORDER_CASES],
    )
)
