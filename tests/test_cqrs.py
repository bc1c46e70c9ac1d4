"""CQRS: the command bus, the projection engine and the three read models."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.aggregate import Repository
from course_lib.backends import redis_client
from course_lib.cqrs import (Command, CommandBus, ProjectionEngine, RedisDashboard, SearchIndex, SqlListView,
                             UnknownCommand, tokens)
from course_lib.events import ManualClock, SequentialIds, new_event, uuid_ids
from course_lib.eventstore import ConcurrencyError, InMemoryEventStore, SQLiteEventStore
from course_lib.order import Order, OrderError

T0 = datetime(2026, 5, 15, 14, 0, tzinfo=timezone.utc)
PRODUCTS = [("prod_001", "Blue Mug", 2999), ("prod_002", "Green Tea", 1999), ("prod_003", "Blue Teapot", 4550),
            ("prod_004", "Red Kettle", 3900)]


def order_bus(store, retries: int = 3, ids=None) -> CommandBus:
    repo = Repository(store, Order, ids=ids or SequentialIds(), clock=ManualClock(T0, timedelta(seconds=1)))
    bus = CommandBus(repo, retries=retries)
    bus.register("PlaceOrder", lambda order, c: order.create(c.data["customerId"]), creates=True)
    bus.register("AddItem", lambda order, c: order.add_item(c.data["productId"], c.data["name"], c.data["priceCents"]))
    bus.register("ApplyDiscount", lambda order, c: order.apply_discount(c.data["amountCents"], c.data["code"]))
    bus.register("ConfirmOrder", lambda order, c: order.confirm())
    bus.register("ShipOrder", lambda order, c: order.ship())
    bus.register("CancelOrder", lambda order, c: order.cancel(c.data.get("reason", "customer asked")))
    return bus


def shop(store, orders: int = 12, seed: int = 7, prefix: str = "order", ids=None) -> None:
    """A seeded day of business: orders placed, filled, discounted, confirmed, shipped, cancelled."""
    rng = random.Random(seed)
    bus = order_bus(store, ids=ids)
    for n in range(orders):
        order_id = f"{prefix}-{n:03d}"
        bus.dispatch(Command("PlaceOrder", order_id, {"customerId": f"cust_{n % 4}"}))
        for product_id, name, price in rng.sample(PRODUCTS, rng.randint(1, 3)):
            bus.dispatch(Command("AddItem", order_id, {"productId": product_id, "name": name, "priceCents": price}))
        if rng.random() < 0.3:
            bus.dispatch(Command("ApplyDiscount", order_id, {"amountCents": 500, "code": "SAVE5"}))
        fate = rng.choice(["draft", "confirmed", "shipped", "cancelled", "refunded"])
        if fate != "draft" and fate != "cancelled":
            bus.dispatch(Command("ConfirmOrder", order_id))
        if fate == "shipped":
            bus.dispatch(Command("ShipOrder", order_id))
        if fate in ("cancelled", "refunded"):
            bus.dispatch(Command("CancelOrder", order_id))


def source_text_order(bus: CommandBus, order_id: str = "order-12345") -> None:
    bus.dispatch(Command("PlaceOrder", order_id, {"customerId": "cust_789"}, command_id="cmd_place"))
    bus.dispatch(Command("AddItem", order_id, {"productId": "prod_001", "name": "Blue Mug", "priceCents": 2999}))
    bus.dispatch(Command("AddItem", order_id, {"productId": "prod_002", "name": "Green Tea", "priceCents": 1999}))
    bus.dispatch(Command("ApplyDiscount", order_id, {"amountCents": 500, "code": "SAVE5"}))
    bus.dispatch(Command("ConfirmOrder", order_id))


@pytest.fixture
def dashboard() -> RedisDashboard:
    return RedisDashboard(redis_client(), prefix=f"test-{uuid.uuid4().hex[:8]}")


# --- the command side -----------------------------------------------------------------------

def test_a_command_becomes_events_caused_by_it():
    store = InMemoryEventStore()
    bus = order_bus(store)
    source_text_order(bus)
    events = [stored.event for stored in store.read("order-12345")]
    assert [e.event_type for e in events] == ["OrderCreated", "ItemAdded", "ItemAdded", "DiscountApplied",
                                              "OrderConfirmed"]
    assert (events[0].metadata.causation_id, events[0].metadata.correlation_id) == ("cmd_place", "cmd_place")
    assert bus.repository.load("order-12345").summary() == \
        "Order order-12345: Confirmed, 2 items, total $44.98 (v5)"


def test_a_refused_command_writes_nothing_and_an_unknown_one_is_named():
    store = InMemoryEventStore()
    bus = order_bus(store)
    bus.dispatch(Command("PlaceOrder", "order-1", {"customerId": "cust_1"}))
    with pytest.raises(OrderError, match="no items"):
        bus.dispatch(Command("ConfirmOrder", "order-1"))
    with pytest.raises(UnknownCommand, match="RefundOrder.*AddItem"):
        bus.dispatch(Command("RefundOrder", "order-1"))
    assert store.last_position() == 1


def test_the_bus_reloads_and_retries_when_another_writer_got_there_first():
    store = InMemoryEventStore()
    bus = order_bus(store)
    bus.dispatch(Command("PlaceOrder", "order-1", {"customerId": "cust_1"}))
    sneaky = {"left": 1}

    def add_item_racing(order, command):
        if sneaky["left"]:  # another process appends between our load and our save
            sneaky["left"] -= 1
            store.append("order-1", [new_event("ItemAdded", "order-1", "Order", {
                "productId": "prod_9", "name": "Spoon", "quantity": 1, "unitPriceCents": 100}, version=2)], 1)
        order.add_item("prod_1", "Mug", 2999)

    bus.register("AddItemRacing", add_item_racing)
    result = bus.dispatch(Command("AddItemRacing", "order-1"))
    assert result.versions == [3]
    assert bus.repository.load("order-1").total == "$30.99"


class NotedOrder(Order):
    """An Order that ignores OrderNoted events (written by the intruder below)."""

    def apply(self, event):
        if event.event_type != "OrderNoted":
            super().apply(event)


def test_the_bus_gives_up_after_its_retries():
    store = InMemoryEventStore()
    bus = order_bus(store, retries=2)
    bus.dispatch(Command("PlaceOrder", "order-1", {"customerId": "cust_1"}))

    def always_raced(order, command):
        store.append("order-1", [new_event("OrderNoted", "order-1", "Order", {})], "any")
        order.cancel("race")

    bus.repository.aggregate_class = NotedOrder
    bus.register("Race", always_raced)
    with pytest.raises(ConcurrencyError):
        bus.dispatch(Command("Race", "order-1"))
    assert store.current_version("order-1") == 4  # three intruders, and never our event


# --- the three read models ------------------------------------------------------------------

def test_the_list_view_answers_where_status_equals():
    store = InMemoryEventStore()
    shop(store)
    view = SqlListView()
    ProjectionEngine(store, [view]).catch_up()
    repo = Repository(store, Order)
    expected = {}
    for order_id in store.streams():
        order = repo.load(order_id)
        expected[order_id] = (order.customer_id, order.status, order.item_count, order.total_cents)
    assert {r["order_id"]: (r["customer_id"], r["status"], r["item_count"], r["total_cents"])
            for r in view.orders()} == expected
    confirmed = [r["order_id"] for r in view.orders(status="Confirmed")]
    assert confirmed == sorted(i for i, e in expected.items() if e[1] == "Confirmed") and confirmed
    assert [r["order_id"] for r in view.orders(status="Confirmed", customer_id="cust_1")] == sorted(
        i for i, e in expected.items() if e[1] == "Confirmed" and e[0] == "cust_1")
    assert sum(view.count_by_status().values()) == 12
    assert view.explain("SELECT * FROM orders WHERE status = ?", ("Confirmed",)) == [
        "SEARCH orders USING INDEX orders_by_status (status=?)"]


def test_the_search_index_finds_orders_by_product_and_customer_words():
    store = InMemoryEventStore()
    bus = order_bus(store)
    source_text_order(bus, "order-1")
    bus.dispatch(Command("PlaceOrder", "order-2", {"customerId": "cust_42"}))
    bus.dispatch(Command("AddItem", "order-2", {"productId": "prod_003", "name": "Blue Teapot", "priceCents": 4550}))
    index = SearchIndex()
    ProjectionEngine(store, [index]).catch_up()
    assert index.search("blue") == ["order-1", "order-2"]
    assert index.search("Blue MUG") == ["order-1"]
    assert index.search("teapot cust_42") == ["order-2"]
    assert index.search("cust_789") == ["order-1"]
    assert index.search("blue kettle") == [] and index.search("!!") == []
    assert tokens("Blue Mug (XL)") == {"blue", "mug", "xl"}


def test_the_dashboard_counts_statuses_items_and_revenue_with_refunds(dashboard):
    store = InMemoryEventStore()
    bus = order_bus(store)
    source_text_order(bus, "order-1")
    source_text_order(bus, "order-2")
    bus.dispatch(Command("PlaceOrder", "order-3", {"customerId": "cust_1"}))
    engine = ProjectionEngine(store, [dashboard], batch_size=3)
    engine.catch_up()
    assert dashboard.metrics() == {"orders_by_status": {"Confirmed": 2, "Draft": 1}, "items_added": 4,
                                   "revenue_cents": 2 * 4498}
    bus.dispatch(Command("CancelOrder", "order-2"))
    bus.dispatch(Command("ShipOrder", "order-1"))
    engine.catch_up()
    assert dashboard.metrics() == {"orders_by_status": {"Cancelled": 1, "Draft": 1, "Shipped": 1},
                                   "items_added": 4, "revenue_cents": 4498}


@pytest.mark.conformance
def test_the_dashboard_on_a_real_redis_matches_fakeredis(redis_url):
    store = InMemoryEventStore()
    shop(store, orders=20)
    real = RedisDashboard(redis_client(redis_url), prefix=f"course-test-{uuid.uuid4().hex[:8]}")
    fake = RedisDashboard(redis_client(None), prefix="fake")
    try:
        for dash in (real, fake):
            ProjectionEngine(store, [dash], batch_size=7).catch_up()
        assert real.dump() == fake.dump()
        assert real.dump()["checkpoint"] == store.last_position()
    finally:
        real.reset()


# --- consistency, rebuilds, crashes ---------------------------------------------------------

def test_a_query_right_after_a_command_is_stale_until_the_projection_catches_up():
    store = InMemoryEventStore()
    bus = order_bus(store)
    view = SqlListView()
    engine = ProjectionEngine(store, [view])
    source_text_order(bus)
    engine.catch_up()
    bus.dispatch(Command("ShipOrder", "order-12345"))
    assert bus.repository.load("order-12345").status == "Shipped"   # the write side knows
    assert view.orders()[0]["status"] == "Confirmed"                 # the read side does not, yet
    assert engine.lag() == {"list_view": 1}
    engine.catch_up()
    assert view.orders()[0]["status"] == "Shipped" and engine.lag() == {"list_view": 0}


def test_a_background_engine_catches_up_on_its_own():
    store = SQLiteEventStore(":memory:")
    index = SearchIndex()
    engine = ProjectionEngine(store, [index])
    engine.start(interval=0.001)
    try:
        source_text_order(order_bus(store))
        engine.wait_until_caught_up(timeout=10)
        assert index.search("green tea") == ["order-12345"]
    finally:
        engine.stop()


class BuggyListView(SqlListView):
    """Forgets discounts: the kind of projection bug event sourcing lets you repair."""

    def apply(self, db, stored):
        if stored.event.event_type != "DiscountApplied":
            super().apply(db, stored)


def test_fixing_a_projection_bug_and_replaying_gives_the_right_read_model(tmp_path):
    store = InMemoryEventStore()
    source_text_order(order_bus(store))
    view = BuggyListView(tmp_path / "read.db")
    engine = ProjectionEngine(store, [view])
    engine.catch_up()
    assert view.orders()[0]["total_cents"] == 4998  # wrong: the $5.00 discount is missing
    view.__class__ = SqlListView  # deploy the fix (the same database file, the fixed code)
    engine.catch_up()
    assert view.orders()[0]["total_cents"] == 4998  # catching up does not revisit old events...
    assert engine.rebuild("list_view") == 5
    assert view.orders()[0]["total_cents"] == 4498  # ...a replay from position 0 does


class Crash(Exception):
    """Stands in for the process dying in the middle of a batch."""


def _tick(countdown: list[int]) -> None:
    if countdown:
        countdown[0] -= 1
        if countdown[0] < 0:
            countdown.pop(0)
            raise Crash()


def models(tmp_path, countdown: list[int], tag: str):
    """One of each read model, failing after each number of events in ``countdown`` (consumed)."""

    class CrashingList(SqlListView):
        def apply(self, db, stored):
            _tick(countdown)
            super().apply(db, stored)

    class CrashingSearch(SearchIndex):
        def words(self, stored):
            _tick(countdown)
            return super().words(stored)

    class CrashingDashboard(RedisDashboard):
        def apply(self, pipe, stored, order):
            _tick(countdown)
            super().apply(pipe, stored, order)

    return [CrashingList(tmp_path / f"{tag}.db"), CrashingSearch(),
            CrashingDashboard(redis_client(), prefix=f"crash-{tag}")]


def run_with_crashes(store, projections) -> int:
    crashes = 0
    while True:
        engine = ProjectionEngine(store, projections, batch_size=5)  # a fresh engine: a restart
        try:
            engine.catch_up()
            return crashes
        except Crash:
            crashes += 1


@given(st.lists(st.integers(0, 30), min_size=1, max_size=12))
def test_an_engine_killed_mid_batch_and_restarted_equals_a_clean_rebuild(tmp_path_factory, crash_points):
    tmp_path = tmp_path_factory.mktemp("crash")
    store = InMemoryEventStore()
    shop(store, orders=8, seed=3)
    half = (len(crash_points) + 1) // 2
    countdown = list(crash_points[:half])
    crashed = models(tmp_path, countdown, "crashed")
    crashes = run_with_crashes(store, crashed)
    more = order_bus(store, ids=uuid_ids)  # more business while the projections were down
    more.dispatch(Command("PlaceOrder", "order-late", {"customerId": "cust_9"}))
    more.dispatch(Command("AddItem", "order-late", {"productId": "prod_004", "name": "Red Kettle",
                                                    "priceCents": 3900}))
    countdown.extend(crash_points[half:])
    crashes += run_with_crashes(store, crashed)
    clean = [SqlListView(tmp_path / "clean.db"), SearchIndex(), RedisDashboard(redis_client(), prefix="clean")]
    ProjectionEngine(store, clean).catch_up()
    assert crashes >= 1  # the first crash point always falls inside the first run
    for a, b in zip(crashed, clean):
        assert a.dump() == b.dump(), f"{a.name} differs after {crashes} crashes at {crash_points}"
        assert a.checkpoint() == b.checkpoint() == store.last_position()
    for model in crashed + clean:
        model.reset()


def test_processing_the_same_batch_twice_changes_nothing(dashboard):
    store = InMemoryEventStore()
    shop(store, orders=5)
    for model in (SqlListView(), SearchIndex(), dashboard):
        batch = store.read_all()
        model.process(batch)
        once = model.dump()
        model.process(batch)            # a redelivery of the whole batch
        model.process(batch[3:7])       # and of part of it
        assert model.dump() == once, model.name


# --- a real SIGKILL of the projection process -----------------------------------------------

HELPER = Path(__file__).resolve().parent / "helpers" / "eventstore_projector.py"


def kill_projector_repeatedly(tmp_path, extra_args: list[str], kills: int, seed: int) -> int:
    """Start the projector, SIGKILL it at a random moment, again and again; then let it finish."""
    rng = random.Random(seed)
    store_path, view_path = tmp_path / "events.db", tmp_path / "view.db"
    killed_mid_stream = 0
    store = SQLiteEventStore(store_path, synchronous="NORMAL")
    for run in range(kills + 1):
        shop(store, orders=40, seed=run, prefix=f"order-r{run}", ids=uuid_ids)  # business goes on
        process = subprocess.Popen([sys.executable, str(HELPER), str(store_path), str(view_path), *extra_args],
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "ready", f"seed {seed}: projector did not start"
        if run == kills:
            out, _ = process.communicate(timeout=120)
            assert out.splitlines()[-1] == "done", f"seed {seed}: {out[-200:]}"
            return killed_mid_stream
        progress = [process.stdout.readline() for _ in range(rng.randint(1, 25))]  # it is mid-stream
        time.sleep(rng.uniform(0.0, 0.002))  # ...and now inside a batch, or between two
        process.send_signal(signal.SIGKILL)
        process.wait()
        out = "".join(progress) + process.stdout.read()
        process.stdout.close()
        killed_mid_stream += "done" not in out


def events_store(tmp_path) -> SQLiteEventStore:
    return SQLiteEventStore(tmp_path / "events.db", synchronous="NORMAL")


@pytest.mark.slow
def test_a_sigkilled_projection_process_restarted_equals_a_clean_rebuild(tmp_path):
    store = events_store(tmp_path)
    mid_stream = kill_projector_repeatedly(tmp_path, [], kills=10, seed=5)
    assert mid_stream >= 5  # most kills landed while it was still projecting
    clean = SqlListView()
    ProjectionEngine(store, [clean]).catch_up()
    survivor = SqlListView(tmp_path / "view.db")
    assert survivor.dump() == clean.dump()
    assert survivor.checkpoint() == clean.checkpoint() == store.last_position()


@pytest.mark.slow
@pytest.mark.conformance
def test_a_sigkilled_projection_process_on_a_real_redis_equals_a_clean_rebuild(tmp_path, redis_url):
    store = events_store(tmp_path)
    prefix = f"course-kill-{uuid.uuid4().hex[:8]}"
    survivor = RedisDashboard(redis_client(redis_url), prefix=prefix)
    try:
        kill_projector_repeatedly(tmp_path, [redis_url, prefix], kills=10, seed=6)
        clean = RedisDashboard(redis_client(None), prefix="clean-kill")
        ProjectionEngine(store, [clean]).catch_up()
        assert survivor.dump() == clean.dump()
        assert survivor.checkpoint() == store.last_position()
    finally:
        survivor.reset()


def test_the_cqrs_explorer_shows_the_read_side_lagging_then_catching_up():
    from course_lib.viz.eventsourcing import CqrsExplorer

    store = InMemoryEventStore()
    view = SqlListView()
    explorer = CqrsExplorer(order_bus(store), ProjectionEngine(store, [view], batch_size=1), view, [
        ("place", Command("PlaceOrder", "order-1", {"customerId": "cust_1"})),
        ("add", Command("AddItem", "order-1", {"productId": "p", "name": "Mug", "priceCents": 2999}))])
    explorer.send_next()
    explorer.send_next()
    assert "list_view 2 event(s) behind" in explorer.static_text()
    explorer.run_projections()
    text = explorer.static_text()
    assert "order-1: Draft, 0 items" in text and "list_view 1 event(s) behind" in text
    explorer.run_projections()
    explorer.send_next()
    text = explorer.static_text()
    assert "order-1: Draft, 1 items, 2999 cents" in text and "0 event(s) behind" in text
    assert "(no more commands)" in text
