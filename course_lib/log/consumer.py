"""The consumer: group membership, positions, polling, committing, seeking.

A consumer keeps a *position* per assigned partition: the offset of the next
record it will read. ``commit()`` stores the position with the group
coordinator, so the committed offset is always *last processed + 1*. After a
rebalance or a restart, a partition's new owner starts at the committed
offset; with nothing committed (or a committed offset that retention already
deleted) it follows ``auto_offset_reset``: ``"earliest"`` (log start),
``"latest"`` (log end) or ``"none"`` (raise).

At-least-once means: process, *then* commit. A crash between the two makes the
next owner read those records again; committing first would lose them instead.
With ``enable_auto_commit=True`` (Kafka's default) ``poll()`` commits what the
previous polls returned every ``auto_commit_interval_ms``, so a crash re-delivers
at most that window.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from course_lib.log.assignors import ASSIGNORS, TopicPartition
from course_lib.log.errors import (
    IllegalStateError,
    InvalidConfigError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
)
from course_lib.log.group import Group, Member
from course_lib.log.state import ClusterState
from course_lib.log.topic import Record


class OffsetAndTimestamp(NamedTuple):
    offset: int
    timestamp: int


class Consumer:
    """Reads an embedded :class:`Cluster`, alone (``assign``) or in a group (``subscribe``)."""

    def __init__(
        self,
        cluster: ClusterState,
        group_id: str | None = None,
        *,
        assignor: str = "range",
        auto_offset_reset: str = "latest",
        enable_auto_commit: bool = True,
        auto_commit_interval_ms: int = 5_000,
        session_timeout_ms: int = 45_000,
        max_poll_records: int = 500,
        client_id: str | None = None,
    ) -> None:
        if assignor not in ASSIGNORS:
            raise InvalidConfigError(f"assignor={assignor!r}; choose one of {sorted(ASSIGNORS)}")
        if auto_offset_reset not in ("earliest", "latest", "none"):
            raise InvalidConfigError(
                f"auto_offset_reset={auto_offset_reset!r}; use 'earliest', 'latest' or 'none'"
            )
        if max_poll_records < 1:
            raise InvalidConfigError("max_poll_records must be at least 1")
        self.cluster = cluster
        self.group_id = group_id
        self.assignor = assignor
        self.auto_offset_reset = auto_offset_reset
        self.enable_auto_commit = enable_auto_commit and group_id is not None
        self.auto_commit_interval_ms = auto_commit_interval_ms
        self.session_timeout_ms = session_timeout_ms
        self.max_poll_records = max_poll_records
        self.client_id = client_id or cluster.new_client_id("consumer")
        self.member_id: str | None = None
        self.generation = 0
        self._positions: dict[TopicPartition, int | None] = {}  # None: look up committed / reset
        self._subscription: tuple[str, ...] = ()
        self._manual = False
        self._closed = False
        self._crashed = False
        self._turn = 0
        self._last_auto_commit = cluster.clock()

    def __repr__(self) -> str:
        partitions = [str(tp) for tp in self.assignment()]
        return f"Consumer({self.client_id!r}, group={self.group_id!r}, partitions={partitions})"

    # -- membership --
    def subscribe(self, topics: str | Iterable[str]) -> None:
        """Join the group for ``topics``; the coordinator rebalances and assigns partitions."""
        self._check_usable()
        if self.group_id is None:
            raise IllegalStateError("subscribe() needs a group_id; without a group use assign([...])")
        topics = (topics,) if isinstance(topics, str) else tuple(topics)
        for topic in topics:
            self.cluster.topic(topic)  # unknown topics raise here, with the list of known ones
        group = self.cluster.group(self.group_id)
        if self.member_id is not None:
            group.members.pop(self.member_id, None)
        self._subscription = tuple(sorted(topics))
        self.member_id = self.cluster.new_member_id(self.client_id)
        group.join(
            Member(
                self.member_id,
                self.client_id,
                self._subscription,
                self.assignor,
                self.session_timeout_ms,
                self,
                self.cluster.clock(),
            )
        )

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read these partitions directly, outside any group's rebalancing."""
        self._check_usable()
        if self.member_id is not None:
            raise IllegalStateError(
                "this consumer subscribed to a group; assign() and subscribe() do not mix"
            )
        self._manual = True
        self._positions = {TopicPartition(*tp): None for tp in partitions}

    def assignment(self) -> list[TopicPartition]:
        return sorted(self._positions)

    def _on_revoked(self, partitions: list[TopicPartition]) -> None:
        if self.enable_auto_commit:
            self._commit_positions([tp for tp in partitions if tp in self._positions])
        for tp in partitions:
            self._positions.pop(tp, None)

    def _on_assigned(self, partitions: list[TopicPartition], generation: int) -> None:
        self.generation = generation
        for tp in partitions:
            self._positions.setdefault(tp, None)

    # -- reading --
    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> list[Record]:
        """Up to ``max_records`` records from the assigned partitions, taking turns between them.

        ``timeout_ms`` is accepted for compatibility; the embedded log never waits.
        """
        self._check_usable()
        cluster = self.cluster
        if self.group_id is not None and not self._manual:
            cluster.expire_sessions()
            if (
                self.enable_auto_commit
                and cluster.clock() - self._last_auto_commit >= self.auto_commit_interval_ms
            ):
                self.commit()
        limit = max_records or self.max_poll_records
        partitions = sorted(self._positions)
        if not partitions:
            return []
        out: list[Record] = []
        start = self._turn % len(partitions)
        self._turn += 1
        for tp in partitions[start:] + partitions[:start]:
            part = cluster.partition(tp.topic, tp.partition)
            position = self._positions[tp]
            if position is None or position < part.log_start_offset or position > part.log_end_offset:
                position = self._reset(tp, position)
            if position == part.log_end_offset:
                continue
            records = part.read(position, limit - len(out))
            if records:
                out += records
                self._positions[tp] = records[-1].offset + 1
            else:
                self._positions[tp] = part.log_end_offset
            if len(out) >= limit:
                break
        return out

    def poll_until(self, count: int, timeout_ms: int = 15_000) -> list[Record]:
        """Poll until ``count`` records arrived or nothing is left (a broker: or ``timeout_ms`` passed)."""
        out: list[Record] = []
        while len(out) < count:
            records = self.poll(max_records=count - len(out))
            if not records:
                break
            out += records
        return out

    def _reset(self, tp: TopicPartition, position: int | None) -> int:
        """Where to start: the committed offset if still in the log, else auto_offset_reset."""
        part = self.cluster.partition(tp.topic, tp.partition)
        if position is None and self.group_id is not None:
            position = self.cluster.group(self.group_id).committed.get(tp)
        if position is not None and part.log_start_offset <= position <= part.log_end_offset:
            self._positions[tp] = position
            return position
        if self.auto_offset_reset == "none":
            if position is None:
                raise NoOffsetForPartitionError(
                    f"{tp}: no committed offset and auto_offset_reset='none'; "
                    "seek() first or choose 'earliest' or 'latest'"
                )
            raise OffsetOutOfRangeError(
                f"{tp}: offset {position} is outside the log "
                f"[{part.log_start_offset}, {part.log_end_offset}] and "
                "auto_offset_reset='none'"
            )
        position = part.log_start_offset if self.auto_offset_reset == "earliest" else part.log_end_offset
        self._positions[tp] = position
        return position

    def position(self, tp: TopicPartition) -> int:
        """The offset of the next record this consumer will read from ``tp``."""
        tp = self._assigned(tp)
        position = self._positions[tp]
        return self._reset(tp, position) if position is None else position

    # -- committing --
    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        """Store offsets with the group: by default every position (last returned + 1)."""
        self._check_usable()
        if self.group_id is None:
            raise IllegalStateError("commit() needs a group_id: offsets are stored per group")
        if offsets is None:
            self._commit_positions(list(self._positions))
        else:
            committed = self.cluster.group(self.group_id).committed
            for tp, offset in offsets.items():
                committed[TopicPartition(*tp)] = offset
        self._last_auto_commit = self.cluster.clock()

    def _commit_positions(self, partitions: list[TopicPartition]) -> None:
        """Commit each partition's position; one not read yet (None) has nothing to commit."""
        committed = self._group().committed
        for tp in partitions:
            position = self._positions[tp]
            if position is not None:
                committed[tp] = position

    def _group(self) -> Group:
        """The coordinator's state for this consumer's group."""
        if self.group_id is None:
            raise IllegalStateError(f"{self.client_id} has no group_id, so no group to ask")
        return self.cluster.group(self.group_id)

    def committed(self, tp: TopicPartition) -> int | None:
        """The group's committed offset for ``tp`` (None if nothing was committed)."""
        if self.group_id is None:
            return None
        return self.cluster.group(self.group_id).committed.get(TopicPartition(*tp))

    # -- seeking --
    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` on next poll (replay, or skip ahead)."""
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        self._positions[self._assigned(tp)] = offset

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions or self.assignment():
            tp = self._assigned(tp)
            self._positions[tp] = self.cluster.partition(tp.topic, tp.partition).log_start_offset

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        for tp in partitions or self.assignment():
            tp = self._assigned(tp)
            self._positions[tp] = self.cluster.partition(tp.topic, tp.partition).log_end_offset

    def offsets_for_times(
        self, timestamps: dict[TopicPartition, int]
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """Per partition, the first offset whose timestamp is >= the given time (or None)."""
        out: dict[TopicPartition, OffsetAndTimestamp | None] = {}
        for tp, timestamp in timestamps.items():
            tp = TopicPartition(*tp)
            found = self.cluster.partition(tp.topic, tp.partition).offset_for_time(timestamp)
            out[tp] = None if found is None else OffsetAndTimestamp(*found)
        return out

    def _assigned(self, tp: TopicPartition) -> TopicPartition:
        tp = TopicPartition(*tp)
        if tp not in self._positions:
            raise IllegalStateError(
                f"{tp} is not assigned to this consumer (it has {[str(t) for t in self.assignment()]})"
            )
        return tp

    # -- leaving --
    def close(self) -> None:
        """Commit (if auto-commit is on), leave the group, and let the others rebalance."""
        if self._closed or self._crashed:
            return
        if self.enable_auto_commit:
            self.commit()
        if self.member_id is not None:
            self._group().leave(self.member_id, "left the group")
        self._positions = {}
        self._closed = True

    def crash(self) -> None:
        """Die without committing or leaving: the group notices after session_timeout_ms."""
        self._check_usable()
        self._crashed = True
        if self.member_id is not None:
            member = self._group().members.get(self.member_id)
            if member is not None:
                member.crashed = True
                member.last_heartbeat_ms = self.cluster.clock()

    def _check_usable(self) -> None:
        if self._crashed:
            raise IllegalStateError(f"{self.client_id} crashed; start a new consumer in its place")
        if self._closed:
            raise IllegalStateError(f"{self.client_id} is closed; start a new consumer")

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
