"""Aggregates and the repository: the domain side of event sourcing.

An :class:`Aggregate` is a consistency boundary (an order, a stock item) whose
state is never stored, only derived: it is whatever replaying its own events
gives. Its commands check the rules and *record* new events; :meth:`Aggregate.apply`
is the one place state changes. A :class:`Repository` is the bridge to an
:class:`~course_lib.eventstore.EventStore`: it loads an aggregate by replaying its
stream (from a snapshot, when one is due and fits) and saves the recorded events
with the version it was loaded at, so two concurrent commands cannot both win.

The store (:mod:`course_lib.eventstore`) knows nothing about aggregates; the
course text's example aggregates live in :mod:`course_lib.order`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from course_lib.events import Event, format_timestamp, new_event
from course_lib.eventstore import NO_STREAM, AppendResult, EventStore, Snapshot

__all__ = [
    "Aggregate",
    "Repository",
    "SnapshotStrategy",
    "EverySnapshot",
    "AggregateNotFound",
    "LoadInfo",
]


class AggregateNotFound(KeyError):
    """No events exist for this aggregate id (or none as early as the time asked for)."""

    def __str__(self) -> str:
        return str(self.args[0])


class Aggregate:
    """A consistency boundary whose state is derived from its own events.

    A subclass writes two kinds of methods:

    * **commands** (``add_item``) check the rules against the current state and
      call :meth:`record` with the resulting event -- they never set state;
    * :meth:`apply` changes state from one event, and never refuses: the event
      already happened. Replaying is calling ``apply`` for every stored event.

    ``version`` is the number of events applied, i.e. the stream version.
    """

    aggregate_type = "Aggregate"
    state_schema_version = 1  # bump when snapshot_state()'s shape changes
    source = "course"

    def __init__(
        self,
        aggregate_id: str,
        *,
        ids: Callable[[], str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[Event] = []  # recorded but not yet saved
        self._ids, self._clock = ids, clock
        # Set by a command handler: (correlation id, causation id) for the events it records.
        self.cause: tuple[str, str] | None = None

    def apply(self, event: Event) -> None:
        """Change the state from one event. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__}.apply must handle {event.event_type}")

    def record(
        self, event_type: str, payload: dict[str, Any], *, version: int = 1, user_id: str | None = None
    ) -> Event:
        """Create the event, apply it, and keep it for the next save."""
        correlation_id, causation_id = self.cause or (None, None)
        event = new_event(
            event_type,
            self.id,
            self.aggregate_type,
            payload,
            version=version,
            correlation_id=correlation_id,
            causation_id=causation_id,
            user_id=user_id,
            source=self.source,
            ids=self._ids,
            clock=self._clock,
        )
        self.replay(event)
        self.pending.append(event)
        return event

    def replay(self, event: Event) -> None:
        """Apply one stored event and count it."""
        self.apply(event)
        self.version += 1

    def snapshot_state(self) -> dict[str, Any]:
        """The state as JSON-ready data, for snapshots. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} has no snapshot_state()")

    def restore_state(self, state: dict[str, Any]) -> None:
        """The inverse of :meth:`snapshot_state`."""
        raise NotImplementedError(f"{type(self).__name__} has no restore_state()")


@dataclass(frozen=True)
class EverySnapshot:
    """The usual snapshot strategy: a snapshot whenever the version crosses a multiple of ``n``."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"snapshot every n events needs n >= 1, not {self.n}")

    def due(self, before: int, after: int) -> bool:
        return after // self.n > before // self.n


SnapshotStrategy = EverySnapshot  # the one strategy so far; anything with due(before, after) -> bool works


@dataclass
class LoadInfo:
    """How the last load went: the cost snapshots exist to cut."""

    snapshot_version: int | None = None  # the snapshot used, if any
    events_replayed: int = 0
    stale_snapshot_ignored: bool = False  # the newest snapshot had another state schema


A = TypeVar("A", bound=Aggregate)  # the aggregate class a repository holds, e.g. Order


@dataclass
class Repository(Generic[A]):
    """Loads aggregates from a store and saves their new events with optimistic concurrency.

    ``Repository(store, Order)`` is a ``Repository[Order]``: what it loads is an Order.
    """

    store: EventStore
    aggregate_class: type[A]
    snapshots: EverySnapshot | None = None
    ids: Callable[[], str] | None = None
    clock: Callable[[], datetime] | None = None
    last_load: LoadInfo = field(default_factory=LoadInfo)

    def create(self, aggregate_id: str) -> A:
        """A new, empty aggregate (nothing is stored until it records events and is saved)."""
        return self.aggregate_class(aggregate_id, ids=self.ids, clock=self.clock)

    def load(
        self,
        aggregate_id: str,
        *,
        at_version: int | None = None,
        as_of: datetime | None = None,
        use_snapshots: bool = True,
    ) -> A:
        """The aggregate now, as of stream version ``at_version``, or as of time ``as_of``."""
        if at_version is not None and as_of is not None:
            raise ValueError("give at_version or as_of, not both")
        if as_of is not None:
            history = self.store.read_as_of(aggregate_id, as_of)
            if not history:
                raise AggregateNotFound(
                    f"{aggregate_id!r} had no events at or before {format_timestamp(as_of)}"
                )
            at_version = history[-1].version
        aggregate = self.create(aggregate_id)
        info = LoadInfo()
        start = 1
        snapshot = self.store.latest_snapshot(aggregate_id, at_version) if use_snapshots else None
        if snapshot is not None and snapshot.schema_version != aggregate.state_schema_version:
            # Written by a class with another state shape: misreading it would be worse than
            # replaying. Use the newest snapshot of the current shape, if there is one.
            info.stale_snapshot_ignored = True
            snapshot = self.store.latest_snapshot(
                aggregate_id, at_version, schema_version=aggregate.state_schema_version
            )
        if snapshot is not None:
            aggregate.restore_state(snapshot.state)
            aggregate.version = snapshot.version
            info.snapshot_version = snapshot.version
            start = snapshot.version + 1
        for stored in self.store.read(aggregate_id, start, at_version):
            aggregate.replay(stored.event)
            info.events_replayed += 1
        self.last_load = info
        if aggregate.version == 0:
            raise AggregateNotFound(f"no events stored for {aggregate_id!r}")
        return aggregate

    def save(self, aggregate: A) -> AppendResult:
        """Append the aggregate's pending events, expecting the version it was loaded at."""
        pending = aggregate.pending
        loaded_at = aggregate.version - len(pending)
        result = self.store.append(aggregate.id, pending, expected_version=loaded_at or NO_STREAM)
        aggregate.pending = []
        if self.snapshots is not None and self.snapshots.due(loaded_at, aggregate.version):
            self.store.save_snapshot(
                Snapshot(
                    aggregate.id,
                    aggregate.version,
                    aggregate.state_schema_version,
                    aggregate.snapshot_state(),
                )
            )
        return result
