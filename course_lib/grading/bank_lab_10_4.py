"""Questions of lab 10.4 (Kafka): the murmur2 partitioner, the range assignor, lag, an at-least-once loop.

Expected values come from :mod:`course_lib.log`, whose partitioner is checked
against kafka-python's and a real broker's placements in the conformance tests.
"""

from __future__ import annotations

from course_lib.grading.questions import Case, Question, register
from course_lib.log import Cluster, assign_range, partition_for

LAB = "lab-10.4-kafka"

# -- q1: the default partitioner --------------------------------------------------------

KEYS = [
    b"order_12345",
    b"order_12346",
    b"cust_789",
    b"",
    b"a",
    b"ab",
    b"abc",
    b"abcd",
    "\u00e9v\u00e9nement".encode(),
    bytes(range(200, 216)),
    b"\xff\xff\xff\xff\xff",
]
Q1_CASES = [(key, n) for key in KEYS for n in (12,)] + [
    (b"order_12345", 1),
    (b"order_12345", 7),
    (b"\x80\x00\x00\x01", 50),
    (b"zzzzzz", 3),
]

register(
    Question(
        id="10.4-q1",
        title="Kafka's default partitioner (murmur2)",
        answer_name="kafka_partition",
        points=4,
        writes=(
            "course_lib.log.partitioner.murmur2",
            "course_lib.log.partitioner.partition_for",
            "kafka.partitioner.default.murmur2",
        ),
        lab=LAB,
        public=[Case(args=(key, n), expected=partition_for(key, n)) for key, n in Q1_CASES],
    )
)


# -- q2: the range assignor --------------------------------------------------------------


def _range(members: list[str], partitions: int) -> dict[str, list[int]]:
    got = assign_range({m: ["t"] for m in members}, {"t": partitions})
    return {m: [tp.partition for tp in tps] for m, tps in got.items()}


Q2_CASES = [
    (["c1", "c2", "c3"], 12),
    (["c2", "c3", "c1"], 8),
    (["consumer-b", "consumer-a"], 3),
    (["c1", "c2", "c3", "c4"], 3),
    (["solo"], 5),
    (["m3", "m1", "m2"], 7),
    (["c10", "c9", "c1"], 4),
]

register(
    Question(
        id="10.4-q2",
        title="The range assignor",
        answer_name="range_assign",
        points=3,
        writes=(
            "course_lib.log.assignors.assign_range",
            "kafka.coordinator.assignors.range.RangePartitionAssignor",
        ),
        lab=LAB,
        public=[Case(args=(members, n), expected=_range(members, n)) for members, n in Q2_CASES],
    )
)


# -- q3: lag -----------------------------------------------------------------------------

register(
    Question(
        id="10.4-q3",
        title="Consumer lag per partition",
        answer_name="lag_report",
        points=3,
        lab=LAB,
        public=[
            Case(args=({0: 10, 1: 7}, {0: 10, 1: 3}, {0: 0, 1: 0}), expected={0: 0, 1: 4}),
            Case(args=({0: 10, 1: 7, 2: 5}, {0: 4}, {0: 0, 1: 0, 2: 0}), expected={0: 6, 1: 7, 2: 5}),
            Case(args=({0: 100}, {0: 20}, {0: 50}), expected={0: 50}),  # committed offset fell off the log
            Case(args=({0: 100, 1: 60}, {}, {0: 90, 1: 60}), expected={0: 10, 1: 0}),
            Case(args=({}, {}, {}), expected={}),
        ],
    )
)


# -- q4: an at-least-once consumer loop ----------------------------------------------------


def _setup(records: int = 12, partitions: int = 3):
    cluster = Cluster()
    cluster.create_topic("orders", partitions)
    producer = cluster.producer()
    for i in range(records):
        producer.send("orders", key=f"order_{i % 5}", value=f"event {i}")
    consumer = cluster.consumer("billing", auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.subscribe("orders")
    return cluster, consumer


def _committed(cluster: Cluster) -> dict[int, int]:
    return {tp.partition: offset for tp, offset in sorted(cluster.group("billing").committed.items())}


def _happy_path(answer):
    cluster, consumer = _setup()
    seen: list[str] = []
    count = answer(consumer, lambda record: seen.append(record.value.decode()))
    return {"returned": count, "processed": len(seen), "committed": _committed(cluster)}


def _happy_expected():
    cluster, _ = _setup()
    return {"returned": 12, "processed": 12, "committed": cluster.end_offsets("orders")}


class Crash(Exception):
    """The process dies while handling a record."""


def _crash_then_restart(answer):
    """Processing fails on the 5th record; a restarted consumer must still see every record."""
    cluster, consumer = _setup()
    seen: list[str] = []

    def flaky(record):
        if len(seen) == 4:
            raise Crash("power cut")
        seen.append(record.value.decode())

    try:
        answer(consumer, flaky)
        outcome = "no exception"
    except Crash:
        outcome = "Crash propagated"
    consumer.crash()
    cluster.advance(60_000)
    again = cluster.consumer("billing", auto_offset_reset="earliest", enable_auto_commit=False)
    again.subscribe("orders")
    answer(again, lambda record: seen.append(record.value.decode()))
    return {
        "outcome": outcome,
        "every record processed": sorted(set(seen)) == sorted(f"event {i}" for i in range(12)),
        "committed at the end": _committed(cluster) == cluster.end_offsets("orders"),
    }


def _commit_offsets_each_partition(answer):
    cluster, consumer = _setup(records=9, partitions=3)
    answer(consumer, lambda record: None)
    return _committed(cluster)


register(
    Question(
        id="10.4-q4",
        title="An at-least-once consumer loop",
        answer_name="consume_once",
        points=4,
        lab=LAB,
        public=[
            Case(
                call=_happy_path,
                show="12 records on 3 partitions; consume_once(consumer, process)",
                expected=_happy_expected(),
            ),
            Case(
                call=_commit_offsets_each_partition,
                show="9 records on 3 partitions; the committed offsets",
                expected=_setup(9, 3)[0].end_offsets("orders"),
            ),
            Case(
                call=_crash_then_restart,
                show="process raises on the 5th record; then a restarted consumer runs consume_once again",
                expected={
                    "outcome": "Crash propagated",
                    "every record processed": True,
                    "committed at the end": True,
                },
            ),
        ],
    )
)
