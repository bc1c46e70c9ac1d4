"""The embedded log and a real Kafka-protocol broker agree, case by case.

Every test runs twice: against ``course_lib.log.Cluster`` and, through
``course_lib.kafka_backend``, against the broker on 127.0.0.1:9092 (CI starts
it and sets COURSE_REQUIRE_SERVICES=1, so a missing broker fails there).
Consumer-group joins take about 3 s on the local broker, so the tests join as
few groups as they can.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest

from course_lib.log import Cluster, TopicPartition, assign_range, murmur2, partition_for

pytestmark = pytest.mark.conformance

SEED = 20260515


def random_keys(count: int = 1000) -> list[bytes]:
    rng = random.Random(SEED)
    return [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))) for _ in range(count)]


@pytest.fixture(scope="module")
def broker(kafka_bootstrap):
    from course_lib.kafka_backend import connect

    connection = connect(kafka_bootstrap)
    yield connection
    connection.close()


@pytest.fixture(params=["embedded", "broker"])
def cluster(request):
    if request.param == "embedded":
        return Cluster()
    return request.getfixturevalue("broker")


def fresh(name: str) -> str:
    return f"course-{name}-{uuid.uuid4().hex[:8]}"


# -- the partitioner ---------------------------------------------------------------------

def test_partition_for_equals_kafka_pythons_default_partitioner_for_1000_random_keys():
    from kafka.partitioner.default import DefaultPartitioner
    from kafka.partitioner.default import murmur2 as kafka_murmur2

    class Metadata:  # the two calls DefaultPartitioner makes on cluster metadata
        def __init__(self, n):
            self.n = n

        def topics(self):
            return {"t"}

        def partitions_for_topic(self, topic):
            return set(range(self.n))

        available_partitions_for_topic = partitions_for_topic

    partitioner = DefaultPartitioner()
    for n in (1, 3, 12, 50):
        for key in random_keys():
            assert murmur2(key) == kafka_murmur2(key), f"seed {SEED}: murmur2({key!r})"
            assert partition_for(key, n) == partitioner.partition("t", key, key, None, None, Metadata(n)), \
                f"seed {SEED}: key {key!r}, {n} partitions"


def test_keys_land_where_partition_for_says(cluster):
    topic = fresh("placement")
    cluster.create_topic(topic, partitions=12)
    keys = random_keys()
    producer = cluster.producer(linger_ms=5)
    futures = [producer.send(topic, key=key, value=b"v") for key in keys]
    producer.flush()
    placed = [future.get().partition for future in futures]
    producer.close()
    assert placed == [partition_for(key, 12) for key in keys], f"seed {SEED}"
    stored = sorted((r.partition, r.key) for r in cluster.read_from_beginning(topic, max_messages=len(keys)))
    assert stored == sorted((partition_for(key, 12), key) for key in keys)


def test_order_is_kept_per_key(cluster):
    topic = fresh("order")
    cluster.create_topic(topic, partitions=6)
    producer = cluster.producer(linger_ms=5)
    keys = [f"order_{i}" for i in range(8)]
    for seq in range(25):
        for key in keys:
            producer.send(topic, key=key, value=str(seq))
    producer.flush()
    producer.close()
    seen: dict[bytes, list[int]] = {}
    for record in cluster.read_from_beginning(topic, max_messages=200):
        seen.setdefault(record.key, []).append(int(record.value))
    assert seen == {key.encode(): list(range(25)) for key in keys}


# -- consumer groups ---------------------------------------------------------------------

def _drive_until_stable(consumers, partitions: int, timeout_s: float = 45.0):
    """Poll every consumer in its own thread until their assignments cover every partition once."""
    stop = threading.Event()

    def run(consumer):
        while not stop.is_set():
            consumer.poll(timeout_ms=100)

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in consumers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            sets = [frozenset(tp.partition for tp in c.assignment()) for c in consumers]
            if sum(map(len, sets)) == partitions and set().union(*sets) == set(range(partitions)):
                time.sleep(1.0)  # still the same a second later: the group is stable
                if sets == [frozenset(tp.partition for tp in c.assignment()) for c in consumers]:
                    return sets
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    raise AssertionError(f"the group did not settle in {timeout_s}s: {[c.assignment() for c in consumers]}")


def test_three_consumers_of_one_group_split_12_partitions_by_the_range_rule(cluster):
    topic, group = fresh("group"), fresh("fulfillment")
    cluster.create_topic(topic, partitions=12)
    consumers = [cluster.consumer(group, assignor="range", client_id=f"consumer-{i}") for i in range(3)]
    try:
        for consumer in consumers:
            consumer.subscribe([topic])
        if isinstance(cluster, Cluster):  # joins are synchronous: no polling threads needed
            sets = [frozenset(tp.partition for tp in c.assignment()) for c in consumers]
            embedded = {c.member_id: c.assignment() for c in consumers}
        else:
            sets = _drive_until_stable(consumers, 12)
    finally:
        for consumer in consumers:
            consumer.close()
    assert sorted(len(s) for s in sets) == [4, 4, 4]
    assert set().union(*sets) == set(range(12)) and sum(map(len, sets)) == 12  # disjoint, covering all 12
    # Kafka's range rule: sorted members get contiguous runs 0-3, 4-7, 8-11.
    expected = assign_range({m: [topic] for m in ("a", "b", "c")}, {topic: 12})
    assert set(sets) == {frozenset(tp.partition for tp in tps) for tps in expected.values()}
    if isinstance(cluster, Cluster):  # the embedded assignment IS assign_range over the member ids
        assert embedded == assign_range({member: [topic] for member in embedded}, {topic: 12})


def test_commit_close_and_a_new_consumer_resumes_at_the_committed_offset(cluster):
    topic, group = fresh("resume"), fresh("resume-group")
    cluster.create_topic(topic, partitions=1)
    producer = cluster.producer()
    for i in range(30):
        producer.send(topic, key="k", value=str(i))
    producer.flush()
    producer.close()
    first = cluster.consumer(group, auto_offset_reset="earliest", enable_auto_commit=False)
    first.subscribe([topic])
    processed = first.poll_until(10)
    # commit exactly what was processed: last processed + 1
    first.commit({TopicPartition(topic, 0): processed[-1].offset + 1})
    first.close()
    assert [int(r.value) for r in processed] == list(range(10))
    second = cluster.consumer(group, auto_offset_reset="earliest", enable_auto_commit=False)
    second.subscribe([topic])
    rest = second.poll_until(20)
    assert second.committed(TopicPartition(topic, 0)) == 10
    second.close()
    assert [r.offset for r in rest] == list(range(10, 30))
    description = cluster.describe_group(group)
    assert [(row.partition, row.current_offset, row.log_end_offset, row.lag) for row in description.rows] == \
        [(0, 10, 30, 20)]


def test_seek_to_beginning_replays_everything(cluster):
    topic = fresh("replay")
    cluster.create_topic(topic, partitions=3)
    producer = cluster.producer()
    for i in range(30):
        producer.send(topic, key=f"k{i % 7}", value=str(i))
    producer.flush()
    producer.close()
    consumer = cluster.consumer(None, auto_offset_reset="latest")
    partitions = [TopicPartition(topic, p) for p in range(3)]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    assert consumer.poll(timeout_ms=500) == []
    consumer.seek_to_beginning(*partitions)
    replayed = consumer.poll_until(30)
    consumer.close()
    assert sorted(int(r.value) for r in replayed) == list(range(30))


def test_the_source_texts_producer_settings_run(cluster):
    """acks=all, retries=3, idempotence, max.in.flight=5, linger.ms=5 (gzip stands in for lz4 if missing)."""
    from course_lib.kafka_backend import available_compression

    topic = fresh("source-producer")
    cluster.create_topic(topic, partitions=12, config={"retention.ms": 604800000, "cleanup.policy": "delete",
                                                       "max.message.bytes": 1048576})
    codec = "lz4" if "lz4" in available_compression() else "gzip"
    producer = cluster.producer(acks="all", retries=3, retry_backoff_ms=100, enable_idempotence=True,
                                max_in_flight_requests_per_connection=5, compression_type=codec, linger_ms=5)
    delivered = []
    producer.send(topic, key="order_12345", value=b'{"eventType": "OrderPlaced"}',
                  callback=lambda err, meta: delivered.append((err, meta.partition, meta.offset)))
    producer.flush()
    producer.close()
    assert delivered == [(None, partition_for(b"order_12345", 12), 0)]


def test_reset_offsets_to_earliest_replays_for_the_group(cluster):
    topic, group = fresh("reset"), fresh("reset-group")
    cluster.create_topic(topic, partitions=2)
    producer = cluster.producer()
    for i in range(10):
        producer.send(topic, key=f"k{i}", value=str(i))
    producer.flush()
    producer.close()
    consumer = cluster.consumer(group, enable_auto_commit=False)
    consumer.subscribe(topic)
    consumer.poll_until(1, timeout_ms=8000)  # join; auto_offset_reset=latest: nothing to read
    consumer.commit({TopicPartition(topic, p): end for p, end in cluster.end_offsets(topic).items()})
    consumer.close()
    assert cluster.describe_group(group).total_lag == 0
    assert cluster.reset_offsets(group, topic, to="earliest") == {0: 0, 1: 0}
    assert cluster.describe_group(group).total_lag == 10
