"""Produce and consume keyed 200-byte records: the embedded log vs kafka-python + a real broker.

The same records (keys ``order_00000``..., 200-byte values) go through both, in one run:
a producer with ``linger_ms=5`` sends them all and flushes, then a consumer (no group, all
partitions assigned) reads them back. Reported: records/s for produce + consume on each
side, and the ratio. Targets (reported, not asserted): the embedded log at least 10x the
broker path, and at least 200,000 records/s.

    .venv/bin/python benchmarks/kafka_log.py            # 100,000 records
    .venv/bin/python benchmarks/kafka_log.py --quick    # 5,000 records, a smoke run

The broker side is skipped, with the reason, when no broker answers at
KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092; `make services` starts one).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_lib.backends import probe, service_url  # noqa: E402
from course_lib.log import Cluster, TopicPartition  # noqa: E402

PARTITIONS = 12


def records(count: int) -> list[tuple[bytes, bytes]]:
    value = b"v" * 200
    return [(f"order_{i % 10_000:05d}".encode(), value) for i in range(count)]


def embedded(data: list[tuple[bytes, bytes]]) -> tuple[float, float]:
    cluster = Cluster()
    cluster.create_topic("bench", PARTITIONS)
    start = time.perf_counter()
    producer = cluster.producer(linger_ms=5)
    for key, value in data:
        producer.send("bench", key, value)
    producer.flush()
    produced = time.perf_counter()
    consumer = cluster.consumer(None)
    consumer.assign([TopicPartition("bench", p) for p in range(PARTITIONS)])
    consumer.seek_to_beginning()
    got = 0
    while batch := consumer.poll(max_records=5000):
        got += len(batch)
    done = time.perf_counter()
    assert got == len(data), f"embedded: read {got} of {len(data)}"
    return produced - start, done - produced


def broker(data: list[tuple[bytes, bytes]], bootstrap: str) -> tuple[float, float]:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KafkaTP

    topic = f"bench-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=5000)
    admin.create_topics(
        {topic: {"num_partitions": PARTITIONS, "replication_factor": 1}}, wait_for_metadata=True
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, bootstrap_timeout_ms=5000, linger_ms=5, acks="all")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, bootstrap_timeout_ms=5000, max_poll_records=5000)
    try:
        start = time.perf_counter()
        for key, value in data:
            producer.send(topic, key=key, value=value)
        producer.flush()
        produced = time.perf_counter()
        tps = [KafkaTP(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        got, deadline = 0, time.monotonic() + 120
        while got < len(data) and time.monotonic() < deadline:
            got += sum(len(batch) for batch in consumer.poll(timeout_ms=500).values())
        done = time.perf_counter()
        assert got == len(data), f"broker: read {got} of {len(data)}"
    finally:
        producer.close()
        consumer.close()
        admin.delete_topics([topic])
        admin.close()
    return produced - start, done - produced


def report(name: str, count: int, produce_s: float, consume_s: float) -> float:
    rate = count / (produce_s + consume_s)
    print(
        f"{name:<28} produce {count / produce_s:>11,.0f}/s  consume {count / consume_s:>12,.0f}/s  "
        f"produce+consume {rate:>10,.0f} records/s"
    )
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 records instead of 100,000")
    parser.add_argument("--records", type=int, default=None)
    args = parser.parse_args(argv)
    count = args.records or (5_000 if args.quick else 100_000)
    data = records(count)
    print(f"{count:,} keyed 200-byte records, {PARTITIONS} partitions, linger_ms=5")
    fast = report("embedded course_lib.log", count, *embedded(data))
    print(f"  target >= 200,000 records/s: {'met' if fast >= 200_000 else 'NOT met'}")
    bootstrap = service_url("kafka")
    reason = probe("kafka", bootstrap)
    if reason:
        print(f"kafka-python + broker: skipped ({reason})")
        return 0
    slow = report(f"kafka-python + {bootstrap}", count, *broker(data, bootstrap))
    print(
        f"ratio embedded / broker: {fast / slow:.1f}x  "
        f"(target >= 10x: {'met' if fast / slow >= 10 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
