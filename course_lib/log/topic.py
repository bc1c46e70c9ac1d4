"""A topic: partitions of append-only segments, with retention and compaction.

A partition is a sequence of records numbered by *offset*. On disk Kafka
stores it as *segments*, files of at most ``segment.bytes``; only the last one,
the *active* segment, is written to. Retention and compaction work on whole
closed segments, never on the active one, which is why a record can outlive
``retention.ms`` until its segment rolls.

Record sizes here count key + value + header bytes; a real broker also counts
a few dozen bytes of framing per batch, so it refuses slightly earlier.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from course_lib.log.errors import (
    InvalidConfigError,
    InvalidRecordError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceError,
    RecordTooLargeError,
)

Headers = tuple[tuple[str, bytes], ...]
BatchItem = tuple[bytes | None, bytes | None, Headers, int]  # key, value, headers, timestamp (ms)


class Record(NamedTuple):
    """One record as a consumer sees it (kafka-python calls it ConsumerRecord)."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # milliseconds since the epoch
    key: bytes | None
    value: bytes | None  # None is a tombstone on a compacted topic
    headers: Headers = ()


class RecordMetadata(NamedTuple):
    """What the broker acknowledges for a sent record. offset is -1 with acks=0."""

    topic: str
    partition: int
    offset: int
    timestamp: int


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """Bytes of key + value + headers (the payload; framing is not counted)."""
    size = (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
    for name, data in headers:
        size += len(name) + len(data)
    return size


# --- Topic configuration ------------------------------------------------------------------

_LONG_MAX = 2**63 - 1
_INT_MAX = 2**31 - 1
CLEANUP_POLICIES = ("delete", "compact")
COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")

# name -> (python attribute, minimum, maximum, Kafka's default, what it does)
_NUMERIC = {
    "retention.ms": (
        "retention_ms",
        -1,
        _LONG_MAX,
        604_800_000,
        "delete closed segments whose newest record is older than this (-1: keep forever)",
    ),
    "retention.bytes": (
        "retention_bytes",
        -1,
        _LONG_MAX,
        -1,
        "delete the oldest closed segments while a partition is bigger (-1: no limit)",
    ),
    "max.message.bytes": (
        "max_message_bytes",
        0,
        _INT_MAX,
        1_048_588,
        "the largest record (batch) the broker accepts",
    ),
    "segment.bytes": (
        "segment_bytes",
        14,
        _INT_MAX,
        1_073_741_824,
        "roll to a new segment when the active one would grow past this",
    ),
    "segment.ms": (
        "segment_ms",
        1,
        _LONG_MAX,
        604_800_000,
        "roll to a new segment when the active one is older than this",
    ),
    "min.insync.replicas": (
        "min_insync_replicas",
        1,
        _INT_MAX,
        1,
        "with acks=all, refuse writes while fewer replicas are in sync",
    ),
    "delete.retention.ms": (
        "delete_retention_ms",
        0,
        _LONG_MAX,
        86_400_000,
        "how long compaction keeps a tombstone, so consumers can see the delete",
    ),
}


@dataclass(frozen=True)
class TopicConfig:
    """A topic's settings, validated as a Kafka broker validates them."""

    retention_ms: int = 604_800_000
    retention_bytes: int = -1
    cleanup_policy: tuple[str, ...] = ("delete",)
    max_message_bytes: int = 1_048_588
    segment_bytes: int = 1_073_741_824
    segment_ms: int = 604_800_000
    min_insync_replicas: int = 1
    delete_retention_ms: int = 86_400_000
    compression_type: str = "producer"

    @classmethod
    def from_dict(cls, config: dict[str, Any] | None) -> TopicConfig:
        """Build from Kafka's dotted names (``{"retention.ms": 604800000, ...}``).

        Values may be ints or strings, as in a YAML file or on the command
        line. An unknown name or an out-of-range value is refused with the
        valid range, as the broker refuses it.
        """
        values: dict[str, Any] = {}
        for name, raw in (config or {}).items():
            if name in _NUMERIC:
                attribute, low, high, _default, meaning = _NUMERIC[name]
                values[attribute] = _parse_int(name, raw, low, high, meaning)
            elif name == "cleanup.policy":
                values["cleanup_policy"] = _parse_policy(raw)
            elif name == "compression.type":
                if raw not in COMPRESSION_TYPES:
                    raise InvalidConfigError(
                        f"compression.type={raw!r} is invalid; valid values: {', '.join(COMPRESSION_TYPES)}"
                    )
                values["compression_type"] = raw
            else:
                known = ", ".join(sorted([*_NUMERIC, "cleanup.policy", "compression.type"]))
                raise InvalidConfigError(f"unknown topic config {name!r}; known configs: {known}")
        return cls(**values)

    def to_dict(self) -> dict[str, str]:
        """Kafka's dotted names and string values, as ``kafka-configs --describe`` shows them."""
        out = {name: str(getattr(self, spec[0])) for name, spec in _NUMERIC.items()}
        out["cleanup.policy"] = ",".join(self.cleanup_policy)
        out["compression.type"] = self.compression_type
        return dict(sorted(out.items()))

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy


def _parse_int(name: str, raw: Any, low: int, high: int, meaning: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise InvalidConfigError(f"{name}={raw!r} must be an integer in [{low}, {high}] ({meaning})")
    try:
        value = int(raw)
    except ValueError:
        raise InvalidConfigError(
            f"{name}={raw!r} is not an integer; valid range [{low}, {high}] ({meaning})"
        ) from None
    if not low <= value <= high:
        raise InvalidConfigError(f"{name}={value} is out of range; valid range [{low}, {high}] ({meaning})")
    return value


def _parse_policy(raw: Any) -> tuple[str, ...]:
    parts = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    policies = tuple(sorted({str(part).strip() for part in parts if str(part).strip()}))
    if not policies or any(p not in CLEANUP_POLICIES for p in policies):
        raise InvalidConfigError(
            f"cleanup.policy={raw!r} is invalid; valid values: delete, compact, or both as 'compact,delete'"
        )
    return policies


# --- Segments and partitions -----------------------------------------------------------------


@dataclass
class Segment:
    """Part of a partition's log: records from ``base_offset`` on, at most segment.bytes."""

    base_offset: int
    created_ms: int
    records: list[Record] = field(default_factory=list)
    size: int = 0
    max_timestamp: int = -1

    def index_of(self, offset: int) -> int:
        """Position in ``records`` of the first record at or after ``offset``."""
        records = self.records
        i = offset - self.base_offset
        if 0 <= i < len(records) and records[i].offset == offset:
            return i  # no gaps before it: the common case, no search needed
        return bisect.bisect_left(records, offset, key=lambda r: r.offset)


class ProducerState(NamedTuple):
    """A batch an idempotent producer already wrote, remembered to spot its retries."""

    base_sequence: int
    record_count: int
    base_offset: int
    timestamp: int


class Partition:
    """One partition's log: segments, offsets, and the idempotent producers' sequences."""

    def __init__(self, topic: str, index: int, config: TopicConfig, replicas: list[int], now_ms: int) -> None:
        self.topic = topic
        self.index = index
        self.config = config
        self.replicas = replicas  # broker ids; the first live one leads
        self.segments: list[Segment] = [Segment(0, now_ms)]
        self._bases: list[int] = [0]
        self.log_end_offset = 0
        self.log_start_offset = 0
        self.size = 0
        # producer id -> the last 5 batches it wrote here, as Kafka's broker keeps them
        self.producers: dict[int, deque[ProducerState]] = {}

    # -- writing --
    def append(
        self, items: list[BatchItem], now_ms: int, producer_id: int = -1, base_sequence: int = -1
    ) -> tuple[int, int, bool]:
        """Append ``(key, value, headers, timestamp)`` items; return (base offset, timestamp, duplicate).

        With a producer id, a batch whose sequence the partition has already
        written is a retry: it is acknowledged with the original offsets and
        not written again. That is all the idempotent producer is.
        """
        config = self.config
        if producer_id >= 0:
            seen = self.producers.get(producer_id)
            if seen:
                for batch in seen:
                    if batch.base_sequence == base_sequence and batch.record_count == len(items):
                        return batch.base_offset, batch.timestamp, True
                expected = seen[-1].base_sequence + seen[-1].record_count
                if base_sequence != expected:
                    raise OutOfOrderSequenceError(
                        f"{self.topic}-{self.index}: producer {producer_id} sent sequence {base_sequence}, "
                        f"the broker expected {expected}"
                    )
        limit = config.max_message_bytes
        compact = config.compact
        for key, value, headers, _ts in items:
            size = record_size(key, value, headers)
            if size > limit:
                raise RecordTooLargeError(
                    f"a record of {size} bytes is larger than topic '{self.topic}' "
                    f"max.message.bytes={limit}; "
                    "raise max.message.bytes (and the producer's max.request.size) or store the payload "
                    "elsewhere and send a reference"
                )
            if compact and key is None:
                raise InvalidRecordError(
                    f"topic '{self.topic}' is compacted (cleanup.policy=compact): "
                    "every record needs a key, since compaction keeps the latest value per key"
                )
        topic, index = self.topic, self.index
        segment = self.segments[-1]
        segment_limit = config.segment_bytes
        if now_ms - segment.created_ms >= config.segment_ms and segment.records:
            segment = self._roll(now_ms)
        base = offset = self.log_end_offset
        for key, value, headers, timestamp in items:
            size = record_size(key, value, headers)
            if segment.size + size > segment_limit and segment.records:
                segment = self._roll(now_ms)
            segment.records.append(Record(topic, index, offset, timestamp, key, value, headers))
            segment.size += size
            if timestamp > segment.max_timestamp:
                segment.max_timestamp = timestamp
            self.size += size
            offset += 1
        self.log_end_offset = offset
        if producer_id >= 0:
            seen = self.producers.setdefault(producer_id, deque(maxlen=5))
            seen.append(ProducerState(base_sequence, len(items), base, items[0][3]))
        return base, items[0][3], False

    def append_fast(self, key: bytes | None, value: bytes | None, timestamp: int) -> int:
        """Append one record without headers, sequences or checks other than size: the hot path."""
        segment = self.segments[-1]
        size = (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
        if size > self.config.max_message_bytes or (key is None and self.config.compact):
            return self.append([(key, value, (), timestamp)], timestamp)[0]
        if segment.size + size > self.config.segment_bytes and segment.records:
            segment = self._roll(timestamp)
        offset = self.log_end_offset
        segment.records.append(Record(self.topic, self.index, offset, timestamp, key, value, ()))
        segment.size += size
        if timestamp > segment.max_timestamp:
            segment.max_timestamp = timestamp
        self.size += size
        self.log_end_offset = offset + 1
        return offset

    def _roll(self, now_ms: int) -> Segment:
        segment = Segment(self.log_end_offset, now_ms)
        self.segments.append(segment)
        self._bases.append(segment.base_offset)
        return segment

    # -- reading --
    def read(self, offset: int, max_records: int) -> list[Record]:
        """Up to ``max_records`` records from ``offset`` on (offsets may have gaps after compaction)."""
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise OffsetOutOfRangeError(
                f"offset {offset} is outside {self.topic}-{self.index}'s log "
                f"[{self.log_start_offset}, {self.log_end_offset}]"
            )
        out: list[Record] = []
        s = bisect.bisect_right(self._bases, offset) - 1
        segments = self.segments
        while s < len(segments) and len(out) < max_records:
            segment = segments[s]
            i = segment.index_of(offset) if segment.base_offset <= offset else 0
            out += segment.records[i : i + max_records - len(out)]
            s += 1
        return out

    def offset_for_time(self, timestamp: int) -> tuple[int, int] | None:
        """The first (offset, timestamp) with a timestamp >= ``timestamp``, or None."""
        for segment in self.segments:
            if segment.max_timestamp < timestamp:
                continue
            for record in segment.records:
                if record.timestamp >= timestamp:
                    return record.offset, record.timestamp
        return None

    # -- cleaning --
    def roll_if_due(self, now_ms: int) -> None:
        """Close the active segment if it is older than segment.ms.

        Kafka checks on each append and periodically.
        """
        active = self.segments[-1]
        if active.records and now_ms - active.created_ms >= self.config.segment_ms:
            self._roll(now_ms)

    def apply_retention(self, now_ms: int) -> list[Segment]:
        """Delete closed segments past retention.ms or beyond retention.bytes; return them."""
        config = self.config
        deleted: list[Segment] = []
        while len(self.segments) > 1:
            oldest = self.segments[0]
            too_old = config.retention_ms >= 0 and now_ms - oldest.max_timestamp > config.retention_ms
            too_big = config.retention_bytes >= 0 and self.size - oldest.size >= config.retention_bytes
            if not (too_old or too_big):
                break
            deleted.append(self.segments.pop(0))
            self._bases.pop(0)
            self.size -= oldest.size
        if deleted:
            self.log_start_offset = self.segments[0].base_offset
        return deleted

    def compact(self, now_ms: int) -> int:
        """Keep only the latest record per key in closed segments; return how many were removed.

        Tombstones (value None) stay for delete.retention.ms so consumers see
        the delete, then go too. The active segment is never cleaned, and
        offsets never change: compaction leaves gaps.
        """
        latest: dict[bytes | None, int] = {}
        for segment in self.segments:
            for record in segment.records:
                latest[record.key] = record.offset
        removed = 0
        for segment in self.segments[:-1]:
            kept = [
                r
                for r in segment.records
                if latest[r.key] == r.offset
                and not (r.value is None and now_ms - r.timestamp > self.config.delete_retention_ms)
            ]
            removed += len(segment.records) - len(kept)
            segment.records = kept
            new_size = sum(record_size(r.key, r.value, r.headers) for r in kept)
            self.size -= segment.size - new_size
            segment.size = new_size
        return removed

    def records(self) -> list[Record]:
        """Every record still in the log, oldest first."""
        return [record for segment in self.segments for record in segment.records]


class Topic:
    """A named set of partitions sharing one configuration."""

    def __init__(
        self, name: str, partitions: list[Partition], config: TopicConfig, replication_factor: int
    ) -> None:
        self.name = name
        self.partitions = partitions
        self.config = config
        self.replication_factor = replication_factor
