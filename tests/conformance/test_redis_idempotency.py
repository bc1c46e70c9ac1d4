"""The idempotent consumers against a real Redis: SET NX EX, TTL expiry, WATCH/MULTI/EXEC.

Keys get a unique prefix per test and are deleted afterwards: other programs may
share this Redis.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from course_lib.backends import redis_client
from course_lib.delivery import (
    AtomicIdempotentConsumer, CrashPlan, ExactlyOnceChecker, IdempotentConsumer,
)

pytestmark = pytest.mark.conformance


@pytest.fixture
def real(redis_url):
    client = redis_client(redis_url)
    prefix = f"course-test:{uuid.uuid4().hex[:12]}:"
    yield client, prefix
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def event(n) -> dict:
    return {"eventId": f"evt_{n}", "eventType": "OrderPlaced", "payload": {}}


def test_set_nx_ex_lets_the_first_delivery_through_and_skips_the_rest(real):
    r, prefix = real
    done = []
    consumer = IdempotentConsumer(r, ttl=86400, effect=lambda e: done.append(e["eventId"]),
                                  prefix=prefix + "processed:")
    assert [consumer.handle(event("abc123")) for _ in range(3)] == [True, False, False]
    assert done == ["evt_abc123"]
    assert 86390 < r.ttl(prefix + "processed:evt_abc123") <= 86400


def test_the_mark_expires_after_its_ttl_and_a_redelivery_is_processed_again(real):
    r, prefix = real
    done = []
    consumer = IdempotentConsumer(r, ttl=1, effect=lambda e: done.append(e["eventId"]), prefix=prefix)
    assert consumer.handle(event(1)) and not consumer.handle(event(1))
    r.pexpire(prefix + "evt_1", 20)  # shorten the 1 s TTL to 20 ms so the test waits only briefly
    deadline = time.monotonic() + 2
    while r.exists(prefix + "evt_1") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not r.exists(prefix + "evt_1")
    assert consumer.handle(event(1)) is True and done == ["evt_1", "evt_1"]


def test_the_race_windows_and_the_atomic_fix_behave_the_same_on_real_redis(real):
    r, prefix = real
    events = [event(n) for n in range(4)]
    lose = ExactlyOnceChecker(r, key=prefix + "effects-a")
    verdict = lose.run(IdempotentConsumer(r, effect=lose.record, prefix=prefix + "a:",
                                          crashes=CrashPlan(at=[("evt_2", "after-mark")])), events)
    assert verdict.lost == ("evt_2",)
    twice = ExactlyOnceChecker(r, key=prefix + "effects-b")
    verdict = twice.run(IdempotentConsumer(r, effect=twice.record, prefix=prefix + "b:", mark_first=False,
                                           crashes=CrashPlan(at=[("evt_2", "after-effect")])), events)
    assert verdict.duplicated == ("evt_2",)
    atomic = ExactlyOnceChecker(r, key=prefix + "effects-c")
    verdict = atomic.run(AtomicIdempotentConsumer(r, effect=atomic.record_in, prefix=prefix + "c:",
                                                  crashes=CrashPlan(rate=0.3, seed=11)), events * 3)
    assert verdict.exactly_once and verdict.crashes > 0


def test_concurrent_atomic_consumers_apply_each_event_once(real, redis_url):
    r, prefix = real
    checker = ExactlyOnceChecker(r, key=prefix + "effects")
    events = [event(n) for n in range(50)]

    def worker():
        client = redis_client(redis_url)
        consumer = AtomicIdempotentConsumer(client, effect=checker.record_in, prefix=prefix + "p:")
        for e in events:
            consumer.handle(e)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert checker.verdict(e["eventId"] for e in events).exactly_once
