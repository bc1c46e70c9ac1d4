"""What the brokers of an embedded cluster hold and decide: topics, replicas, groups, time.

:class:`ClusterState` plays the part of a whole Kafka cluster's brokers inside one
Python process. Topics and groups live in dicts; "brokers" exist only so that
replication settings mean something: each partition has replicas on brokers,
stopping a broker shrinks the in-sync replica set (ISR), and ``acks=all`` then
fails once the ISR is smaller than ``min.insync.replicas``. Data is not copied
between replicas: the model shows the rule, not the replication protocol.

Producers (:mod:`~course_lib.log.producer`) and consumers
(:mod:`~course_lib.log.consumer`) talk to this state, the way real clients talk to
brokers. :class:`~course_lib.log.cluster.Cluster` is this state plus the
``producer()`` and ``consumer()`` factories, so the imports run one way only:
state <- producer, consumer <- cluster.

Time is a :class:`~course_lib.clock.SimClock` by default, starting at
:data:`~course_lib.clock.COURSE_EPOCH_MS`, so timestamps, retention and session
timeouts are deterministic; :meth:`ClusterState.advance` moves it and runs what a
broker runs in the background (segment rolls, retention, expiring members).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

from course_lib.clock import COURSE_EPOCH_MS, SimClock
from course_lib.log.admin import GroupDescription, GroupOffsetRow, PartitionInfo, TopicDescription
from course_lib.log.assignors import TopicPartition
from course_lib.log.errors import (
    GroupNotEmptyError,
    InvalidConfigError,
    LeaderNotAvailableError,
    NotEnoughReplicasError,
    TopicExistsError,
    UnknownTopicError,
)
from course_lib.log.group import Group
from course_lib.log.topic import Partition, Record, Topic, TopicConfig


class ClusterState:
    """The brokers' side of an in-process Kafka cluster: topics, replicas, groups, admin commands.

    ``clock`` is any zero-argument function returning milliseconds; the default
    is a :class:`SimClock` at :data:`COURSE_EPOCH_MS`, which :meth:`advance` moves.
    """

    def __init__(self, brokers: int = 1, clock: Callable[[], int] | None = None, seed: int = 0) -> None:
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        self.clock: Callable[[], int] = SimClock(COURSE_EPOCH_MS) if clock is None else clock
        self.brokers = list(range(1, brokers + 1))
        self.live_brokers = set(self.brokers)
        self.topics: dict[str, Topic] = {}
        self.groups: dict[str, Group] = {}
        self._random = random.Random(seed)
        self._next_producer_id = 1000
        self._next_client = 0
        self._acks_to_lose = 0
        self.lost_acks = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(brokers={len(self.brokers)}, topics={sorted(self.topics)})"

    # -- time --
    def now_ms(self) -> int:
        return self.clock()

    def advance(self, ms: int) -> None:
        """Move the simulated clock, then roll segments, apply retention and expire members."""
        if not isinstance(self.clock, SimClock):
            raise TypeError("advance() needs a SimClock; this cluster runs on a real clock")
        self.clock.advance(ms)
        self.enforce_retention()
        self.expire_sessions()

    def expire_sessions(self) -> list[str]:
        """Drop crashed members whose session timed out (the coordinator's timer)."""
        now = self.now_ms()
        return [m for group in self.groups.values() for m in group.expire(now)]

    # -- topics --
    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int = 1,
        config: dict[str, Any] | None = None,
    ) -> TopicDescription:
        """``kafka-topics.sh --create``: refuse duplicates, bad counts and out-of-range settings."""
        if name in self.topics:
            raise TopicExistsError(f"topic '{name}' already exists; delete it first or pick another name")
        if not name or len(name) > 249 or any(not (c.isalnum() or c in "._-") for c in name):
            raise InvalidConfigError(f"topic name {name!r} is invalid: use 1-249 of [a-zA-Z0-9._-]")
        if partitions < 1:
            raise InvalidConfigError(f"partitions={partitions}: a topic needs at least 1 partition")
        if not 1 <= replication_factor <= len(self.brokers):
            raise InvalidConfigError(
                f"replication factor {replication_factor} is invalid: it must be in "
                f"[1, {len(self.brokers)}], the number of brokers"
            )
        topic_config = TopicConfig.from_dict(config)
        now = self.now_ms()
        parts = []
        for p in range(partitions):
            # Spread leaders over brokers, as Kafka's replica placement does.
            replicas = [self.brokers[(p + r) % len(self.brokers)] for r in range(replication_factor)]
            parts.append(Partition(name, p, topic_config, replicas, now))
        self.topics[name] = Topic(name, parts, topic_config, replication_factor)
        return self.describe_topic(name)

    def delete_topic(self, name: str, missing_ok: bool = False) -> None:
        if self.topics.pop(name, None) is None and not missing_ok:
            raise UnknownTopicError(f"no topic named '{name}'")
        for group in self.groups.values():
            for tp in [tp for tp in group.committed if tp.topic == name]:
                del group.committed[tp]

    def topic(self, name: str) -> Topic:
        try:
            return self.topics[name]
        except KeyError:
            known = ", ".join(sorted(self.topics)) or "none yet"
            raise UnknownTopicError(
                f"no topic named '{name}' (topics: {known}); create it with create_topic()"
            ) from None

    def partition(self, topic: str, partition: int) -> Partition:
        parts = self.topic(topic).partitions
        if not 0 <= partition < len(parts):
            raise UnknownTopicError(f"topic '{topic}' has partitions 0..{len(parts) - 1}, not {partition}")
        return parts[partition]

    def partitions_for(self, topic: str) -> int:
        return len(self.topic(topic).partitions)

    def list_topics(self) -> list[str]:
        return sorted(self.topics)

    # -- brokers and replicas --
    def stop_broker(self, broker: int) -> None:
        """Take a broker down: its replicas leave every ISR; leadership moves to a live replica."""
        if broker not in self.brokers:
            raise ValueError(f"no broker {broker}; brokers are {self.brokers}")
        self.live_brokers.discard(broker)

    def start_broker(self, broker: int) -> None:
        if broker not in self.brokers:
            raise ValueError(f"no broker {broker}; brokers are {self.brokers}")
        self.live_brokers.add(broker)

    def isr(self, partition: Partition) -> list[int]:
        return [b for b in partition.replicas if b in self.live_brokers]

    def check_writable(self, partition: Partition, acks: str | int) -> None:
        """Raise if the partition has no leader, or acks=all cannot be met."""
        isr = self.isr(partition)
        if not isr:
            raise LeaderNotAvailableError(
                f"{partition.topic}-{partition.index}: every replica "
                f"({partition.replicas}) is on a stopped broker"
            )
        needed = partition.config.min_insync_replicas
        if acks == "all" and len(isr) < needed:
            raise NotEnoughReplicasError(
                f"{partition.topic}-{partition.index}: {len(isr)} in-sync replica(s) {isr}, but "
                f"min.insync.replicas={needed} and the producer asked for acks=all; the write is refused "
                "rather than risk losing it (acks=1 would be accepted, and lost if this leader dies)"
            )

    # -- faults --
    def lose_acks(self, count: int = 1) -> None:
        """Fault hook: the next ``count`` produce requests are written, but their acks are lost."""
        self._acks_to_lose += count

    def _ack_lost(self) -> bool:
        if self._acks_to_lose > 0:
            self._acks_to_lose -= 1
            self.lost_acks += 1
            return True
        return False

    # -- ids --
    def new_producer_id(self) -> int:
        self._next_producer_id += 1
        return self._next_producer_id

    def new_client_id(self, kind: str) -> str:
        """``consumer-1``, ``consumer-2``, ... numbered per cluster, as Kafka numbers client ids."""
        self._next_client += 1
        return f"{kind}-{self._next_client}"

    def new_member_id(self, client_id: str) -> str:
        """``client_id-<uuid>`` as Kafka names members (from a seeded generator: reproducible)."""
        return f"{client_id}-{uuid.UUID(int=self._random.getrandbits(128), version=4).hex[:8]}"

    # -- groups --
    def group(self, group_id: str) -> Group:
        """The coordinator's state for a group (created on first use, as Kafka does)."""
        if group_id not in self.groups:
            self.groups[group_id] = Group(group_id, self._partition_counts)
        return self.groups[group_id]

    def _partition_counts(self) -> dict[str, int]:
        return {name: len(topic.partitions) for name, topic in self.topics.items()}

    def close(self) -> None:
        """Nothing to release in process; here so code can treat both backends alike."""

    # -- background work --
    def enforce_retention(self) -> dict[TopicPartition, int]:
        """Roll due segments and delete expired ones; return segments deleted per partition."""
        now = self.now_ms()
        deleted: dict[TopicPartition, int] = {}
        for topic in self.topics.values():
            for part in topic.partitions:
                part.roll_if_due(now)
                if topic.config.delete:
                    gone = part.apply_retention(now)
                    if gone:
                        deleted[TopicPartition(topic.name, part.index)] = len(gone)
        return deleted

    def compact(self, topic: str) -> int:
        """Run the log cleaner on a compacted topic; return the number of records removed."""
        t = self.topic(topic)
        if not t.config.compact:
            raise InvalidConfigError(
                f"topic '{topic}' has cleanup.policy={','.join(t.config.cleanup_policy)}; "
                "compaction needs cleanup.policy=compact"
            )
        now = self.now_ms()
        for part in t.partitions:
            part.roll_if_due(now)
        return sum(part.compact(now) for part in t.partitions)

    # -- admin: the operations commands --
    def describe_topic(self, name: str) -> TopicDescription:
        """``kafka-topics.sh --describe``: partitions, leaders, replicas, ISR, offsets, config."""
        topic = self.topic(name)
        infos = []
        for part in topic.partitions:
            isr = self.isr(part)
            infos.append(
                PartitionInfo(
                    part.index,
                    isr[0] if isr else None,
                    tuple(part.replicas),
                    tuple(isr),
                    part.log_start_offset,
                    part.log_end_offset,
                )
            )
        defaults = TopicConfig().to_dict()
        config = {k: v for k, v in topic.config.to_dict().items() if v != defaults[k]}
        return TopicDescription(name, tuple(infos), topic.replication_factor, config)

    def end_offsets(self, topic: str) -> dict[int, int]:
        return {p.index: p.log_end_offset for p in self.topic(topic).partitions}

    def describe_group(self, group_id: str) -> GroupDescription:
        """``kafka-consumer-groups.sh --describe``: offset, log end, lag and owner per partition."""
        group = self.group(group_id)
        owners = {tp: m.member_id for m in group.members.values() for tp in m.assignment}
        partitions = sorted(set(group.committed) | set(owners))
        rows = []
        for tp in partitions:
            if tp.topic not in self.topics:
                continue
            end = self.partition(tp.topic, tp.partition).log_end_offset
            current = group.committed.get(tp)
            rows.append(GroupOffsetRow.at(tp.topic, tp.partition, current, end, owners.get(tp)))
        return GroupDescription(group_id, group.state, tuple(rows))

    def reset_offsets(
        self,
        group_id: str,
        topic: str,
        to: str | None = None,
        to_timestamp: int | None = None,
        to_offset: int | None = None,
    ) -> dict[int, int]:
        """``kafka-consumer-groups.sh --reset-offsets --execute``: earliest, latest, a time or an offset.

        Like the tool, it refuses while the group has running members: they
        would overwrite the reset with their own next commit.
        """
        group = self.group(group_id)
        if group.members:
            raise GroupNotEmptyError(
                f"group '{group_id}' has {len(group.members)} active member(s); "
                "stop its consumers first (the CLI says: consumer group is not inactive)"
            )
        if [to is not None, to_timestamp is not None, to_offset is not None].count(True) != 1:
            raise ValueError("give exactly one of to='earliest'|'latest', to_timestamp=ms, to_offset=n")
        if to not in (None, "earliest", "latest"):
            raise ValueError(f"to={to!r}: use 'earliest' or 'latest' (or to_timestamp= / to_offset=)")
        new: dict[int, int] = {}
        for part in self.topic(topic).partitions:
            if to == "earliest":
                offset = part.log_start_offset
            elif to == "latest":
                offset = part.log_end_offset
            elif to_timestamp is not None:
                found = part.offset_for_time(to_timestamp)
                offset = part.log_end_offset if found is None else found[0]
            else:
                assert to_offset is not None  # exactly one target was given: checked above
                offset = min(max(to_offset, part.log_start_offset), part.log_end_offset)
            group.committed[TopicPartition(topic, part.index)] = offset
            new[part.index] = offset
        return new

    def read_from_beginning(self, topic: str, max_messages: int = 10) -> list[Record]:
        """``kafka-console-consumer.sh --from-beginning --max-messages N``: partition by partition."""
        out: list[Record] = []
        for part in self.topic(topic).partitions:
            if len(out) >= max_messages:
                break
            out += part.read(part.log_start_offset, max_messages - len(out))
        return out
