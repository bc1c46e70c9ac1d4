"""The embedded log's producer, consumer and admin surface, on a real broker via kafka-python.

``connect()`` returns a :class:`BrokerConnection` with the same methods as
:class:`course_lib.log.Cluster` (``create_topic``, ``producer``, ``consumer``,
``describe_topic``, ``describe_group``, ``reset_offsets``,
``read_from_beginning``), and the clients it makes return the same
:class:`~course_lib.log.Record`, :class:`~course_lib.log.RecordMetadata` and
:class:`~course_lib.log.TopicPartition` values. So a notebook written against
the embedded cluster runs unchanged when ``KAFKA_BOOTSTRAP_SERVERS`` is set.

What only the embedded model can do (move a simulated clock, stop a broker,
lose acknowledgements on purpose, crash a member without it leaving) is not
offered here: a real broker does those things on its own schedule.

Settings chosen for the course's local broker (Tansu): ``bootstrap_timeout_ms=5000``
so a missing broker fails fast, and consumer-group timings short enough that a
join takes about 3 s (``max_poll_interval_ms=3000``, ``session_timeout_ms=6000``,
``heartbeat_interval_ms=1000``). Compression: kafka-python needs the ``lz4``
package for ``compression_type='lz4'``; :func:`available_compression` says
which codecs this environment has (gzip always).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterable
from typing import Any

from course_lib.log.admin import GroupDescription, GroupOffsetRow, PartitionInfo, TopicDescription
from course_lib.log.assignors import TopicPartition
from course_lib.log.consumer import OffsetAndTimestamp
from course_lib.log.errors import GroupNotEmptyError, TopicExistsError, UnknownTopicError
from course_lib.log.partitioner import to_bytes
from course_lib.log.producer import Callback
from course_lib.log.topic import Record, RecordMetadata, TopicConfig
from course_lib.services import service_url

BOOTSTRAP_TIMEOUT_MS = 5_000
GROUP_TIMINGS = {"max_poll_interval_ms": 3_000, "session_timeout_ms": 6_000, "heartbeat_interval_ms": 1_000}
_CODEC_MODULES = {"gzip": None, "lz4": "lz4", "snappy": "snappy", "zstd": "zstandard"}

# kafka-python ships no type hints, so to mypy its objects are Any; these names say which is meant.
KafkaTopicPartition = Any
KafkaRecord = Any
KafkaFuture = Any


def available_compression() -> list[str]:
    """Compression codecs kafka-python can use here (each but gzip needs an extra package)."""
    return [
        codec
        for codec, module in _CODEC_MODULES.items()
        if module is None or importlib.util.find_spec(module) is not None
    ]


def connect(bootstrap_servers: str | None = None) -> BrokerConnection:
    """A connection to the broker at ``bootstrap_servers`` (default: $KAFKA_BOOTSTRAP_SERVERS)."""
    return BrokerConnection(bootstrap_servers or service_url("kafka"))


def _kafka_tp(tp: tuple[str, int]) -> KafkaTopicPartition:
    from kafka import TopicPartition as KafkaTP

    return KafkaTP(tp[0], tp[1])


def _record(r: KafkaRecord) -> Record:
    headers = tuple((name, value) for name, value in (r.headers or ()))
    return Record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, headers)


class BrokerConnection:
    """Admin commands and client factories for one Kafka-protocol broker."""

    def __init__(self, bootstrap_servers: str) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        self.bootstrap_servers = bootstrap_servers
        self.admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS
        )
        # A group-less consumer for offsets and reading: no group, so no joins to wait for.
        self._reader = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            enable_auto_commit=False,
        )
        self._configs: dict[str, dict[str, str]] = {}
        self._replication: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"BrokerConnection({self.bootstrap_servers!r})"

    def close(self) -> None:
        self._reader.close()
        self.admin.close()

    # -- topics --
    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int = 1,
        config: dict[str, Any] | None = None,
    ) -> TopicDescription:
        """Create a topic; settings are checked with the embedded rules first, for the same errors."""
        from kafka.errors import TopicAlreadyExistsError

        TopicConfig.from_dict(config)  # refuse out-of-range values with the valid range, before the broker
        configs = {key: str(value) for key, value in (config or {}).items()}
        try:
            self.admin.create_topics(
                {
                    name: {
                        "num_partitions": partitions,
                        "replication_factor": replication_factor,
                        "configs": configs,
                    }
                },
                wait_for_metadata=True,
            )
        except TopicAlreadyExistsError:
            raise TopicExistsError(
                f"topic '{name}' already exists; delete it first or pick another name"
            ) from None
        self._configs[name] = configs
        self._replication[name] = replication_factor
        return self.describe_topic(name)

    def delete_topic(self, name: str, missing_ok: bool = False) -> None:
        if name not in self.list_topics():
            if missing_ok:
                return
            raise UnknownTopicError(f"no topic named '{name}'")
        self.admin.delete_topics([name])
        deadline = time.monotonic() + 10
        while name in self.list_topics() and time.monotonic() < deadline:
            time.sleep(0.05)

    def list_topics(self) -> list[str]:
        return sorted(self.admin.list_topics())

    def partitions_for(self, topic: str) -> int:
        found = self.admin.describe_topics([topic])
        if not found or found[0].get("error_code") or not found[0]["partitions"]:
            raise UnknownTopicError(f"no topic named '{topic}'")
        return len(found[0]["partitions"])

    def _tps(self, topic: str) -> list[KafkaTopicPartition]:
        return [_kafka_tp((topic, p)) for p in range(self.partitions_for(topic))]

    def end_offsets(self, topic: str) -> dict[int, int]:
        return {tp.partition: offset for tp, offset in self._end_offsets(self._tps(topic)).items()}

    def _end_offsets(self, tps: list[KafkaTopicPartition]) -> dict[KafkaTopicPartition, int]:
        """Log end offsets, checked by reading past them.

        The local Tansu broker (0.6) answers ListOffsets(LATEST) with the last
        *batch's* base offset + 1, too small whenever that batch held more than
        one record; fetching from there finds the records it missed.
        """
        ends = dict(self._reader.end_offsets(tps))
        self._reader.assign(list(tps))
        for tp in tps:
            self._reader.seek(tp, ends[tp])
        while True:
            batches = self._reader.poll(timeout_ms=100)
            if not batches:
                return ends
            for tp, records in batches.items():
                ends[tp] = max(ends[tp], records[-1].offset + 1)

    def describe_topic(self, name: str) -> TopicDescription:
        found = self.admin.describe_topics([name])
        if not found or found[0].get("error_code"):
            raise UnknownTopicError(f"no topic named '{name}'")
        tps = self._tps(name)
        starts = self._reader.beginning_offsets(tps)
        ends = self._end_offsets(tps)
        infos = []
        for p in sorted(found[0]["partitions"], key=lambda p: p["partition_index"]):
            tp = _kafka_tp((name, p["partition_index"]))
            infos.append(
                PartitionInfo(
                    p["partition_index"],
                    p["leader_id"],
                    tuple(p["replica_nodes"]),
                    tuple(p["isr_nodes"]),
                    starts[tp],
                    ends[tp],
                )
            )
        rf = self._replication.get(name, len(found[0]["partitions"][0]["replica_nodes"]))
        return TopicDescription(name, tuple(infos), rf, dict(self._configs.get(name, {})))

    # -- groups --
    def _members(self, group_id: str) -> tuple[str, dict[TopicPartition, str]]:
        """The group's state and partition owners; ({}, 'Unknown') if the broker cannot say."""
        try:
            info = self.admin.describe_groups([group_id])[group_id]
        except Exception:  # kafka-python cannot decode some brokers' (Tansu's) ACL fields
            return "Unknown", {}
        owners: dict[TopicPartition, str] = {}
        for member in info.get("members", []):
            assignment = member.get("member_assignment") or {}
            for topic, parts in (
                getattr(assignment, "assignment", None) or assignment.get("assigned_partitions", []) or []
            ):
                for p in parts:
                    owners[TopicPartition(topic, p)] = member.get("member_id")
        return str(info.get("group_state", "Unknown")), owners

    def describe_group(self, group_id: str) -> GroupDescription:
        """Committed offset, log end offset and lag per partition, as kafka-consumer-groups prints."""
        offsets = self.admin.list_group_offsets(group_id).get(group_id, {})
        state, owners = self._members(group_id)
        partitions = sorted({TopicPartition(tp.topic, tp.partition) for tp in offsets} | set(owners))
        ends = self._end_offsets([_kafka_tp(tp) for tp in partitions]) if partitions else {}
        rows = []
        for tp in partitions:
            found = offsets.get(_kafka_tp(tp))
            current = found.offset if found is not None and found.offset >= 0 else None
            end = ends[_kafka_tp(tp)]
            rows.append(GroupOffsetRow.at(tp.topic, tp.partition, current, end, owners.get(tp)))
        if state == "Unknown":
            state = "Stable" if owners else "Empty"
        return GroupDescription(group_id, state, tuple(rows))

    def reset_offsets(
        self,
        group_id: str,
        topic: str,
        to: str | None = None,
        to_timestamp: int | None = None,
        to_offset: int | None = None,
    ) -> dict[int, int]:
        """kafka-consumer-groups --reset-offsets --execute; the broker refuses while members run."""
        from kafka.admin import OffsetSpec, OffsetTimestamp

        if [to is not None, to_timestamp is not None, to_offset is not None].count(True) != 1:
            raise ValueError("give exactly one of to='earliest'|'latest', to_timestamp=ms, to_offset=n")
        if to is not None:
            spec = {"earliest": OffsetSpec.EARLIEST, "latest": OffsetSpec.LATEST}.get(to)
            if spec is None:
                raise ValueError(f"to={to!r}: use 'earliest' or 'latest' (or to_timestamp= / to_offset=)")
        else:
            spec = OffsetTimestamp(to_timestamp) if to_timestamp is not None else to_offset
        result = self.admin.reset_group_offsets(group_id, {tp: spec for tp in self._tps(topic)})
        errors = {
            tp.partition: r["error"].__name__ for tp, r in result.items() if r["error"].__name__ != "NoError"
        }
        if errors:
            raise GroupNotEmptyError(
                f"the broker refused to reset group '{group_id}' ({errors}); stop its consumers first"
            )
        return {tp.partition: r["offset"] for tp, r in sorted(result.items())}

    def read_from_beginning(
        self, topic: str, max_messages: int = 10, timeout_ms: int = 10_000
    ) -> list[Record]:
        """Partition by partition from the log start, like the embedded cluster's.

        (A console consumer interleaves partitions.)
        """
        out: list[Record] = []
        ends = self.end_offsets(topic)
        for p in sorted(ends):
            if len(out) >= max_messages:
                break
            tp = _kafka_tp((topic, p))
            self._reader.assign([tp])
            self._reader.seek_to_beginning(tp)
            deadline = time.monotonic() + timeout_ms / 1000
            got: list[Record] = []
            while (
                len(out) + len(got) < max_messages
                and self._reader.position(tp) < ends[p]
                and time.monotonic() < deadline
            ):  # ends[] is checked: see _end_offsets
                for records in self._reader.poll(timeout_ms=200).values():
                    got += [_record(r) for r in records]
            out += got[: max_messages - len(out)]
        return out

    # -- clients --
    def producer(self, **settings: Any) -> BrokerProducer:
        return BrokerProducer(self.bootstrap_servers, **settings)

    def consumer(self, group_id: str | None = None, **settings: Any) -> BrokerConsumer:
        return BrokerConsumer(self.bootstrap_servers, group_id, connection=self, **settings)


class BrokerFuture:
    """kafka-python's future, answering with the course's RecordMetadata."""

    def __init__(self, future: KafkaFuture) -> None:
        self._future = future

    def done(self) -> bool:
        return bool(self._future.is_done)

    def get(self, timeout: float | None = 30) -> RecordMetadata:
        m = self._future.get(timeout=timeout)
        return RecordMetadata(m.topic, m.partition, m.offset, m.timestamp)


class BrokerProducer:
    """kafka-python's KafkaProducer behind the embedded Producer's ``send``/``flush``/``close``."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        acks: str | int = "all",
        enable_idempotence: bool = True,
        retries: int = 2_147_483_647,
        linger_ms: int = 0,
        batch_size: int = 16_384,
        max_in_flight_requests_per_connection: int = 5,
        retry_backoff_ms: int = 100,
        delivery_timeout_ms: int = 120_000,
        compression_type: str = "none",
        client_id: str = "producer-1",
        seed: int = 0,
    ) -> None:
        from kafka import KafkaProducer

        if compression_type not in ("none", *available_compression()):
            raise RuntimeError(
                f"compression_type={compression_type!r} needs a package that is not installed "
                f"here; available: {', '.join(available_compression())}"
            )
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            acks=acks,
            enable_idempotence=enable_idempotence,
            retries=retries,
            linger_ms=linger_ms,
            batch_size=batch_size,
            max_in_flight_requests_per_connection=max_in_flight_requests_per_connection,
            retry_backoff_ms=retry_backoff_ms,
            delivery_timeout_ms=delivery_timeout_ms,
            compression_type=None if compression_type == "none" else compression_type,
            client_id=client_id,
        )
        self.acks, self.enable_idempotence, self.linger_ms = acks, enable_idempotence, linger_ms

    def send(
        self,
        topic: str,
        key: bytes | str | None = None,
        value: bytes | str | None = None,
        headers: dict[str, bytes | str] | Iterable[tuple[str, bytes]] | None = None,
        *,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        callback: Callback | None = None,
    ) -> BrokerFuture:
        pairs = headers.items() if isinstance(headers, dict) else (headers or ())
        future = self._producer.send(
            topic,
            key=to_bytes(key),
            value=to_bytes(value),
            headers=[(str(n), to_bytes(v)) for n, v in pairs] or None,
            partition=partition,
            timestamp_ms=timestamp_ms,
        )
        if callback is not None:
            future.add_callback(
                lambda m: callback(None, RecordMetadata(m.topic, m.partition, m.offset, m.timestamp))
            )
            future.add_errback(lambda error: callback(error, None))
        return BrokerFuture(future)

    def flush(self) -> None:
        self._producer.flush()

    def close(self) -> None:
        self._producer.close()

    def __enter__(self) -> BrokerProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BrokerConsumer:
    """kafka-python's KafkaConsumer behind the embedded Consumer's methods (flat record lists)."""

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str | None = None,
        *,
        assignor: str = "range",
        auto_offset_reset: str = "latest",
        enable_auto_commit: bool = True,
        auto_commit_interval_ms: int = 5_000,
        session_timeout_ms: int | None = None,
        max_poll_records: int = 500,
        client_id: str | None = None,
        connection: BrokerConnection | None = None,
    ) -> None:
        from kafka import KafkaConsumer
        from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
        from kafka.coordinator.assignors.range import RangePartitionAssignor
        from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
        from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

        strategies = {
            "range": RangePartitionAssignor,
            "roundrobin": RoundRobinPartitionAssignor,
            "sticky": StickyPartitionAssignor,
            "cooperative-sticky": CooperativeStickyAssignor,
        }
        if assignor not in strategies:
            raise ValueError(f"assignor={assignor!r}; choose one of {sorted(strategies)}")
        timings = dict(GROUP_TIMINGS)
        if session_timeout_ms is not None:
            timings["session_timeout_ms"] = session_timeout_ms
        self.group_id = group_id
        self.client_id = client_id or "consumer"
        self._connection = connection
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            group_id=group_id,
            auto_offset_reset=auto_offset_reset,
            enable_auto_commit=enable_auto_commit and group_id is not None,
            auto_commit_interval_ms=auto_commit_interval_ms,
            max_poll_records=max_poll_records,
            partition_assignment_strategy=[strategies[assignor]],
            client_id=self.client_id,
            **timings,
        )

    def subscribe(self, topics: str | Iterable[str]) -> None:
        self._consumer.subscribe([topics] if isinstance(topics, str) else list(topics))

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        self._consumer.assign([_kafka_tp(tp) for tp in partitions])

    def assignment(self) -> list[TopicPartition]:
        return sorted(TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment())

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> list[Record]:
        batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        return [_record(r) for tp in sorted(batches) for r in batches[tp]]

    def poll_until(self, count: int, timeout_ms: int = 15_000) -> list[Record]:
        """Poll until ``count`` records arrived or ``timeout_ms`` passed (the first poll joins the group)."""
        out: list[Record] = []
        deadline = time.monotonic() + timeout_ms / 1000
        while len(out) < count and time.monotonic() < deadline:
            out += self.poll(timeout_ms=200, max_records=count - len(out))
        return out

    def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        if offsets is None:
            self._consumer.commit()
            return
        from kafka.structs import OffsetAndMetadata

        self._consumer.commit(
            {_kafka_tp(tp): OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
        )

    def committed(self, tp: TopicPartition) -> int | None:
        offset: int | None = self._consumer.committed(_kafka_tp(tp))
        return offset

    def position(self, tp: TopicPartition) -> int:
        offset: int = self._consumer.position(_kafka_tp(tp))
        return offset

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._consumer.seek(_kafka_tp(tp), offset)

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self._consumer.seek_to_beginning(*[_kafka_tp(tp) for tp in partitions])

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        tps = [_kafka_tp(tp) for tp in partitions] or list(self._consumer.assignment())
        if self._connection is None:
            self._consumer.seek_to_end(*tps)
            return
        for tp, end in self._connection._end_offsets(tps).items():  # checked ends: see _end_offsets
            self._consumer.seek(tp, end)

    def offsets_for_times(
        self, timestamps: dict[TopicPartition, int]
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        found = self._consumer.offsets_for_times({_kafka_tp(tp): ts for tp, ts in timestamps.items()})
        return {
            TopicPartition(tp.topic, tp.partition): None
            if v is None
            else OffsetAndTimestamp(v.offset, v.timestamp)
            for tp, v in found.items()
        }

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> BrokerConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
