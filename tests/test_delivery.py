"""Idempotent consumers under duplicates and crashes, redelivery, and ordering."""

from __future__ import annotations

import time as real_time
import types

import fakeredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.delivery import (
    AtomicIdempotentConsumer, Crash, CrashPlan, ExactlyOnceChecker, ExactlyOnceVerdict, IdempotentConsumer,
    interleave,
    out_of_order, partition_events, produce_with_retries, redeliver, redeliver_jetstream,
)
from course_lib.exchanges import JetStream, SimClock


def event(n: int | str) -> dict:
    return {"eventId": f"evt_{n}", "eventType": "OrderPlaced", "payload": {"orderId": f"order_{n}"}}


@pytest.fixture
def r():
    return fakeredis.FakeRedis(decode_responses=True)


@pytest.fixture
def redis_clock(monkeypatch):
    """Freeze fakeredis's clock: it reads time.time() once per command, in _socket/_base.py."""
    import fakeredis._socket._base as base

    clock = SimClock(1_800_000_000_000)  # milliseconds; time.time() answers in seconds
    fake_time = types.SimpleNamespace(**{name: getattr(real_time, name) for name in dir(real_time)
                                         if not name.startswith("_")})
    fake_time.time = lambda: clock() / 1000
    monkeypatch.setattr(base, "time", fake_time)
    return clock


# -- the source text's consumer -----------------------------------------------------------

def test_first_delivery_processes_and_the_duplicate_is_skipped(r):
    done = []
    consumer = IdempotentConsumer(r, ttl=86400, effect=lambda e: done.append(e["eventId"]))
    assert consumer.handle(event("abc123")) is True
    assert consumer.handle(event("abc123")) is False
    assert done == ["evt_abc123"] and (consumer.processed, consumer.skipped) == (1, 1)
    assert r.get("processed:evt_abc123") == "1" and 86390 < r.ttl("processed:evt_abc123") <= 86400


def test_the_mark_expires_after_the_ttl_and_a_late_redelivery_is_processed_again(r, redis_clock):
    done = []
    consumer = IdempotentConsumer(r, ttl=60, effect=lambda e: done.append(e["eventId"]))
    consumer.handle(event(1))
    redis_clock.advance(59_000)
    assert consumer.handle(event(1)) is False and r.ttl("processed:evt_1") == 1
    redis_clock.advance(1_001)  # Redis expires a key once now > deadline, to the millisecond
    assert r.exists("processed:evt_1") == 0
    assert consumer.handle(event(1)) is True
    assert done == ["evt_1", "evt_1"]


def test_the_atomic_mark_has_the_same_ttl(r, redis_clock):
    checker = ExactlyOnceChecker(r)
    consumer = AtomicIdempotentConsumer(r, ttl=10, effect=checker.record_in)
    assert consumer.handle(event(1)) and not consumer.handle(event(1))
    redis_clock.advance(10_001)
    assert consumer.handle(event(1))
    assert checker.counts() == {"evt_1": 2}


def test_a_ttl_must_be_whole_seconds(r):
    with pytest.raises(ValueError, match="whole seconds"):
        IdempotentConsumer(r, ttl=0.5)


def test_an_event_without_an_id_is_refused(r):
    with pytest.raises(KeyError, match="eventId"):
        IdempotentConsumer(r).handle({"eventType": "OrderPlaced"})


def test_a_numeric_event_id_is_judged_as_the_string_redis_stores(r):
    checker = ExactlyOnceChecker(r)
    consumer = IdempotentConsumer(r, effect=checker.record)
    verdict = checker.run(consumer, [{"eventId": 7}, {"eventId": 7}])
    assert isinstance(verdict, ExactlyOnceVerdict) and verdict.exactly_once, verdict
    assert verdict.counts == {"7": 1}


# -- the race windows ------------------------------------------------------------------------

def test_mark_first_crash_before_the_effect_loses_the_effect(r):
    checker = ExactlyOnceChecker(r)
    consumer = IdempotentConsumer(r, effect=checker.record, crashes=CrashPlan(at=[("evt_2", "after-mark")]))
    verdict = checker.run(consumer, [event(n) for n in range(4)])
    assert verdict.lost == ("evt_2",) and verdict.duplicated == () and not verdict.exactly_once
    assert verdict.crashes == 1 and "lost ['evt_2']" in str(verdict)


def test_effect_first_crash_before_the_mark_does_it_twice(r):
    checker = ExactlyOnceChecker(r)
    consumer = IdempotentConsumer(r, effect=checker.record, mark_first=False,
                                  crashes=CrashPlan(at=[("evt_2", "after-effect")]))
    verdict = checker.run(consumer, [event(n) for n in range(4)])
    assert verdict.duplicated == ("evt_2",) and verdict.counts["evt_2"] == 2 and verdict.lost == ()


@pytest.mark.parametrize("point", ["before-exec", "after-exec"])
def test_the_atomic_consumer_survives_a_crash_at_either_point(r, point):
    checker = ExactlyOnceChecker(r)
    consumer = AtomicIdempotentConsumer(r, effect=checker.record_in, crashes=CrashPlan(at=[("evt_2", point)]))
    verdict = checker.run(consumer, [event(n) for n in range(4)])
    assert verdict.exactly_once and verdict.crashes == 1


def test_a_concurrent_mark_between_check_and_exec_makes_the_atomic_consumer_skip(r):
    """WATCH: another worker marks the event while we are inside our transaction."""
    checker = ExactlyOnceChecker(r)
    def effect(pipe, e):
        checker.record_in(pipe, e)
        if not r.exists("processed:" + e["eventId"]):  # the other worker, just once
            other = AtomicIdempotentConsumer(r, effect=checker.record_in)
            assert other.handle(e)
    consumer = AtomicIdempotentConsumer(r, effect=effect)
    assert consumer.handle(event(7)) is False
    assert checker.counts() == {"evt_7": 1}


DELIVERIES = st.lists(st.integers(0, 6), min_size=1, max_size=30)
CRASH_POINTS = st.lists(st.tuples(st.integers(0, 6).map(lambda n: f"evt_{n}"),
                                  st.sampled_from(["before-exec", "after-exec"])), max_size=10)


@given(DELIVERIES, CRASH_POINTS, st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.2, 0.5]))
def test_the_atomic_consumer_applies_each_event_exactly_once_under_any_duplicates_and_crashes(
        deliveries, crash_points, seed, rate):
    r = fakeredis.FakeRedis(decode_responses=True)
    checker = ExactlyOnceChecker(r)
    crashes = CrashPlan(at=crash_points, rate=rate, seed=seed)
    consumer = AtomicIdempotentConsumer(r, effect=checker.record_in, crashes=crashes)
    verdict = checker.run(consumer, [event(n) for n in deliveries])
    assert verdict.exactly_once, f"seed {seed}: {verdict}"
    assert set(verdict.counts) == {f"evt_{n}" for n in deliveries}


@given(DELIVERIES, st.integers(0, 2**32 - 1))
def test_the_simple_consumer_is_exactly_once_when_nothing_crashes(deliveries, seed):
    r = fakeredis.FakeRedis(decode_responses=True)
    checker = ExactlyOnceChecker(r)
    verdict = checker.run(IdempotentConsumer(r, effect=checker.record), [event(n) for n in deliveries])
    assert verdict.exactly_once


def test_random_crashes_break_the_simple_consumer_and_not_the_atomic_one(r):
    deliveries = [event(n % 20) for n in range(60)]
    checker = ExactlyOnceChecker(r)
    simple = checker.run(IdempotentConsumer(r, effect=checker.record, crashes=CrashPlan(rate=0.3, seed=5)),
                         deliveries)
    assert simple.lost, "seed 5: with 30% crashes some effect should be lost"
    r.flushall()
    atomic = checker.run(AtomicIdempotentConsumer(r, effect=checker.record_in,
                                                  crashes=CrashPlan(rate=0.3, seed=5)), deliveries)
    assert atomic.exactly_once and atomic.crashes > 0


def test_crash_plan_rate_must_leave_room_to_finish():
    with pytest.raises(ValueError, match="never finishes"):
        CrashPlan(rate=1.0)


def test_crash_plan_fires_a_chosen_point_once():
    plan = CrashPlan(at=[("evt_1", "after-mark")])
    with pytest.raises(Crash):
        plan.point("after-mark", "evt_1")
    plan.point("after-mark", "evt_1")
    assert plan.fired == [("evt_1", "after-mark")]


# -- redelivery ---------------------------------------------------------------------------

def test_a_crash_before_commit_replays_everything_since_the_last_commit(r):
    consumer = IdempotentConsumer(r)
    trace = redeliver([event(n) for n in range(6)], consumer.handle, commit_every=3,
                      crashes=CrashPlan(at=[("evt_4", "before-commit")]))
    assert [(d.offset, d.attempt, d.outcome) for d in trace] == [
        (0, 1, "processed"), (1, 1, "processed"), (2, 1, "processed"),
        (3, 1, "processed"), (4, 1, "crash at before-commit"),
        (3, 2, "skipped"), (4, 2, "skipped"), (5, 1, "processed")]


def test_without_dedup_a_replay_repeats_the_effect():
    done = []
    trace = redeliver([event(n) for n in range(4)], lambda e: done.append(e["eventId"]), commit_every=4,
                      crashes=CrashPlan(at=[("evt_3", "before-commit")]))
    assert done == ["evt_0", "evt_1", "evt_2", "evt_3"] * 2 and len(trace) == 8


def test_jetstream_redelivers_after_a_crash_before_the_ack(r):
    js = JetStream()
    js.add_stream("ORDERS", ["orders.>"])
    for n in range(3):
        js.publish("orders.placed", event(n))
    checker = ExactlyOnceChecker(r)
    consumer = AtomicIdempotentConsumer(r, effect=checker.record_in)
    trace = redeliver_jetstream(js, "ORDERS", consumer.handle, ack_wait_ms=30_000,
                                crashes=CrashPlan(at=[("evt_1", "before-ack")]))
    assert [(d.offset, d.attempt, d.outcome) for d in trace] == [
        (1, 1, "processed"), (2, 1, "crash at before-ack"), (3, 1, "processed"), (2, 2, "skipped")]
    assert js.clock() == 30_000 and checker.verdict(["evt_0", "evt_1", "evt_2"]).exactly_once


# -- ordering -----------------------------------------------------------------------------

ORDER_EVENTS = [{"eventId": f"evt_{o}_{s}", "order": o, "step": s} for s in range(3) for o in range(6)]


def test_entity_id_as_key_keeps_each_entitys_events_in_order_across_partitions():
    logs = partition_events(ORDER_EVENTS, 3, key=lambda e: f"order_{e['order']}")
    for seed in range(20):
        seen = interleave(logs, seed)
        assert sorted(map(str, seen)) == sorted(map(str, ORDER_EVENTS))
        assert out_of_order(seen, lambda e: e["order"], lambda e: e["step"]) == []


def test_without_a_key_an_entitys_events_scatter_and_arrive_out_of_order():
    logs = partition_events(ORDER_EVENTS, 4, key=lambda e: None)
    broken = [seed for seed in range(20)
              if out_of_order(interleave(logs, seed), lambda e: e["order"], lambda e: e["step"])]
    assert broken, "round robin + interleaving should reorder some order's steps"


def test_interleave_keeps_each_partitions_own_order():
    logs = [[("p0", i) for i in range(5)], [("p1", i) for i in range(5)]]
    merged = interleave(logs, seed=1)
    assert [x for x in merged if x[0] == "p0"] == logs[0] and [x for x in merged if x[0] == "p1"] == logs[1]
    assert merged != logs[0] + logs[1]


def test_retries_with_several_in_flight_reorder_and_duplicate_without_idempotence():
    failures = {(0, 1): "lost-request", (6, 1): "lost-ack"}
    plain = produce_with_retries(10, max_in_flight=5, failures=failures)
    assert plain.log == (1, 2, 3, 4, 0, 5, 6, 7, 8, 6, 9) and not plain.in_order and plain.duplicated == [6]
    safe = produce_with_retries(10, max_in_flight=5, failures=failures, idempotent=True)
    assert safe.log == tuple(range(10)) and safe.rejected == 4 and safe.duplicates_dropped == 1


def test_one_request_in_flight_keeps_order_even_without_idempotence():
    result = produce_with_retries(10, max_in_flight=1, failures={(0, 1): "lost-request"})
    assert result.in_order and result.duplicated == []


@given(st.integers(1, 12), st.integers(1, 5),
       st.dictionaries(st.tuples(st.integers(0, 11), st.integers(1, 3)),
                       st.sampled_from(["lost-request", "lost-ack"]), max_size=8))
def test_the_idempotent_producer_always_writes_each_record_once_in_order(records, in_flight, failures):
    result = produce_with_retries(records, max_in_flight=in_flight, failures=failures, idempotent=True)
    assert result.log == tuple(range(records))


def test_the_crash_explorer_shows_the_lost_effect_and_the_atomic_fix():
    from course_lib.viz.brokers import CrashExplorer

    explorer = CrashExplorer("mark-first")
    assert explorer.deliver_once(crash=True).startswith("CRASHED at after-mark")
    assert explorer.deliver_once() == "skipped (already marked)"
    assert "effects: 0 -> effect LOST" in explorer.static_text()
    explorer.choice.value = "effect-first"
    explorer.deliver_once(crash=True)
    explorer.deliver_once()
    assert "effects: 2 -> effect DUPLICATED" in explorer.static_text()
    explorer.choice.value = "atomic"
    explorer.deliver_once(crash=True)
    explorer.deliver_once()
    explorer.deliver_once()
    assert "effects: 1 -> effect done exactly once" in explorer.static_text()


def test_the_broker_table_rows_measured_on_the_embedded_models():
    from course_lib.delivery import measure_brokers

    rows = measure_brokers(messages=12, partitions=3)
    assert rows["order"]["Kafka (log)"].startswith("in order per partition only")
    assert rows["order"]["RabbitMQ (queue)"] == rows["order"]["NATS core"] == "in publish order"
    assert rows["late reader"]["NATS core"].startswith("0 of 12")
    assert rows["late reader"]["NATS JetStream"].startswith("12 of 12")
    assert rows["read again"]["RabbitMQ (queue)"].startswith("0 of 12")
    assert rows["read again"]["Kafka (log)"].startswith("12 of 12")
    assert rows["crash before ack"]["NATS core"] == "lost"
    assert all(rows["crash before ack"][b].startswith("redelivered")
               for b in ("Kafka (log)", "RabbitMQ (queue)", "NATS JetStream"))
