"""CQRS: commands change aggregates; projections turn their events into read models.

The write side and the read side of the course text's diagram::

    command -> CommandBus -> handler -> aggregate -> events -> event store
    event store --read_all--> ProjectionEngine --> SqlListView   (sqlite3: list, filter by status)
                                               --> SearchIndex   (inverted index: find by text)
                                               --> RedisDashboard (counters and totals in Redis)

Each read model keeps a **checkpoint**: the position of the last event it has
applied. The rule that makes projections survive crashes is that the checkpoint
is stored *atomically with* the read model's update: both change, or neither.
A projection restarted after a crash resumes from its checkpoint and applies
nothing twice and misses nothing. How "atomically" is achieved depends on the
storage:

* ``SqlListView`` -- the rows and the checkpoint change in one SQLite transaction;
* ``RedisDashboard`` -- the counters and the checkpoint change in one MULTI/EXEC,
  with WATCH on the checkpoint so two engines cannot apply one batch twice;
* ``SearchIndex`` -- it lives in memory: a batch is built on a copy and swapped in
  with one assignment, so a failure mid-batch leaves the old index and checkpoint.
  A real crash loses index and checkpoint *together*, and the rebuild from
  position 0 is again consistent.

Read models lag behind the store: a query right after a command can be stale
until the engine catches up. That is *eventual consistency*; ``lag()`` measures it.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import redis

from course_lib.aggregate import Aggregate, Repository
from course_lib.backends import redis_client
from course_lib.events import uuid_ids
from course_lib.eventstore import AppendResult, ConcurrencyError, EventStore, StoredEvent

__all__ = [
    "Command",
    "CommandBus",
    "UnknownCommand",
    "Projection",
    "ProjectionEngine",
    "SqlListView",
    "SearchIndex",
    "RedisDashboard",
    "tokens",
]


# --- The write side --------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A request to change one aggregate: imperative ('AddItem'), and it may be refused.

    An event says what happened; a command says what someone wants to happen.
    """

    type: str
    aggregate_id: str
    data: dict[str, Any] = field(default_factory=dict)
    command_id: str = field(default_factory=lambda: uuid_ids("cmd"))
    user_id: str | None = None


class UnknownCommand(LookupError):
    """No handler is registered for this command type."""


A = TypeVar("A", bound=Aggregate)  # the aggregate class the bus's repository holds
Handler = Callable[[A, Command], None]


class CommandBus(Generic[A]):
    """Routes each command to its handler: load the aggregate, decide, save its new events.

    A handler calls the aggregate's command methods, which check the rules and
    record events; the bus saves them with optimistic concurrency. If another
    writer got there first (:class:`ConcurrencyError`) the bus reloads the
    aggregate and runs the handler again, up to ``retries`` times: the decision
    must be made on the newest state, never forced through.
    """

    def __init__(self, repository: Repository[A], retries: int = 3) -> None:
        self.repository = repository
        self.retries = retries
        self._handlers: dict[str, tuple[Handler[A], bool]] = {}

    def register(self, command_type: str, handler: Handler[A], *, creates: bool = False) -> None:
        """``creates=True``: the command starts a new aggregate instead of loading one."""
        self._handlers[command_type] = (handler, creates)

    def dispatch(self, command: Command) -> AppendResult:
        try:
            handler, creates = self._handlers[command.type]
        except KeyError:
            known = ", ".join(sorted(self._handlers)) or "none"
            raise UnknownCommand(f"no handler for command {command.type!r}; registered: {known}") from None
        for attempt in range(self.retries + 1):
            aggregate = (
                self.repository.create(command.aggregate_id)
                if creates
                else self.repository.load(command.aggregate_id)
            )
            # The command is the cause of its events and, here, starts their conversation.
            aggregate.cause = (command.command_id, command.command_id)
            handler(aggregate, command)
            try:
                return self.repository.save(aggregate)
            except ConcurrencyError:
                if creates or attempt == self.retries:
                    raise
        raise AssertionError("unreachable")


# --- Projections -----------------------------------------------------------------------------


class Projection:
    """A read model fed by events. Subclasses store state and a checkpoint, atomically together."""

    name = "projection"

    def checkpoint(self) -> int:
        """The position of the last event applied (0: none yet)."""
        raise NotImplementedError

    def process(self, events: list[StoredEvent]) -> None:
        """Apply the events after the checkpoint and move the checkpoint, all or nothing."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget everything, checkpoint included, so the engine rebuilds it from position 0."""
        raise NotImplementedError

    def dump(self) -> Any:
        """The whole read model as plain data, to compare two of them."""
        raise NotImplementedError


class ProjectionEngine:
    """Feeds projections from the store's global order, each from its own checkpoint."""

    def __init__(self, store: EventStore, projections: Iterable[Projection], batch_size: int = 100) -> None:
        self.store = store
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def run_once(self) -> int:
        """One batch for each projection that is behind; returns how many events were applied."""
        applied = 0
        for projection in self.projections.values():
            events = self.store.read_all(projection.checkpoint(), self.batch_size)
            if events:
                projection.process(events)
                applied += len(events)
        return applied

    def catch_up(self) -> int:
        """Run until every projection has seen every committed event."""
        total = 0
        while applied := self.run_once():
            total += applied
        return total

    def rebuild(self, name: str) -> int:
        """Throw one read model away and replay every event into it (after fixing a bug, say)."""
        projection = self.projections[name]
        projection.reset()
        total = 0
        while events := self.store.read_all(projection.checkpoint(), self.batch_size):
            projection.process(events)
            total += len(events)
        return total

    def lag(self) -> dict[str, int]:
        """How many committed events each projection has not applied yet."""
        last = self.store.last_position()
        return {name: last - p.checkpoint() for name, p in sorted(self.projections.items())}

    def start(self, interval: float = 0.005) -> None:
        """Catch up in a background thread, polling every ``interval`` seconds, until stop()."""
        if self._thread is not None:
            raise RuntimeError("the engine is already running")
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                if not self.run_once():
                    self._stop.wait(interval)

        self._thread = threading.Thread(target=loop, name="projection-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def wait_until_caught_up(self, timeout: float = 5.0) -> float:
        """Block until lag is 0 everywhere; return the seconds it took (the measured staleness)."""
        start = time.perf_counter()
        while any(self.lag().values()):
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"projections still behind after {timeout}s: {self.lag()}")
            time.sleep(0.0005)
        return time.perf_counter() - start


# --- Read model A: a SQL list view -----------------------------------------------------------

_LIST_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id    TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    item_count  INTEGER NOT NULL DEFAULT 0,
    total_cents INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status);
CREATE TABLE IF NOT EXISTS checkpoints (projection TEXT PRIMARY KEY, position INTEGER NOT NULL);
"""


class SqlListView(Projection):
    """Orders as rows: the query an event store cannot answer, ``WHERE status = 'Confirmed'``.

    One SQLite transaction per batch holds the row changes *and* the checkpoint.
    """

    name = "list_view"

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(f"BEGIN IMMEDIATE; {_LIST_SCHEMA} COMMIT;")

    def checkpoint(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT position FROM checkpoints WHERE projection = ?", (self.name,)
            ).fetchone()
        return row[0] if row else 0

    def process(self, events: list[StoredEvent]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT position FROM checkpoints WHERE projection = ?", (self.name,)
                ).fetchone()
                done = row[0] if row else 0  # re-read inside the transaction: nothing twice
                fresh = [e for e in events if e.position > done]
                for stored in fresh:
                    self.apply(self._db, stored)
                if fresh:
                    self._db.execute(
                        "INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (self.name, fresh[-1].position)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def apply(self, db: sqlite3.Connection, stored: StoredEvent) -> None:
        """One event's change to the rows (inside process()'s transaction)."""
        event = stored.event
        p, order_id, when = event.payload, event.aggregate_id, event.timestamp.isoformat()
        match event.event_type:
            case "OrderCreated":
                db.execute(
                    "INSERT INTO orders (order_id, customer_id, status, updated_at) "
                    "VALUES (?, ?, 'Draft', ?)",
                    (order_id, p["customerId"], when),
                )
            case "ItemAdded":
                db.execute(
                    "UPDATE orders SET item_count = item_count + ?, total_cents = total_cents + ?, "
                    "updated_at = ? WHERE order_id = ?",
                    (p["quantity"], p["quantity"] * p["unitPriceCents"], when, order_id),
                )
            case "DiscountApplied":
                db.execute(
                    "UPDATE orders SET total_cents = total_cents - ?, updated_at = ? WHERE order_id = ?",
                    (p["amountCents"], when, order_id),
                )
            case "OrderConfirmed" | "OrderShipped" | "OrderCancelled":
                status = event.event_type.removeprefix("Order")
                db.execute(
                    "UPDATE orders SET status = ?, updated_at = ? WHERE order_id = ?",
                    (status, when, order_id),
                )

    def orders(self, status: str | None = None, customer_id: str | None = None) -> list[dict[str, Any]]:
        """Orders, optionally filtered by status and customer, newest change last."""
        query, args = "SELECT order_id, customer_id, status, item_count, total_cents FROM orders", []
        conditions = []
        if status is not None:
            conditions.append("status = ?")
            args.append(status)
        if customer_id is not None:
            conditions.append("customer_id = ?")
            args.append(customer_id)
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY order_id", args).fetchall()
        keys = ("order_id", "customer_id", "status", "item_count", "total_cents")
        return [dict(zip(keys, row, strict=False)) for row in rows]

    def explain(self, query: str, args: tuple[Any, ...] = ()) -> list[str]:
        """How SQLite would run ``query`` (EXPLAIN QUERY PLAN): does it use an index?"""
        with self._lock:
            return [row[-1] for row in self._db.execute(f"EXPLAIN QUERY PLAN {query}", args)]

    def count_by_status(self) -> dict[str, int]:
        with self._lock:
            return dict(
                self._db.execute("SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status")
            )

    def reset(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM orders")
            self._db.execute("DELETE FROM checkpoints WHERE projection = ?", (self.name,))
            self._db.execute("COMMIT")

    def dump(self) -> list[dict[str, Any]]:
        return self.orders()


# --- Read model B: a search index ------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> set[str]:
    """Lower-case words: 'Blue Mug (XL)' -> {'blue', 'mug', 'xl'}."""
    return set(_WORD.findall(text.lower()))


@dataclass(frozen=True)
class _IndexState:
    """Everything the index knows, replaced whole: postings, documents and the checkpoint."""

    postings: dict[str, frozenset[str]]  # word -> order ids
    documents: dict[str, frozenset[str]]  # order id -> its words
    checkpoint: int


class SearchIndex(Projection):
    """An inverted index from words (customer ids, product ids and names) to orders.

    Stands in for the Elasticsearch of the course text: ``search("blue mug")``
    finds the orders whose text holds every word, the query neither the event
    store nor a status column can answer.
    """

    name = "search"

    def __init__(self) -> None:
        self._state = _IndexState({}, {}, 0)

    def checkpoint(self) -> int:
        return self._state.checkpoint

    def process(self, events: list[StoredEvent]) -> None:
        state = self._state
        documents = dict(state.documents)  # copies of the dicts; the sets inside are frozen
        changed: set[str] = set()
        for stored in events:
            if stored.position <= state.checkpoint:
                continue  # already applied: nothing twice
            words = self.words(stored)
            if words:
                order_id = stored.event.aggregate_id
                documents[order_id] = documents.get(order_id, frozenset()) | words
                changed.add(order_id)
        postings = dict(state.postings)
        for order_id in changed:
            for word in documents[order_id] - state.documents.get(order_id, frozenset()):
                postings[word] = postings.get(word, frozenset()) | {order_id}
        checkpoint = max([state.checkpoint] + [e.position for e in events])
        # One assignment: a reader (or a failure above) sees the old state or the new, never half.
        self._state = _IndexState(postings, documents, checkpoint)

    def words(self, stored: StoredEvent) -> set[str]:
        """The words one event adds to its order's document."""
        p = stored.event.payload
        match stored.event.event_type:
            case "OrderCreated":
                return tokens(f"{stored.event.aggregate_id} {p['customerId']}") | {p["customerId"].lower()}
            case "ItemAdded":
                return tokens(f"{p['productId']} {p['name']}") | {p["productId"].lower()}
        return set()

    def search(self, text: str) -> list[str]:
        """Order ids whose words include every word of ``text``, sorted."""
        state = self._state
        words = tokens(text)
        if not words:
            return []
        hits = [state.postings.get(word, frozenset()) for word in words]
        return sorted(frozenset.intersection(*hits))

    def reset(self) -> None:
        self._state = _IndexState({}, {}, 0)

    def dump(self) -> dict[str, list[str]]:
        return {word: sorted(ids) for word, ids in sorted(self._state.postings.items())}


# --- Read model C: a Redis dashboard ---------------------------------------------------------

_STATUS = {
    "OrderCreated": "Draft",
    "OrderConfirmed": "Confirmed",
    "OrderShipped": "Shipped",
    "OrderCancelled": "Cancelled",
}


class RedisDashboard(Projection):
    """Live counters in Redis: orders per status, items added, revenue of confirmed orders.

    Revenue counts an order when it is confirmed and takes it back if it is
    cancelled later (a refund).

    Each batch is one MULTI/EXEC transaction that also sets the checkpoint key.
    WATCH on the checkpoint makes EXEC fail if another engine moved it meanwhile;
    we then re-read and skip what it already applied, so nothing counts twice.
    """

    name = "dashboard"

    def __init__(self, client: redis.Redis | None = None, prefix: str = "dashboard") -> None:
        self.redis = client if client is not None else redis_client()
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def checkpoint(self) -> int:
        return int(self.redis.get(self.key("checkpoint")) or 0)

    def process(self, events: list[StoredEvent]) -> None:
        while True:
            with self.redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(self.key("checkpoint"), self.key("order_status"), self.key("order_revenue"))
                    done = int(pipe.get(self.key("checkpoint")) or 0)
                    fresh = [e for e in events if e.position > done]
                    if not fresh:
                        return
                    # Reads happen before MULTI; writes are queued and applied at EXEC, all at once.
                    orders: dict[str, dict[str, Any]] = {}
                    for stored in fresh:
                        order_id = stored.event.aggregate_id
                        if order_id not in orders:
                            revenue = pipe.hget(self.key("order_revenue"), order_id)
                            orders[order_id] = {
                                "status": pipe.hget(self.key("order_status"), order_id),
                                "revenue": int(revenue or 0),
                            }
                    pipe.multi()
                    for stored in fresh:
                        self.apply(pipe, stored, orders[stored.event.aggregate_id])
                    pipe.set(self.key("checkpoint"), fresh[-1].position)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue  # someone else moved the checkpoint: look again

    def apply(self, pipe: redis.client.Pipeline, stored: StoredEvent, order: dict[str, Any]) -> None:
        """Queue one event's changes. ``order`` is the order's status and revenue so far in this batch."""
        event, p = stored.event, stored.event.payload
        order_id = event.aggregate_id
        new_status = _STATUS.get(event.event_type)
        if new_status is not None:
            if order["status"] is not None:
                pipe.hincrby(self.key("orders_by_status"), order["status"], -1)
            pipe.hincrby(self.key("orders_by_status"), new_status, 1)
            pipe.hset(self.key("order_status"), order_id, new_status)
            order["status"] = new_status
        if event.event_type == "ItemAdded":
            pipe.incrby(self.key("items_added"), p["quantity"])
        elif event.event_type == "OrderConfirmed":
            pipe.incrby(self.key("revenue_cents"), p["totalCents"])
            pipe.hset(self.key("order_revenue"), order_id, p["totalCents"])
            order["revenue"] = p["totalCents"]
        elif event.event_type == "OrderCancelled" and order["revenue"]:
            pipe.incrby(self.key("revenue_cents"), -order["revenue"])  # a refund
            pipe.hdel(self.key("order_revenue"), order_id)
            order["revenue"] = 0

    def metrics(self) -> dict[str, Any]:
        by_status = {
            k: int(v) for k, v in sorted(self.redis.hgetall(self.key("orders_by_status")).items()) if int(v)
        }
        return {
            "orders_by_status": by_status,
            "items_added": int(self.redis.get(self.key("items_added")) or 0),
            "revenue_cents": int(self.redis.get(self.key("revenue_cents")) or 0),
        }

    def reset(self) -> None:
        names = (
            "checkpoint",
            "order_status",
            "order_revenue",
            "orders_by_status",
            "items_added",
            "revenue_cents",
        )
        self.redis.delete(*(self.key(name) for name in names))

    def dump(self) -> dict[str, Any]:
        return {**self.metrics(), "checkpoint": self.checkpoint()}
