"""An append-only event store: streams, optimistic concurrency, snapshots, temporal queries, upcasting.

Event sourcing keeps the *facts* (``OrderCreated``, ``ItemAdded``, ...) instead of
the latest state; the state is derived by replaying them. This module is the
storage half of that idea. Two stores share one interface, :class:`EventStore`:

* :class:`InMemoryEventStore` -- a list and a lock, for notebooks and tests;
* :class:`SQLiteEventStore` -- one SQLite file in WAL mode, one transaction per
  append, safe to share between processes.

Vocabulary (the same as EventStoreDB and the ``eventsourcing`` library):

* A **stream** holds the events of one aggregate, e.g. ``order-12345``.
* An event's **version** is its place in its stream. Versions are gapless and
  **start at 1**; an empty (or absent) stream is at version 0.
* An event's **position** is its place in the whole store, in commit order,
  also from 1. Projections follow positions (:meth:`EventStore.read_all`).
* ``Event.version`` in the envelope is something else again: the *schema*
  version of the payload, which :class:`Upcaster` moves forward on read.

``append(stream_id, events, expected_version)`` is all or nothing. The expected
version is an exact number, :data:`NO_STREAM` ("this stream must not exist yet")
or :data:`ANY` (no check). A mismatch raises :class:`ConcurrencyError`: someone
else wrote first, so reload, decide again, retry. Re-sending a batch whose event
ids are already stored (a retry after a lost acknowledgement) writes nothing and
returns the original versions and positions, so a retry is safe.

Aggregates and the repository that loads and saves them live in
:mod:`course_lib.aggregate`; this module knows events and streams only.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from course_lib.events import (
    MAX_EVENT_BYTES,
    Event,
    EventValidationError,
    format_timestamp,
)

__all__ = [
    "ANY",
    "NO_STREAM",
    "ExpectedVersion",
    "ConcurrencyError",
    "EventStoreFileError",
    "DuplicateEventError",
    "EventTooLargeError",
    "StoredEvent",
    "AppendResult",
    "Snapshot",
    "EventStore",
    "InMemoryEventStore",
    "SQLiteEventStore",
    "CatchUpSubscription",
    "Upcaster",
]

ANY = "any"
"""Expected version meaning 'append whatever the stream's version is' (no concurrency check)."""
NO_STREAM = "no stream"
"""Expected version meaning 'the stream must not exist yet' (the same as expecting version 0)."""

ExpectedVersion = int | str


class ConcurrencyError(Exception):
    """The stream was not at the expected version: another writer appended first.

    The fix is never to retry blindly: reload the aggregate (its new events may
    change the decision), run the command again, and append with the new version.
    """

    def __init__(self, stream_id: str, expected: ExpectedVersion, actual: int) -> None:
        super().__init__(stream_id, expected, actual)
        self.stream_id, self.expected, self.actual = stream_id, expected, actual

    def __str__(self) -> str:
        wanted = "no stream (version 0)" if self.expected == NO_STREAM else f"version {self.expected}"
        return (
            f"stream {self.stream_id!r}: expected {wanted}, but it is at version {self.actual}; "
            "another writer appended first: reload the aggregate and retry the command"
        )


class DuplicateEventError(ValueError):
    """A batch mixes event ids that are already stored with new ones: neither a retry nor new work."""


class EventTooLargeError(EventValidationError):
    """An event's encoded JSON is over MAX_EVENT_BYTES; nothing of its batch was written."""


@dataclass(frozen=True)
class StoredEvent:
    """An event as the store returns it: where it sits in its stream and in the whole store."""

    stream_id: str
    version: int  # place in the stream, from 1, gapless
    position: int  # place in the store, in commit order, from 1
    event: Event


@dataclass(frozen=True)
class AppendResult:
    """What an append wrote (or, for a retried batch, had already written)."""

    stream_id: str
    versions: list[int]
    positions: list[int]
    duplicate: bool = False  # True: these events were already stored, nothing was written

    @property
    def version(self) -> int:
        """The stream's version after this batch: the expected version for the next append."""
        return self.versions[-1] if self.versions else 0


@dataclass(frozen=True)
class Snapshot:
    """An aggregate's state at ``version``, so loading can skip the events before it.

    ``schema_version`` is the version of the *state's* shape (the aggregate class
    says which it writes). When the class changes its state, it bumps that number
    and old snapshots are ignored instead of being misread.
    """

    stream_id: str
    version: int
    schema_version: int
    state: dict[str, Any]


# --- Upcasting -------------------------------------------------------------------------------


class Upcaster:
    """Moves old events forward to the current schema, one version step at a time.

    Stored events are never rewritten (they are history); instead each read passes
    through the registered steps: ``ItemAdded`` v1 -> v2 -> v3. A step is a plain
    function from the old payload to the new one::

        upcaster = Upcaster()
        upcaster.register("ItemAdded", 1, lambda p: {**p, "priceCents": round(Decimal(p["price"]) * 100)})
    """

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}

    def register(
        self, event_type: str, from_version: int, step: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        """Add the step that turns ``event_type`` payloads of ``from_version`` into ``from_version + 1``."""
        if (event_type, from_version) in self._steps:
            raise ValueError(f"{event_type} already has an upcaster from version {from_version}")
        self._steps[event_type, from_version] = step

    def current_version(self, event_type: str, version: int = 1) -> int:
        """The version an event of this type and version ends up at after upcasting."""
        while (event_type, version) in self._steps:
            version += 1
        return version

    def upcast(self, event: Event) -> Event:
        """The event in its newest shape (the same object when no step applies)."""
        version, payload = event.version, event.payload
        while (event.event_type, version) in self._steps:
            payload = self._steps[event.event_type, version](payload)
            version += 1
        if version == event.version:
            return event
        return replace(event, version=version, payload=payload)  # replace() validates again

    def __bool__(self) -> bool:
        return bool(self._steps)


# --- Encoding --------------------------------------------------------------------------------


def _encode(event: Event | dict[str, Any]) -> tuple[Event, str]:
    """Validate (dicts become Events) and encode; refuse anything over MAX_EVENT_BYTES.

    An Event was validated when it was built, and it kept the JSON text that
    validation produced: the store writes exactly that text, so what is stored is
    exactly what was checked, and nothing is validated or encoded twice.
    """
    if isinstance(event, dict):
        event = Event.from_dict(event)  # an oversized dict fails here, with the size in the message
    if not isinstance(event, Event):
        raise TypeError(
            f"an event store stores Event objects (or their wire dicts), not {type(event).__name__}"
        )
    text = event.to_json()
    size = len(text) if text.isascii() else len(text.encode("utf-8"))  # ASCII: a byte per character
    if size > MAX_EVENT_BYTES:  # a validated Event cannot be this big; kept as the store's own guard
        raise EventTooLargeError(
            [
                (
                    "(event)",
                    "too large",
                    f"event {event.event_id} encodes to {size:,} bytes, over the limit of "
                    f"{MAX_EVENT_BYTES:,} (MAX_EVENT_BYTES); nothing of this batch was "
                    "written. Store the large data elsewhere and put a reference in the payload",
                )
            ]
        )
    return event, text


def _check_expected(stream_id: str, expected: ExpectedVersion, actual: int) -> None:
    if expected == ANY:
        return
    if expected == NO_STREAM:
        expected_number = 0
    elif isinstance(expected, int) and not isinstance(expected, bool) and expected >= 0:
        expected_number = expected
    else:
        raise ValueError(
            f"expected_version must be a version number >= 0, NO_STREAM or ANY, not {expected!r}"
        )
    if actual != expected_number:
        raise ConcurrencyError(stream_id, expected, actual)


def _batch(events: Iterable[Event | dict[str, Any]]) -> list[tuple[Event, str]]:
    encoded = [_encode(event) for event in events]
    ids = [event.event_id for event, _ in encoded]
    if len(set(ids)) != len(ids):
        raise DuplicateEventError(f"one batch holds the same eventId twice: {sorted(ids)}")
    return encoded


# --- The interface ---------------------------------------------------------------------------


class EventStore:
    """What every event store offers.

    Subclasses implement the storage methods (``append``, ``_read``, ``_read_all``,
    ``current_version``, ``last_position`` and the two snapshot methods); reading,
    upcasting, temporal queries and subscriptions are shared, so both stores behave alike.
    Both keep each event as the JSON text it was validated as, and every read builds
    fresh Event objects from it: no reader can change what another one reads.
    """

    upcaster: Upcaster | None = None

    def append(
        self, stream_id: str, events: Iterable[Event | dict[str, Any]], expected_version: ExpectedVersion
    ) -> AppendResult:
        """Append ``events`` to the stream as one atomic batch, if it is at ``expected_version``."""
        raise NotImplementedError

    def _read(self, stream_id: str, from_version: int, to_version: int | None) -> list[tuple[int, int, str]]:
        """(version, position, stored text) of the stream's events in the range, in order."""
        raise NotImplementedError

    def _read_all(self, after_position: int, limit: int | None) -> list[tuple[str, int, int, str]]:
        """(stream id, version, position, stored text) after ``after_position``, in commit order."""
        raise NotImplementedError

    def current_version(self, stream_id: str) -> int:
        """The stream's version: the number of events in it (0 if it does not exist)."""
        raise NotImplementedError

    def last_position(self) -> int:
        """The position of the newest event in the store (0 when empty)."""
        raise NotImplementedError

    def save_snapshot(self, snapshot: Snapshot) -> None:
        raise NotImplementedError

    def latest_snapshot(
        self, stream_id: str, max_version: int | None = None, schema_version: int | None = None
    ) -> Snapshot | None:
        """The newest snapshot of the stream, optionally no newer than ``max_version``
        and only of state schema ``schema_version``."""
        raise NotImplementedError

    # -- shared behaviour on top of the storage methods --

    def _event(self, text: str) -> Event:
        # Stored text was validated before it was written: rebuild it without checking again.
        event = Event.from_stored_json(text)
        if self.upcaster:
            event = self.upcaster.upcast(event)
        return event

    def read(self, stream_id: str, from_version: int = 1, to_version: int | None = None) -> list[StoredEvent]:
        """The stream's events with ``from_version <= version <= to_version``, in order."""
        return [
            StoredEvent(stream_id, version, position, self._event(text))
            for version, position, text in self._read(stream_id, from_version, to_version)
        ]

    def read_all(self, after_position: int = 0, limit: int | None = None) -> list[StoredEvent]:
        """Every stream's events after ``after_position``, in commit order: what projections follow."""
        return [
            StoredEvent(stream_id, version, position, self._event(text))
            for stream_id, version, position, text in self._read_all(after_position, limit)
        ]

    def read_as_of(self, stream_id: str, as_of: datetime) -> list[StoredEvent]:
        """The stream as it was at time ``as_of``: its events up to the first one recorded later.

        Stopping at the first later event (rather than filtering) keeps the answer
        a real past state of the stream even if writers' clocks were not monotonic.
        """
        cut = format_timestamp(as_of)
        events = []
        for stored in self.read(stream_id):
            if format_timestamp(stored.event.timestamp) > cut:
                break
            events.append(stored)
        return events

    def subscribe(self, after_position: int = 0) -> CatchUpSubscription:
        """A catch-up subscription: first the history after ``after_position``, then new events."""
        return CatchUpSubscription(self, after_position)

    def streams(self) -> list[str]:
        """Every stream id, sorted."""
        return sorted({stored.stream_id for stored in self.read_all()})


@dataclass
class CatchUpSubscription:
    """Follows the store from a position: each :meth:`poll` returns what was committed since.

    The subscriber owns its position; to survive restarts it stores the position
    of the last event it handled (a *checkpoint*) and subscribes from there.
    """

    store: EventStore
    position: int = 0

    def poll(self, limit: int | None = 1000) -> list[StoredEvent]:
        """The next events in commit order (at most ``limit``), advancing the position."""
        events = self.store.read_all(self.position, limit)
        if events:
            self.position = events[-1].position
        return events

    def __iter__(self) -> Iterator[StoredEvent]:
        """Everything available now, in batches; stops when caught up."""
        while batch := self.poll():
            yield from batch

    @property
    def lag(self) -> int:
        """How many committed events this subscriber has not seen yet."""
        return self.store.last_position() - self.position


# --- In memory -------------------------------------------------------------------------------


class InMemoryEventStore(EventStore):
    """The store as plain lists of JSON texts, behind one lock so threads append atomically."""

    def __init__(self, upcaster: Upcaster | None = None) -> None:
        self.upcaster = upcaster
        self._lock = threading.RLock()
        self._log: list[tuple[str, int, str]] = []  # (stream_id, version, text); position = index + 1
        self._streams: dict[str, list[int]] = {}  # stream_id -> positions
        self._by_id: dict[str, int] = {}  # event_id -> position
        self._snapshots: dict[str, list[Snapshot]] = {}

    def append(
        self, stream_id: str, events: Iterable[Event | dict[str, Any]], expected_version: ExpectedVersion
    ) -> AppendResult:
        batch = _batch(events)
        with self._lock:
            known = [self._by_id.get(event.event_id) for event, _ in batch]
            if batch and all(known):
                stored = [(self._log[p - 1][0], self._log[p - 1][1], p) for p in known if p]
                return _duplicate(stream_id, stored)
            if any(known):
                raise DuplicateEventError(_mixed_message(stream_id, batch, known))
            positions = self._streams.get(stream_id, [])
            _check_expected(stream_id, expected_version, len(positions))
            versions, new_positions = [], []
            for event, text in batch:
                version = len(positions) + 1
                self._log.append((stream_id, version, text))
                position = len(self._log)
                positions.append(position)
                self._by_id[event.event_id] = position
                versions.append(version)
                new_positions.append(position)
            if positions:
                self._streams[stream_id] = positions
            return AppendResult(stream_id, versions, new_positions)

    def _read(self, stream_id: str, from_version: int, to_version: int | None) -> list[tuple[int, int, str]]:
        with self._lock:
            positions = self._streams.get(stream_id, [])
            last = len(positions) if to_version is None else min(to_version, len(positions))
            return [
                (v, positions[v - 1], self._log[positions[v - 1] - 1][2])
                for v in range(max(from_version, 1), last + 1)
            ]

    def _read_all(self, after_position: int, limit: int | None) -> list[tuple[str, int, int, str]]:
        with self._lock:
            end = len(self._log) if limit is None else min(len(self._log), after_position + limit)
            return [
                (s, v, p + 1, t) for p, (s, v, t) in enumerate(self._log[after_position:end], after_position)
            ]

    def current_version(self, stream_id: str) -> int:
        with self._lock:
            return len(self._streams.get(stream_id, []))

    def last_position(self) -> int:
        with self._lock:
            return len(self._log)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        with self._lock:
            # a JSON round trip, as SQLite does, so both stores hand back equal, unshared state
            copy = replace(snapshot, state=json.loads(json.dumps(snapshot.state)))
            self._snapshots.setdefault(snapshot.stream_id, []).append(copy)

    def latest_snapshot(
        self, stream_id: str, max_version: int | None = None, schema_version: int | None = None
    ) -> Snapshot | None:
        with self._lock:
            fits = [
                s
                for s in self._snapshots.get(stream_id, [])
                if (max_version is None or s.version <= max_version)
                and (schema_version is None or s.schema_version == schema_version)
            ]
            if not fits:
                return None
            best = max(fits, key=lambda s: s.version)
            return replace(best, state=json.loads(json.dumps(best.state)))


def _duplicate(stream_id: str, rows: list[tuple[str, int, int]]) -> AppendResult:
    """The answer to a retried batch: where its events already are."""
    streams = {row[0] for row in rows}
    if streams != {stream_id}:
        raise DuplicateEventError(
            f"these events are already stored in stream(s) {sorted(streams)}, not in {stream_id!r}"
        )
    return AppendResult(stream_id, [row[1] for row in rows], [row[2] for row in rows], duplicate=True)


def _mixed_message(stream_id: str, batch: list[tuple[Event, str]], known: Sequence[Any]) -> str:
    old = [event.event_id for (event, _), k in zip(batch, known, strict=False) if k]
    return (
        f"append to {stream_id!r}: events {old} are already stored but the rest of the batch is "
        "new; a retry must resend exactly the same batch, and new work needs new event ids"
    )


# --- SQLite ----------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position   INTEGER PRIMARY KEY,  -- commit order (the rowid; rows are never deleted, so never reused)
    stream_id  TEXT    NOT NULL,
    version    INTEGER NOT NULL,                   -- place in the stream, from 1
    event_id   TEXT    NOT NULL UNIQUE,            -- makes a retried append detectable
    data       TEXT    NOT NULL,                   -- Event.to_json(): the whole event
    UNIQUE (stream_id, version)                    -- the index every read of a stream uses
);
CREATE TABLE IF NOT EXISTS snapshots (
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    state          TEXT    NOT NULL,
    PRIMARY KEY (stream_id, version)
);
"""


_EVENT_COLUMNS = ("position", "stream_id", "version", "event_id", "data")


class EventStoreFileError(Exception):
    """An event-store file that cannot be used: corrupt, unreadable, or of another schema.

    Says which file and what to do, and never changes the file: it may hold the only
    copy of someone's history.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(
            f"cannot use {path!r} as an event store: {problem}. Nothing was changed. "
            "Check the path and its permissions; if the file is not an event store of this "
            "course, open a new store at another path (or move the file away)"
        )


class SQLiteEventStore(EventStore):
    """The store in one SQLite file: WAL mode, one ``BEGIN IMMEDIATE`` transaction per append.

    ``BEGIN IMMEDIATE`` takes SQLite's write lock *before* reading the stream's
    version, so the check and the insert cannot interleave with another process's;
    a second writer waits (up to ``timeout`` seconds) and then sees the new
    version. ``UNIQUE (stream_id, version)`` backs that up inside the database.
    WAL lets readers (projections, other processes) read while one writer writes.

    A row holds the event's JSON text as it was validated, plus only the columns
    SQLite must index: position, stream and version, event id. Each index costs
    every append a little (three b-trees take each new event), so there is no
    other; a query on anything else reads it out of the JSON (see read_as_of).
    Event ids made by :func:`~course_lib.events.uuid_ids` are time-ordered, so a
    batch's new ids sit together at the end of the event-id index. An append runs
    four statements (BEGIN, one SELECT, one INSERT for the whole batch, COMMIT);
    Python's sqlite3 keeps each one prepared, keyed by its SQL text, so none is
    parsed twice.

    ``synchronous`` is SQLite's durability knob: ``FULL`` (the default) survives a
    power cut; ``NORMAL`` in WAL mode survives a crash of the process (SIGKILL)
    but may lose the last commits on a power cut. Use ``":memory:"`` for a
    throwaway store.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        upcaster: Upcaster | None = None,
        synchronous: str = "FULL",
        timeout: float = 30.0,
    ) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = str(path)
        self.upcaster = upcaster
        self._lock = threading.RLock()  # one connection, shared safely between threads
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so one append is one transaction.
            self._db = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            # Look before writing anything: a file of another schema is left as it was.
            columns = [row[1] for row in self._db.execute("PRAGMA table_info(events)")]
            if columns and columns != list(_EVENT_COLUMNS):
                self._db.close()
                raise EventStoreFileError(
                    self.path,
                    f"its events table has the columns {columns}, not {list(_EVENT_COLUMNS)}: "
                    "it was made by another program or another version of course_lib",
                )
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
        except sqlite3.DatabaseError as error:  # not a database, unreadable, a folder, read-only...
            raise EventStoreFileError(self.path, str(error)) from error

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pragma(self, name: str) -> Any:
        """Read a PRAGMA, e.g. ``store.pragma("journal_mode")`` -> 'wal'."""
        with self._lock:
            return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    def append(
        self, stream_id: str, events: Iterable[Event | dict[str, Any]], expected_version: ExpectedVersion
    ) -> AppendResult:
        batch = _batch(events)  # validate and encode before taking the write lock
        if not batch:
            _check_expected(stream_id, expected_version, self.current_version(stream_id))
            return AppendResult(stream_id, [], [])
        try:
            with self._transaction() as db:
                # One query for both numbers this append needs: the stream's version (the
                # concurrency check) and the store's last position (where this batch goes).
                actual, last = db.execute(
                    "SELECT (SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?), "
                    "(SELECT COALESCE(MAX(position), 0) FROM events)",
                    (stream_id,),
                ).fetchone()
                _check_expected(stream_id, expected_version, actual)
                # We hold the write lock, so positions last+1, last+2, ... are ours to take.
                rows = [
                    (last + i, stream_id, actual + i, event.event_id, text)
                    for i, (event, text) in enumerate(batch, start=1)
                ]
                db.executemany(
                    "INSERT INTO events (position, stream_id, version, event_id, data) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
        except (ConcurrencyError, sqlite3.IntegrityError):
            # The transaction has rolled back. Rare paths pay for one more query: was this a
            # retry of a batch that is already stored (UNIQUE event_id refused it)?
            result = self._already_stored(stream_id, batch)
            if result is None:
                raise
            return result
        return AppendResult(stream_id, [row[2] for row in rows], [row[0] for row in rows])

    def _already_stored(self, stream_id: str, batch: list[tuple[Event, str]]) -> AppendResult | None:
        """Where a retried batch already is; None if none of it is stored; refuse a mix."""
        ids = [event.event_id for event, _ in batch]
        with self._lock:
            rows = self._db.execute(
                f"SELECT event_id, stream_id, version, position FROM events "
                f"WHERE event_id IN ({','.join('?' * len(ids))})",
                ids,
            ).fetchall()
        found = {row[0]: row[1:] for row in rows}
        if not found:
            return None
        if len(found) < len(ids):
            raise DuplicateEventError(_mixed_message(stream_id, batch, [i in found for i in ids]))
        return _duplicate(stream_id, [found[i] for i in ids])

    def _read(self, stream_id: str, from_version: int, to_version: int | None) -> list[tuple[int, int, str]]:
        with self._lock:
            return self._db.execute(
                "SELECT version, position, data FROM events WHERE stream_id = ? AND version >= ? "
                "AND version <= ? ORDER BY version",
                (stream_id, from_version, to_version if to_version is not None else 2**62),
            ).fetchall()

    def _read_all(self, after_position: int, limit: int | None) -> list[tuple[str, int, int, str]]:
        with self._lock:
            return self._db.execute(
                "SELECT stream_id, version, position, data FROM events WHERE position > ? "
                "ORDER BY position LIMIT ?",
                (after_position, -1 if limit is None else limit),
            ).fetchall()

    def read_as_of(self, stream_id: str, as_of: datetime) -> list[StoredEvent]:
        # The same rule as the base class, in SQL: stop before the first event recorded later.
        # The wire timestamps ('2026-05-15T14:30:00.000Z') sort as text in time order.
        with self._lock:
            later = self._db.execute(
                "SELECT MIN(version) FROM events "
                "WHERE stream_id = ? AND json_extract(data, '$.timestamp') > ?",
                (stream_id, format_timestamp(as_of)),
            ).fetchone()[0]
        return self.read(stream_id, 1, None if later is None else later - 1)

    def current_version(self, stream_id: str) -> int:
        with self._lock:
            (version,) = self._db.execute(
                "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?", (stream_id,)
            ).fetchone()
        return int(version)

    def last_position(self) -> int:
        with self._lock:
            (position,) = self._db.execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()
        return int(position)

    def streams(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT DISTINCT stream_id FROM events ORDER BY 1")]

    def save_snapshot(self, snapshot: Snapshot) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)",
                (
                    snapshot.stream_id,
                    snapshot.version,
                    snapshot.schema_version,
                    json.dumps(snapshot.state, separators=(",", ":")),
                ),
            )

    def latest_snapshot(
        self, stream_id: str, max_version: int | None = None, schema_version: int | None = None
    ) -> Snapshot | None:
        query = "SELECT version, schema_version, state FROM snapshots WHERE stream_id = ? AND version <= ?"
        args: list[Any] = [stream_id, max_version if max_version is not None else 2**62]
        if schema_version is not None:
            query += " AND schema_version = ?"
            args.append(schema_version)
        with self._lock:
            row = self._db.execute(query + " ORDER BY version DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        return Snapshot(stream_id, row[0], row[1], json.loads(row[2]))


class _Transaction:
    """``with`` block = BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if anything raised."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db, self.lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        return self.db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()
