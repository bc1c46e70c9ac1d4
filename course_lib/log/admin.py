"""What the operations commands print: kafka-topics --describe, kafka-consumer-groups --describe.

These are plain data with a ``__str__`` laid out like the command-line tools,
so the embedded cluster and the kafka-python connection can both return them
and a notebook prints the same table for either. :class:`AdminCommands` is the
set of commands both offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from course_lib.log.topic import Record


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    leader: int | None  # None: no live replica
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    log_start_offset: int
    log_end_offset: int


@dataclass(frozen=True)
class TopicDescription:
    """``kafka-topics.sh --describe --topic NAME``."""

    name: str
    partitions: tuple[PartitionInfo, ...]
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        settings = ",".join(f"{k}={v}" for k, v in sorted(self.config.items()))
        lines = [
            f"Topic: {self.name}\tPartitionCount: {len(self.partitions)}\t"
            f"ReplicationFactor: {self.replication_factor}\tConfigs: {settings}"
        ]
        for p in self.partitions:
            leader = "none" if p.leader is None else p.leader
            lines.append(
                f"\tTopic: {self.name}\tPartition: {p.partition}\tLeader: {leader}\t"
                f"Replicas: {','.join(map(str, p.replicas))}\tIsr: {','.join(map(str, p.isr))}"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class GroupOffsetRow:
    topic: str
    partition: int
    current_offset: int | None  # None: nothing committed yet
    log_end_offset: int
    lag: int | None
    consumer_id: str | None  # None: no member holds it now

    @classmethod
    def at(
        cls, topic: str, partition: int, current: int | None, log_end: int, consumer_id: str | None
    ) -> GroupOffsetRow:
        """A row whose lag is the log end minus the committed offset (none before a commit)."""
        lag = None if current is None else log_end - current
        return cls(topic, partition, current, log_end, lag, consumer_id)


@dataclass(frozen=True)
class GroupDescription:
    """``kafka-consumer-groups.sh --describe --group NAME``."""

    group_id: str
    state: str
    rows: tuple[GroupOffsetRow, ...]

    @property
    def total_lag(self) -> int:
        return sum(row.lag or 0 for row in self.rows)

    def lag(self) -> dict[int, int | None]:
        """Partition -> lag, for a single-topic group."""
        return {row.partition: row.lag for row in self.rows}

    def __str__(self) -> str:
        header = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID")
        rows = [header] + [
            (
                self.group_id,
                r.topic,
                str(r.partition),
                "-" if r.current_offset is None else str(r.current_offset),
                str(r.log_end_offset),
                "-" if r.lag is None else str(r.lag),
                r.consumer_id or "-",
            )
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [f"Consumer group '{self.group_id}' ({self.state})"]
        lines += [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows
        ]
        return "\n".join(lines)


class AdminCommands(Protocol):
    """The operations commands: what both the embedded ``Cluster`` and ``BrokerConnection`` answer."""

    def describe_topic(self, name: str) -> TopicDescription: ...

    def describe_group(self, group_id: str) -> GroupDescription: ...

    def reset_offsets(
        self,
        group_id: str,
        topic: str,
        to: str | None = None,
        to_timestamp: int | None = None,
        to_offset: int | None = None,
    ) -> dict[int, int]: ...

    def read_from_beginning(self, topic: str, max_messages: int = 10) -> list[Record]: ...
