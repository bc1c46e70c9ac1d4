"""course_lib.coupling: a direct call fails with its callee; a broker lets consumers catch up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.coupling import Broker, ServiceUnavailable, Subscriber, SyncService


def test_a_call_to_a_service_that_is_down_fails_the_caller():
    inventory = SyncService("inventory", lambda req: {"reserved": req["qty"]})
    assert inventory.call({"qty": 2}) == {"reserved": 2}
    inventory.up = False
    with pytest.raises(ServiceUnavailable, match="inventory is down"):
        inventory.call({"qty": 2})
    assert inventory.calls == 2


def test_publishing_succeeds_while_the_consumer_is_down_and_it_catches_up_later():
    broker = Broker()
    seen = []
    broker.subscribe("inventory", "orders", seen.append)
    broker.set_up("inventory", False)
    assert [broker.publish("orders", f"order-{i}") for i in range(3)] == [0, 1, 2]
    assert broker.deliver() == [] and broker.lag("inventory") == 3
    broker.set_up("inventory", True)
    deliveries = broker.deliver()
    assert [d.offset for d in deliveries] == [0, 1, 2] and all(d.ok for d in deliveries)
    assert seen == ["order-0", "order-1", "order-2"] and broker.lag("inventory") == 0


def test_a_failing_handler_is_retried_from_the_same_event_and_others_carry_on():
    broker = Broker()
    attempts = []

    def flaky(event):
        attempts.append(event)
        if len(attempts) == 2:
            raise RuntimeError("database timeout")

    broker.subscribe("flaky", "orders", flaky)
    broker.subscribe("audit", "orders", lambda e: None)
    for i in range(3):
        broker.publish("orders", i)
    first = broker.deliver()
    assert [(d.subscriber, d.offset, d.ok) for d in first] == [
        ("audit", 0, True), ("audit", 1, True), ("audit", 2, True),
        ("flaky", 0, True), ("flaky", 1, False),
    ]
    assert "RuntimeError: database timeout" in first[-1].error
    broker.deliver()
    assert attempts == [0, 1, 1, 2]  # at-least-once: event 1 was handed over twice
    assert broker.lag("flaky") == 0


def test_a_late_subscriber_reads_the_history_or_only_new_events():
    broker = Broker()
    broker.publish("orders", "old")
    replay = broker.subscribe("analytics", "orders", lambda e: None)
    live = broker.subscribe("alerts", "orders", lambda e: None, from_beginning=False)
    broker.publish("orders", "new")
    broker.deliver()
    assert replay.handled == ["old", "new"] and live.handled == ["new"]


def test_errors_name_the_subscriber():
    broker = Broker()
    broker.subscribe("a", "t", print)
    with pytest.raises(ValueError, match="'a' already exists"):
        broker.subscribe("a", "t", print)
    with pytest.raises(KeyError, match="subscribers: a"):
        broker.lag("b")


@given(st.lists(st.one_of(st.just("publish"), st.just("down"), st.just("up"), st.just("deliver")), max_size=40))
def test_every_published_event_reaches_the_subscriber_once_in_order_after_it_is_back(ops):
    broker = Broker()
    sub = broker.subscribe("c", "t", lambda e: None)
    published = []
    for op in ops:
        if op == "publish":
            published.append(len(published))
            broker.publish("t", published[-1])
        elif op == "deliver":
            broker.deliver()
        else:
            broker.set_up("c", op == "up")
    broker.set_up("c", True)
    broker.deliver()
    assert sub.handled == published


def test_status_is_a_readable_table():
    broker = Broker()
    broker.subscribe("inventory", "orders", print)
    broker.publish("orders", 1)
    broker.set_up("inventory", False)
    assert broker.status().splitlines()[1].split() == ["inventory", "orders", "DOWN", "0", "1"]


def test_the_demo_loses_sync_orders_while_inventory_is_down_but_not_events():
    from course_lib.coupling import CouplingDemo

    demo = CouplingDemo()
    assert demo.place_order()[0].endswith("reserved it during the call)")
    demo.set_inventory(False)
    sync, event = demo.place_order()
    assert "FAILED - inventory is down" in sync and "inventory lag 1" in event
    assert demo.deliver() == "nothing delivered (inventory is down, lag 1)"
    demo.set_inventory(True)
    assert demo.deliver() == "inventory caught up on offsets [1]; lag 0"
    assert demo.reserved_sync == ["order_001"]
    assert demo.reserved_async == ["order_001", "order_002"]
    assert "1 lost to failed calls" in demo.summary()


def test_subscribe_returns_the_subscriber_the_broker_keeps():
    broker = Broker()
    sub = broker.subscribe("audit", "orders", print)
    assert isinstance(sub, Subscriber) and broker.subscribers == {"audit": sub}
