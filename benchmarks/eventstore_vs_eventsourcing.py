"""course_lib's SQLiteEventStore against the `eventsourcing` library (9.x), same workload, one run.

Workload (the issue's): 200 orders x 50 items. Each command (create the order,
add one item) is saved in its own transaction, to a SQLite file in WAL mode with
the same ``synchronous`` setting on both sides (``--synchronous``, NORMAL by
default; ``eventsourcing`` has no option for it, so we set it on its connections). Then every order is
loaded back from the file.
Both sides keep the aggregate object in memory between commands, so the append
phase measures writing, not loading.

A second part measures what snapshots buy: loading a 100,000-event stream with
a snapshot every 1,000 events against loading it by full replay.

    .venv/bin/python benchmarks/eventstore_vs_eventsourcing.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate as EsAggregate  # noqa: E402
from eventsourcing.domain import event  # noqa: E402

from course_lib.aggregate import EverySnapshot, Repository  # noqa: E402
from course_lib.eventstore import SQLiteEventStore  # noqa: E402
from course_lib.order import InventoryItem, Order  # noqa: E402


class EsOrder(EsAggregate):
    """The same Order in the eventsourcing library's style."""

    @event("Created")
    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        self.status = "Draft"
        self.lines: list[dict] = []

    @event("ItemAdded")
    def add_item(self, product_id: str, name: str, quantity: int, unit_price_cents: int) -> None:
        self.lines.append(
            {"productId": product_id, "name": name, "quantity": quantity, "unitPriceCents": unit_price_cents}
        )


class EsOrders(Application):
    pass


def run_course_lib(path: str, orders: int, items: int, synchronous: str, per_command: bool = True) -> dict:
    store = SQLiteEventStore(path, synchronous=synchronous)
    repo = Repository(store, Order)
    ids = [f"order-{n:05d}" for n in range(orders)]
    start = time.perf_counter()
    for order_id in ids:
        order = repo.create(order_id)
        order.create(customer_id="cust_1")
        repo.save(order)
        for i in range(items):
            order.add_item(f"prod_{i:03d}", "Widget", 1999)
            if per_command:
                repo.save(order)
        if order.pending:  # one transaction for the whole order
            repo.save(order)
    append_s = time.perf_counter() - start
    start = time.perf_counter()
    loaded = [repo.load(order_id) for order_id in ids]
    load_s = time.perf_counter() - start
    assert all(o.item_count == items for o in loaded)
    info = {"journal_mode": store.pragma("journal_mode"), "synchronous": store.pragma("synchronous")}
    store.close()
    return {"append_s": append_s, "load_s": load_s, **info}


def _eventsourcing_synchronous(setting: str) -> None:
    """Make eventsourcing's SQLite connections use ``setting`` (it leaves SQLite's default, FULL).

    The library has no option for it, so we wrap its connection factory: the one
    place this benchmark reaches inside the peer, and only to make both sides equal.
    """
    from eventsourcing.sqlite import SQLiteConnectionPool

    original = SQLiteConnectionPool._create_connection
    if not hasattr(original, "course_original"):

        def create(pool):
            connection = original(pool)
            connection._sqlite_conn.execute(f"PRAGMA synchronous={pool.course_synchronous}")
            return connection

        create.course_original = original
        SQLiteConnectionPool._create_connection = create
    SQLiteConnectionPool.course_synchronous = setting


def run_eventsourcing(path: str, orders: int, items: int, synchronous: str, per_command: bool = True) -> dict:
    _eventsourcing_synchronous(synchronous)
    app = EsOrders(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path})
    recorder = app.recorder
    with recorder.datastore.transaction(commit=False) as cursor:  # read back what it really uses
        cursor.execute("PRAGMA synchronous")
        used = cursor.fetchone()[0]
    ids = []
    start = time.perf_counter()
    for _ in range(orders):
        order = EsOrder(customer_id="cust_1")
        app.save(order)
        for i in range(items):
            order.add_item(f"prod_{i:03d}", "Widget", 1, 1999)
            if per_command:
                app.save(order)
        if not per_command:
            app.save(order)
        ids.append(order.id)
    append_s = time.perf_counter() - start
    start = time.perf_counter()
    loaded = [app.repository.get(order_id) for order_id in ids]
    load_s = time.perf_counter() - start
    assert all(len(o.lines) == items for o in loaded)
    db = sqlite3.connect(path)
    journal = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    return {"append_s": append_s, "load_s": load_s, "journal_mode": journal, "synchronous": used}


def snapshot_benchmark(folder: str, length: int, every: int) -> dict:
    """Build one long stream, then load it by full replay and from the latest snapshot."""
    store = SQLiteEventStore(os.path.join(folder, "long.db"), synchronous="NORMAL")
    repo = Repository(store, InventoryItem, snapshots=EverySnapshot(every))
    item = repo.create("sku-001")
    for _ in range(length):
        item.receive(1)
        if len(item.pending) == every:  # one batch per snapshot interval keeps the build quick
            repo.save(item)
    repo.save(item)
    timings = {}
    for label, kwargs in (
        ("full replay", {"use_snapshots": False}),
        ("snapshot + tail", {}),
        ("worst tail", {"at_version": length - 1}),
    ):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            loaded = repo.load("sku-001", **kwargs)
            best = min(best, time.perf_counter() - start)
        timings[label] = (best, repo.last_load.events_replayed, loaded.on_hand)
    store.close()
    return timings


def best_of(rounds: int, folder: str, orders: int, items: int, synchronous: str, per_command: bool) -> tuple:
    """Alternate the two sides round by round and keep each side's best times.

    Other processes on the machine (and SQLite's periodic WAL checkpoints) add noise
    to single runs; alternating spreads it over both sides, the minimum filters it.
    """
    ours: dict = {}
    peer: dict = {}
    for n in range(rounds):
        for side, run, best in (("course", run_course_lib, ours), ("peer", run_eventsourcing, peer)):
            result = run(
                os.path.join(folder, f"{side}-{per_command}-{n}.db"), orders, items, synchronous, per_command
            )
            for key, value in result.items():
                best[key] = min(best[key], value) if key.endswith("_s") and key in best else value
    return ours, peer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument(
        "--synchronous",
        default="NORMAL",
        choices=["FULL", "NORMAL"],
        help="SQLite durability on both sides (default NORMAL: in WAL mode it survives a "
        "crashed process; FULL also survives a power cut, and timings then measure "
        "the disk's fsync more than either library)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds per side (best is kept)")
    args = parser.parse_args()
    orders, items = (20, 10) if args.quick else (200, 50)
    length, every = (10_000, 1_000) if args.quick else (100_000, 1_000)
    rounds = args.rounds or (1 if args.quick else 3)
    events = orders * (items + 1)

    with tempfile.TemporaryDirectory() as folder:
        ours, peer = best_of(rounds, folder, orders, items, args.synchronous, True)
        print(
            f"{orders} orders x {items} items = {events:,} events, one transaction per command, "
            f"best of {rounds}"
        )
        print(f"  course_lib   : journal_mode={ours['journal_mode']}, synchronous={ours['synchronous']}")
        print(f"  eventsourcing: journal_mode={peer['journal_mode']}, synchronous={peer['synchronous']}")
        print(f"{'':16}{'append ev/s':>14}{'load ev/s':>14}")
        for name, r in (("course_lib", ours), ("eventsourcing", peer)):
            print(f"{name:16}{events / r['append_s']:>14,.0f}{events / r['load_s']:>14,.0f}")
        print(
            f"{'ratio':16}{peer['append_s'] / ours['append_s']:>13.2f}x"
            f"{peer['load_s'] / ours['load_s']:>13.2f}x"
        )

        ours_b, peer_b = best_of(rounds, folder, orders, items, args.synchronous, False)
        print(f"\nfor comparison, one transaction per order ({items} items saved together):")
        for name, r in (("course_lib", ours_b), ("eventsourcing", peer_b)):
            print(f"{name:16}{events / r['append_s']:>14,.0f}")
        print(f"{'ratio':16}{peer_b['append_s'] / ours_b['append_s']:>13.2f}x")

        timings = snapshot_benchmark(folder, length, every)
        print(f"\nloading a {length:,}-event stream, snapshot every {every:,} events")
        for label, (seconds, replayed, on_hand) in timings.items():
            print(
                f"  {label:16} {seconds * 1000:10.2f} ms  ({replayed:,} events replayed, onHand={on_hand:,})"
            )
        full = timings["full replay"][0]
        print(
            f"  speed-up: {full / timings['snapshot + tail'][0]:.0f}x (latest snapshot), "
            f"{full / timings['worst tail'][0]:.0f}x (worst case, {every - 1} events after the snapshot)"
        )


if __name__ == "__main__":
    main()
