"""The event store, the aggregate and the repository: both stores, one set of behaviours."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.aggregate import AggregateNotFound, EverySnapshot, Repository
from course_lib.events import (MAX_EVENT_BYTES, Event, EventValidationError, ManualClock, SequentialIds,
                               new_event)
from course_lib.eventstore import (ANY, NO_STREAM, ConcurrencyError, DuplicateEventError, EventStore,
                                   EventTooLargeError, InMemoryEventStore, Snapshot, SQLiteEventStore,
                                   Upcaster)
from course_lib.order import InventoryItem, Order, OrderError, cents, money, order_upcaster

T0 = datetime(2026, 5, 15, 14, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path) -> EventStore:
    if request.param == "memory":
        return InMemoryEventStore(upcaster=order_upcaster())
    return SQLiteEventStore(tmp_path / "events.db", upcaster=order_upcaster())


def item(n: int, stream: str = "order-1", version: int = 2, **payload) -> object:
    body = {"productId": f"prod_{n:03d}", "name": "Mug", "quantity": 1, "unitPriceCents": 100 * n}
    body.update(payload)
    return new_event("ItemAdded", stream, "Order", body, version=version, ids=lambda: f"evt_{stream}-{n}",
                     clock=lambda: T0 + timedelta(minutes=n))


def source_text_order(store: EventStore) -> Repository:
    """OrderCreated, ItemAdded +$29.99, ItemAdded +$19.99, DiscountApplied -$5.00, OrderConfirmed."""
    repo = Repository(store, Order, ids=SequentialIds(), clock=ManualClock(T0, timedelta(minutes=10)))
    order = repo.create("order-12345")
    order.create("cust_789")                       # 14:00
    order.add_item("prod_001", "Mug", 2999)        # 14:10
    order.add_item("prod_002", "Tea", 1999)        # 14:20
    order.apply_discount(500, "SAVE5")             # 14:30
    order.confirm()                                # 14:40
    repo.save(order)
    return repo


# --- streams, versions, positions -----------------------------------------------------------

def test_versions_start_at_1_and_are_gapless_and_positions_follow_commit_order(store):
    store.append("order-1", [item(1, "order-1"), item(2, "order-1")], NO_STREAM)
    store.append("order-2", [item(1, "order-2")], NO_STREAM)
    store.append("order-1", [item(3, "order-1")], 2)
    assert [(e.version, e.position) for e in store.read("order-1")] == [(1, 1), (2, 2), (3, 4)]
    assert [(e.stream_id, e.version) for e in store.read_all()] == [
        ("order-1", 1), ("order-1", 2), ("order-2", 1), ("order-1", 3)]
    assert store.current_version("order-1") == 3
    assert store.current_version("order-404") == 0
    assert store.last_position() == 4
    assert store.streams() == ["order-1", "order-2"]


def test_read_returns_the_events_as_appended(store):
    events = [item(n) for n in range(1, 4)]
    store.append("order-1", events, NO_STREAM)
    assert [e.event for e in store.read("order-1")] == events


def test_read_takes_a_version_range(store):
    store.append("order-1", [item(n) for n in range(1, 6)], NO_STREAM)
    assert [e.version for e in store.read("order-1", 2, 4)] == [2, 3, 4]
    assert [e.version for e in store.read("order-1", from_version=4)] == [4, 5]
    assert store.read("order-404") == []


def test_read_all_after_a_position_with_a_limit(store):
    store.append("order-1", [item(n) for n in range(1, 6)], NO_STREAM)
    assert [e.position for e in store.read_all(after_position=2, limit=2)] == [3, 4]
    assert store.read_all(after_position=5) == []


# --- expected versions ----------------------------------------------------------------------

def test_a_wrong_expected_version_raises_naming_stream_expected_and_actual(store):
    store.append("order-1", [item(1)], NO_STREAM)
    with pytest.raises(ConcurrencyError) as caught:
        store.append("order-1", [item(2)], 0)
    assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == ("order-1", 0, 1)
    assert "order-1" in str(caught.value) and "version 0" in str(caught.value) and "version 1" in str(caught.value)
    with pytest.raises(ConcurrencyError, match="no stream"):
        store.append("order-1", [item(2)], NO_STREAM)
    with pytest.raises(ConcurrencyError):
        store.append("order-1", [item(2)], 5)  # ahead of the stream: also a mismatch, never a gap
    assert store.current_version("order-1") == 1


def test_any_skips_the_check_and_no_stream_equals_version_0(store):
    store.append("order-1", [item(1)], 0)
    store.append("order-1", [item(2)], ANY)
    store.append("order-2", [item(1, "order-2")], ANY)
    assert store.current_version("order-1") == 2


@pytest.mark.parametrize("bad", [-1, "latest", 1.0, True, None])
def test_a_nonsense_expected_version_is_a_value_error(store, bad):
    with pytest.raises(ValueError, match="expected_version"):
        store.append("order-1", [item(1)], bad)


# --- idempotent appends ---------------------------------------------------------------------

def test_re_appending_stored_events_returns_the_original_positions_and_writes_nothing(store):
    batch = [item(1), item(2)]
    first = store.append("order-1", batch, NO_STREAM)
    store.append("order-2", [item(1, "order-2")], NO_STREAM)
    retry = store.append("order-1", batch, NO_STREAM)  # the ack was lost; the client sends it again
    assert retry.duplicate and not first.duplicate
    assert (retry.versions, retry.positions) == (first.versions, first.positions) == ([1, 2], [1, 2])
    assert store.last_position() == 3
    assert store.append("order-1", batch, ANY).positions == [1, 2]


def test_a_batch_mixing_stored_and_new_events_is_refused_whole(store):
    store.append("order-1", [item(1)], NO_STREAM)
    with pytest.raises(DuplicateEventError, match="already stored"):
        store.append("order-1", [item(1), item(2)], ANY)
    with pytest.raises(DuplicateEventError):
        store.append("order-1", [item(2), item(2)], ANY)  # twice in one batch
    with pytest.raises(DuplicateEventError, match="order-9"):
        store.append("order-9", [item(1)], ANY)  # stored, but in another stream
    assert store.last_position() == 1


# --- size limit -----------------------------------------------------------------------------

def test_an_event_over_1_mib_is_refused_and_nothing_of_its_batch_is_written(store):
    store.append("order-1", [item(1)], NO_STREAM)
    huge = item(3).to_dict()
    huge["payload"]["note"] = "x" * MAX_EVENT_BYTES
    with pytest.raises(EventValidationError) as caught:
        store.append("order-1", [item(2), huge], 1)
    assert caught.value.rule == "too large" and "1,048,576" in str(caught.value)
    assert store.current_version("order-1") == 1 and store.last_position() == 1


def test_what_is_stored_is_what_was_validated_even_if_the_payload_was_changed_later(store):
    event = item(2)
    event.payload["note"] = "x" * MAX_EVENT_BYTES  # the docs say not to: the change is not stored
    store.append("order-1", [item(1), event], NO_STREAM)
    assert "note" not in store.read("order-1")[1].event.payload
    assert store.read("order-1")[1].event.to_json() == item(2).to_json()


def test_the_store_refuses_an_oversized_event_even_one_that_skipped_validation(store):
    huge = item(2).to_dict()
    huge["payload"]["note"] = "x" * MAX_EVENT_BYTES
    unchecked = Event.from_stored_json(json.dumps(huge, separators=(",", ":")))  # for stores only
    with pytest.raises(EventTooLargeError, match="nothing of this batch was written"):
        store.append("order-1", [item(1), unchecked], NO_STREAM)
    assert store.last_position() == 0


def test_an_event_just_under_the_limit_is_stored(store):
    event = item(1)
    size = len(event.to_json().encode())
    big = item(1, note="é" * ((MAX_EVENT_BYTES - size - 20) // 2))
    assert MAX_EVENT_BYTES - 40 < len(big.to_json().encode()) <= MAX_EVENT_BYTES
    store.append("order-1", [big], NO_STREAM)
    assert store.read("order-1")[0].event == big


def test_only_events_are_stored(store):
    with pytest.raises(TypeError, match="Event"):
        store.append("order-1", ["OrderPlaced"], NO_STREAM)


# --- catch-up subscription ------------------------------------------------------------------

def test_a_subscription_catches_up_then_sees_new_events(store):
    store.append("order-1", [item(1), item(2)], NO_STREAM)
    subscription = store.subscribe(after_position=0)
    assert subscription.lag == 2
    assert [e.position for e in subscription] == [1, 2]
    assert subscription.poll() == [] and subscription.lag == 0
    store.append("order-1", [item(3)], 2)
    assert subscription.lag == 1
    assert [e.position for e in subscription.poll()] == [3]
    resumed = store.subscribe(after_position=2)  # a restart from a checkpoint
    assert [e.position for e in resumed.poll(limit=10)] == [3]


# --- the Order and temporal queries ---------------------------------------------------------

def test_the_source_text_order_is_confirmed_with_2_items_and_44_98(store):
    repo = source_text_order(store)
    order = repo.load("order-12345")
    assert (order.status, order.item_count, order.total_cents, order.total) == ("Confirmed", 2, 4498, "$44.98")
    assert isinstance(order.total_cents, int)
    assert [e.event.event_type for e in store.read("order-12345")] == [
        "OrderCreated", "ItemAdded", "ItemAdded", "DiscountApplied", "OrderConfirmed"]


def test_the_state_at_2_30_pm_and_at_each_version(store):
    repo = source_text_order(store)
    at_230 = repo.load("order-12345", as_of=datetime(2026, 5, 15, 14, 30, tzinfo=timezone.utc))
    assert (at_230.version, at_230.status, at_230.total) == (4, "Draft", "$44.98")
    at_229 = repo.load("order-12345", as_of=datetime(2026, 5, 15, 14, 29, 59, tzinfo=timezone.utc))
    assert (at_229.version, at_229.total) == (3, "$49.98")
    assert [repo.load("order-12345", at_version=v).total for v in range(1, 6)] == [
        "$0.00", "$29.99", "$49.98", "$44.98", "$44.98"]
    with pytest.raises(AggregateNotFound, match="13:59"):
        repo.load("order-12345", as_of=T0 - timedelta(minutes=1))
    with pytest.raises(AggregateNotFound):
        repo.load("order-404")


def test_as_of_stops_at_the_first_later_event_even_if_clocks_went_backwards(store):
    times = [T0, T0 + timedelta(minutes=20), T0 + timedelta(minutes=5)]  # a writer with a slow clock
    events = [new_event("NoteAdded", "order-1", "Order", {"n": n}, ids=lambda n=n: f"evt_{n}",
                        clock=lambda t=t: t) for n, t in enumerate(times)]
    store.append("order-1", events, NO_STREAM)
    assert [e.version for e in store.read_as_of("order-1", T0 + timedelta(minutes=10))] == [1]


def test_order_rules_refuse_and_record_nothing():
    order = Order("order-1")
    with pytest.raises(OrderError):
        order.add_item("p", "Mug", 100)  # not created yet
    order.create("cust_1")
    with pytest.raises(OrderError, match="cents"):
        order.add_item("p", "Mug", 29.99)
    with pytest.raises(OrderError, match="no items"):
        order.confirm()
    order.add_item("p", "Mug", 100)
    with pytest.raises(OrderError, match="discount"):
        order.apply_discount(101, "TOO-MUCH")
    order.confirm()
    with pytest.raises(OrderError, match="Confirmed"):
        order.add_item("p", "Mug", 100)
    order.ship()
    with pytest.raises(OrderError):
        order.cancel("changed my mind")
    assert [e.event_type for e in order.pending] == ["OrderCreated", "ItemAdded", "OrderConfirmed", "OrderShipped"]


def test_money_helpers_are_exact():
    assert [money(4498), money(-500), money(0), money(123456789)] == ["$44.98", "-$5.00", "$0.00", "$1,234,567.89"]
    assert cents("29.99") == 2999 and cents("0.1") == 10
    with pytest.raises(ValueError, match="fractions of a cent"):
        cents("0.001")


def test_saving_with_a_stale_aggregate_raises_concurrency_error(store):
    repo = source_text_order(store)
    alice, bob = repo.load("order-12345"), repo.load("order-12345")
    alice.ship()
    bob.cancel("changed my mind")
    repo.save(alice)
    with pytest.raises(ConcurrencyError):
        repo.save(bob)
    assert repo.load("order-12345").status == "Shipped"


# --- snapshots ------------------------------------------------------------------------------

def test_snapshots_every_n_events_and_loading_replays_only_the_tail(store):
    repo = Repository(store, InventoryItem, snapshots=EverySnapshot(10))
    item_ = repo.create("sku-1")
    for n in range(25):
        item_.receive(1)
        repo.save(item_)
    assert [store.latest_snapshot("sku-1", v).version for v in (10, 19, 25)] == [10, 10, 20]
    loaded = repo.load("sku-1")
    assert (loaded.on_hand, loaded.version) == (25, 25)
    assert (repo.last_load.snapshot_version, repo.last_load.events_replayed) == (20, 5)
    repo.load("sku-1", at_version=15)
    assert (repo.last_load.snapshot_version, repo.last_load.events_replayed) == (10, 5)
    repo.load("sku-1", use_snapshots=False)
    assert repo.last_load.events_replayed == 25


def test_a_snapshot_of_an_older_state_schema_is_ignored_not_misread(store):
    class OrderV2(Order):
        state_schema_version = 2  # say the state's shape changed

    repo = source_text_order(store)
    store.save_snapshot(Snapshot("order-12345", 4, 1, {"status": "Draft", "customerId": "c",
                                                       "lines": [], "discountCents": 0}))
    new_repo = Repository(store, OrderV2)
    order = new_repo.load("order-12345")
    assert order.total == "$44.98"
    assert (new_repo.last_load.stale_snapshot_ignored, new_repo.last_load.events_replayed) == (True, 5)
    store.save_snapshot(Snapshot("order-12345", 2, 2, {"status": "Draft", "customerId": "c",
                                                       "lines": [], "discountCents": 0}))
    new_repo.load("order-12345")  # the newest snapshot of its own shape is still used
    assert (new_repo.last_load.snapshot_version, new_repo.last_load.events_replayed) == (2, 3)
    repo.load("order-12345")  # the old class still uses it
    assert repo.last_load.snapshot_version == 4


def test_every_snapshot_needs_a_positive_interval():
    with pytest.raises(ValueError):
        EverySnapshot(0)
    assert EverySnapshot(10).due(9, 10) and EverySnapshot(10).due(5, 25) and not EverySnapshot(10).due(10, 19)


# --- upcasting ------------------------------------------------------------------------------

def v1_item(n: int, price: str) -> object:
    return new_event("ItemAdded", "order-1", "Order", {"productId": f"prod_{n}", "name": "Mug", "price": price},
                     version=1, ids=lambda: f"evt_v1-{n}", clock=lambda: T0)


def test_v1_events_load_in_the_current_shape_and_stay_stored_as_written(store):
    created = new_event("OrderCreated", "order-1", "Order", {"orderId": "order-1", "customerId": "c"},
                        ids=lambda: "evt_created", clock=lambda: T0)
    store.append("order-1", [created, v1_item(1, "29.99"), item(2)], NO_STREAM)
    stored = store.read("order-1")[1].event
    assert (stored.version, stored.payload) == (2, {"productId": "prod_1", "name": "Mug", "quantity": 1,
                                                    "unitPriceCents": 2999})
    assert Repository(store, Order).load("order-1").total == "$31.99"
    if isinstance(store, SQLiteEventStore):
        raw = json.loads(sqlite3.connect(store.path).execute(
            "SELECT data FROM events WHERE version = 2").fetchone()[0])
        assert raw["version"] == 1 and raw["payload"]["price"] == "29.99"


def test_upcasters_chain_and_refuse_a_second_step_from_one_version():
    upcaster = Upcaster()
    upcaster.register("ItemAdded", 1, lambda p: {**p, "quantity": 1})
    upcaster.register("ItemAdded", 2, lambda p: {**p, "currency": "USD"})
    with pytest.raises(ValueError, match="already"):
        upcaster.register("ItemAdded", 1, lambda p: p)
    event = upcaster.upcast(v1_item(1, "1.00"))
    assert event.version == 3 and event.payload["currency"] == "USD" and event.payload["quantity"] == 1
    assert upcaster.current_version("ItemAdded") == 3 and upcaster.current_version("OrderCreated") == 1
    current = item(1, version=3)
    assert upcaster.upcast(current) is current


# --- SQLite specifics -----------------------------------------------------------------------

def test_sqlite_uses_wal_and_survives_reopening(tmp_path):
    path = tmp_path / "events.db"
    with SQLiteEventStore(path) as store:
        assert store.pragma("journal_mode") == "wal" and store.pragma("synchronous") == 2
        store.append("order-1", [item(1), item(2)], NO_STREAM)
        store.save_snapshot(Snapshot("order-1", 2, 1, {"a": [1, "é"]}))
    with SQLiteEventStore(path, synchronous="NORMAL") as reopened:
        assert [e.event for e in reopened.read("order-1")] == [item(1), item(2)]
        assert reopened.latest_snapshot("order-1").state == {"a": [1, "é"]}
        assert reopened.pragma("synchronous") == 1


def test_two_sqlite_connections_see_each_others_appends_and_conflict(tmp_path):
    a, b = SQLiteEventStore(tmp_path / "e.db"), SQLiteEventStore(tmp_path / "e.db")
    a.append("order-1", [item(1)], NO_STREAM)
    assert b.current_version("order-1") == 1
    with pytest.raises(ConcurrencyError):
        b.append("order-1", [item(2)], NO_STREAM)
    b.append("order-1", [item(2)], 1)
    assert [e.version for e in a.read("order-1")] == [1, 2]


def test_sqlite_refuses_an_unknown_synchronous_setting(tmp_path):
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteEventStore(tmp_path / "e.db", synchronous="SOMETIMES")


# --- properties -----------------------------------------------------------------------------

commands = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 100_000), st.integers(1, 5)),
    st.tuples(st.just("discount"), st.integers(1, 50_000)),
    st.tuples(st.sampled_from(["confirm", "ship", "cancel"])),
), max_size=30)


def run_commands(order: Order, script: list[tuple]) -> list[dict]:
    """Run a script of commands (skipping those the rules refuse); return the state after each event."""
    states = []
    order.create("cust_1")
    states.append(order.snapshot_state())
    for command in script:
        try:
            if command[0] == "add":
                order.add_item("prod_1", "Mug", command[1], command[2])
            elif command[0] == "discount":
                order.apply_discount(command[1], "CODE")
            elif command[0] == "confirm":
                order.confirm()
            elif command[0] == "ship":
                order.ship()
            else:
                order.cancel("because")
        except OrderError:
            continue
        states.append(order.snapshot_state())
    return states


@given(commands)
def test_replaying_the_events_equals_the_state_built_step_by_step(script):
    for store in (InMemoryEventStore(), SQLiteEventStore(":memory:")):
        repo = Repository(store, Order, ids=SequentialIds(), clock=ManualClock(T0, timedelta(seconds=1)))
        order = repo.create("order-1")
        states = run_commands(order, script)
        repo.save(order)
        for version, state in enumerate(states, start=1):
            assert repo.load("order-1", at_version=version).snapshot_state() == state
        assert repo.load("order-1").snapshot_state() == states[-1] == order.snapshot_state()


@given(commands, st.data())
def test_snapshot_plus_tail_equals_full_replay_at_any_cut_point(script, data):
    store = SQLiteEventStore(":memory:")
    repo = Repository(store, Order, ids=SequentialIds(), clock=ManualClock(T0, timedelta(seconds=1)))
    order = repo.create("order-1")
    run_commands(order, script)
    repo.save(order)
    cut = data.draw(st.integers(1, order.version), label="cut")
    at_cut = repo.load("order-1", at_version=cut, use_snapshots=False)
    store.save_snapshot(Snapshot("order-1", cut, Order.state_schema_version, at_cut.snapshot_state()))
    with_snapshot = repo.load("order-1")
    assert repo.last_load.snapshot_version == cut
    assert repo.last_load.events_replayed == order.version - cut
    full = repo.load("order-1", use_snapshots=False)
    assert (with_snapshot.snapshot_state(), with_snapshot.version) == (full.snapshot_state(), full.version)


@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 99)), min_size=1, max_size=20))
def test_upcast_v1_events_load_as_v2(prices):
    store = SQLiteEventStore(":memory:", upcaster=order_upcaster())
    texts = [f"{dollars}.{pennies:02d}" for dollars, pennies in prices]
    store.append("order-1", [v1_item(n, text) for n, text in enumerate(texts)], NO_STREAM)
    loaded = [stored.event for stored in store.read("order-1")]
    assert {event.version for event in loaded} == {2}
    assert [event.payload["unitPriceCents"] for event in loaded] == [d * 100 + p for d, p in prices]
    assert all("price" not in event.payload for event in loaded)


# --- the explorer and the benchmark ---------------------------------------------------------

def test_the_history_explorer_shows_the_state_at_the_chosen_version(store):
    from course_lib.viz.eventsourcing import HistoryExplorer

    repo = source_text_order(store)
    explorer = HistoryExplorer(repo, "order-12345", version=4)
    text = explorer.static_text()
    assert "▶ v4" in text and "OrderConfirmed" in text and "(not yet)" in text
    assert text.endswith("Order order-12345: Draft, 2 items, total $44.98 (v4)")
    explorer.slider.value = 5
    assert explorer.static_text().endswith("Confirmed, 2 items, total $44.98 (v5)")
    assert "Confirmed, 2 items" in explorer.screen.value  # the widget shows the same text
    with pytest.raises(ValueError, match="order-404"):
        HistoryExplorer(repo, "order-404")


@pytest.mark.slow
def test_the_benchmark_runs_in_quick_mode(root):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, str(root / "benchmarks" / "eventstore_vs_eventsourcing.py"), "--quick"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "eventsourcing" in run.stdout and "speed-up" in run.stdout and "synchronous=1" in run.stdout


# --- Files that cannot be used ------------------------------------------------------------


def _sha(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_that_is_not_a_database_is_named_and_left_unchanged(tmp_path):
    from course_lib.eventstore import EventStoreFileError

    path = tmp_path / "orders.db"
    path.write_bytes(b"these are not the bytes of an SQLite database, " * 40)
    before = _sha(path)
    with pytest.raises(EventStoreFileError) as caught:
        SQLiteEventStore(path)
    assert str(path) in str(caught.value) and "not a database" in str(caught.value)
    assert "Nothing was changed" in str(caught.value)
    assert _sha(path) == before


def test_an_unreadable_path_is_named(tmp_path):
    from course_lib.eventstore import EventStoreFileError

    for path in (tmp_path, tmp_path / "missing-folder" / "orders.db"):
        with pytest.raises(EventStoreFileError, match="unable to open"):
            SQLiteEventStore(path)


def test_a_store_of_another_schema_is_refused_before_anything_is_written(tmp_path):
    import sqlite3

    from course_lib.eventstore import EventStoreFileError

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT, timestamp TEXT)")
    db.commit()
    db.close()
    before = _sha(path)
    with pytest.raises(EventStoreFileError, match="columns") as caught:
        SQLiteEventStore(path)
    assert "another version of course_lib" in str(caught.value)
    assert _sha(path) == before
    assert not (tmp_path / "old.db-wal").exists()
