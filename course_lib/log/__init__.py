"""An embedded model of Kafka: a partitioned, replayable commit log with consumer groups.

Read it in this order, one idea per module:

* :mod:`~course_lib.log.partitioner`: key -> partition, exactly as Kafka clients do it;
* :mod:`~course_lib.log.topic`: partitions made of segments, retention, compaction;
* :mod:`~course_lib.log.producer`: batches, acks, retries, the idempotent producer;
* :mod:`~course_lib.log.assignors`: range, roundrobin, sticky, cooperative-sticky;
* :mod:`~course_lib.log.group`: the coordinator: joins, leaves, crashes, rebalances;
* :mod:`~course_lib.log.consumer`: positions, poll, commit (last processed + 1), seek;
* :mod:`~course_lib.log.state`: topics, brokers, groups, the simulated clock, admin commands;
* :mod:`~course_lib.log.cluster`: ``Cluster``, that state plus its ``producer()`` and ``consumer()``;
* :mod:`~course_lib.log.admin`: what ``kafka-topics`` and ``kafka-consumer-groups`` print.

Time is :class:`course_lib.clock.SimClock`, in milliseconds (re-exported here).

The same producer/consumer/admin surface runs against a real broker through
:func:`course_lib.kafka_backend.connect` (``course_lib.backends.log_cluster()``
picks one from ``KAFKA_BOOTSTRAP_SERVERS``).
"""

from course_lib.clock import COURSE_EPOCH_MS, SimClock
from course_lib.log.admin import (
    AdminCommands,
    GroupDescription,
    GroupOffsetRow,
    PartitionInfo,
    TopicDescription,
)
from course_lib.log.assignors import (
    ASSIGNORS,
    TopicPartition,
    assign,
    assign_range,
    assign_roundrobin,
    assign_sticky,
    cooperative_plan,
)
from course_lib.log.cluster import Cluster
from course_lib.log.consumer import Consumer, OffsetAndTimestamp
from course_lib.log.errors import (
    AckLostError,
    GroupNotEmptyError,
    IllegalStateError,
    InvalidConfigError,
    InvalidRecordError,
    KafkaError,
    LeaderNotAvailableError,
    NoOffsetForPartitionError,
    NotEnoughReplicasError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceError,
    RecordTooLargeError,
    TopicExistsError,
    UnknownTopicError,
)
from course_lib.log.group import Group, Rebalance
from course_lib.log.partitioner import StickyPartitioner, murmur2, partition_for
from course_lib.log.producer import Producer, SendFuture
from course_lib.log.state import ClusterState
from course_lib.log.topic import Record, RecordMetadata, TopicConfig


def describe_topic(cluster: AdminCommands, name: str) -> TopicDescription:
    """``kafka-topics.sh --describe --topic NAME`` (embedded cluster or broker connection)."""
    return cluster.describe_topic(name)


def describe_group(cluster: AdminCommands, group_id: str) -> GroupDescription:
    """``kafka-consumer-groups.sh --describe --group ID``: offsets, log end and lag per partition."""
    return cluster.describe_group(group_id)


def reset_offsets(
    cluster: AdminCommands,
    group_id: str,
    topic: str,
    to: str | None = None,
    to_timestamp: int | None = None,
    to_offset: int | None = None,
) -> dict[int, int]:
    """``kafka-consumer-groups.sh --reset-offsets ... --execute``.

    Give one target: ``to`` is 'earliest' or 'latest'; ``to_timestamp`` is in
    milliseconds; ``to_offset`` is an offset.
    """
    return cluster.reset_offsets(group_id, topic, to=to, to_timestamp=to_timestamp, to_offset=to_offset)


def read_from_beginning(cluster: AdminCommands, topic: str, max_messages: int = 10) -> list[Record]:
    """``kafka-console-consumer.sh --from-beginning --max-messages N``."""
    return cluster.read_from_beginning(topic, max_messages)


__all__ = [
    "murmur2",
    "partition_for",
    "StickyPartitioner",
    "Cluster",
    "ClusterState",
    "SimClock",
    "COURSE_EPOCH_MS",
    "Producer",
    "SendFuture",
    "Consumer",
    "OffsetAndTimestamp",
    "TopicPartition",
    "Record",
    "RecordMetadata",
    "TopicConfig",
    "assign",
    "assign_range",
    "assign_roundrobin",
    "assign_sticky",
    "cooperative_plan",
    "ASSIGNORS",
    "Group",
    "Rebalance",
    "AdminCommands",
    "TopicDescription",
    "PartitionInfo",
    "GroupDescription",
    "GroupOffsetRow",
    "describe_topic",
    "describe_group",
    "reset_offsets",
    "read_from_beginning",
    "KafkaError",
    "InvalidConfigError",
    "TopicExistsError",
    "UnknownTopicError",
    "RecordTooLargeError",
    "InvalidRecordError",
    "NotEnoughReplicasError",
    "LeaderNotAvailableError",
    "AckLostError",
    "OutOfOrderSequenceError",
    "OffsetOutOfRangeError",
    "NoOffsetForPartitionError",
    "GroupNotEmptyError",
    "IllegalStateError",
]
