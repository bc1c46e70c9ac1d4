"""course_lib.log: the embedded Kafka model behaves as Kafka does."""

from __future__ import annotations

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from course_lib.log import (Cluster, GroupNotEmptyError, IllegalStateError, InvalidConfigError, InvalidRecordError,
                            NoOffsetForPartitionError, NotEnoughReplicasError, RecordTooLargeError,
                            TopicConfig, TopicExistsError, TopicPartition, UnknownTopicError, assign_range,
                            assign_roundrobin, assign_sticky, cooperative_plan, murmur2, partition_for)
from course_lib.log.partitioner import StickyPartitioner


def fill(cluster: Cluster, topic: str, count: int, keys: int = 5, **producer_settings) -> None:
    producer = cluster.producer(**producer_settings)
    for i in range(count):
        producer.send(topic, key=f"k{i % keys}", value=str(i))
    producer.flush()


# -- partitioner -------------------------------------------------------------------------

def test_murmur2_matches_known_java_values():
    # Values from Kafka's UtilsTest.testMurmur2 (signed Java ints, here as unsigned 32-bit).
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
             b"a-little-bit-longer-string": -1486304829, b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
             bytes([ord("a"), ord("b"), ord("c")]): 479470107}
    for data, signed in cases.items():
        assert murmur2(data) == signed & 0xFFFFFFFF, data


def test_partition_for_is_stable_and_in_range():
    assert partition_for("order_12345", 12) == partition_for(b"order_12345", 12)
    assert all(0 <= partition_for(f"k{i}", 7) < 7 for i in range(200))
    with pytest.raises(ValueError, match="needs a key"):
        partition_for(None, 3)


def test_keyless_records_stick_to_one_partition_per_batch():
    sticky = StickyPartitioner(seed=1)
    first = sticky.partition("t", 6)
    assert {sticky.partition("t", 6) for _ in range(10)} == {first}
    sticky.batch_closed("t", 6)
    assert sticky.partition("t", 6) != first  # the next batch goes elsewhere


def test_keyless_records_fill_a_batch_before_moving_on():
    cluster = Cluster()
    cluster.create_topic("t", 4)
    producer = cluster.producer(linger_ms=10, batch_size=1000)
    parts = [producer.send("t", None, b"x" * 100).get().partition for _ in range(3)]
    assert len(set(parts)) >= 1
    producer = cluster.producer(linger_ms=10, batch_size=250, seed=3)
    futures = [producer.send("t", None, b"x" * 100) for _ in range(9)]
    producer.flush()
    partitions = [f.get().partition for f in futures]
    # batches of 3 records (300 bytes >= 250): runs of three on one partition
    assert partitions[0] == partitions[1] == partitions[2] and partitions[2] != partitions[3]


# -- assignors ---------------------------------------------------------------------------

def test_range_gives_the_first_members_the_extra_partitions():
    got = assign_range({"c2": ["t"], "c1": ["t"], "c3": ["t"]}, {"t": 8})
    assert {m: [tp.partition for tp in tps] for m, tps in got.items()} == {
        "c1": [0, 1, 2], "c2": [3, 4, 5], "c3": [6, 7]}


def test_range_is_per_topic_so_the_first_member_gets_every_topics_extra():
    got = assign_range({"a": ["t1", "t2"], "b": ["t1", "t2"]}, {"t1": 3, "t2": 3})
    assert len(got["a"]) == 4 and len(got["b"]) == 2


def test_roundrobin_deals_all_topic_partitions_in_turn():
    got = assign_roundrobin({"a": ["t1", "t2"], "b": ["t1", "t2"]}, {"t1": 3, "t2": 3})
    assert [str(tp) for tp in got["a"]] == ["t1-0", "t1-2", "t2-1"]
    assert [str(tp) for tp in got["b"]] == ["t1-1", "t2-0", "t2-2"]


def test_more_members_than_partitions_leaves_some_idle():
    for assignor in (assign_range, assign_roundrobin, assign_sticky):
        got = assignor({f"c{i}": ["t"] for i in range(4)}, {"t": 3})
        assert sorted(len(tps) for tps in got.values()) == [0, 1, 1, 1]


@given(st.integers(1, 30), st.integers(1, 8), st.integers(1, 8))
def test_sticky_is_balanced_and_moves_little(partitions, before, after):
    members = [f"m{i}" for i in range(max(before, after))]
    old = assign_sticky({m: ["t"] for m in members[:before]}, {"t": partitions})
    survivors = members[:after]
    new = assign_sticky({m: ["t"] for m in survivors}, {"t": partitions}, previous=old)
    sizes = [len(tps) for tps in new.values()]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == partitions
    assert len({tp for tps in new.values() for tp in tps}) == partitions
    kept = sum(len(set(old.get(m, [])) & set(new[m])) for m in survivors)
    # every member keeps what it had, up to its fair share
    fair = partitions // len(survivors)
    assert kept >= sum(min(len(old.get(m, [])), fair) for m in survivors)


def test_cooperative_plan_revokes_first_and_assigns_in_the_second_rebalance():
    owned = {"a": [TopicPartition("t", p) for p in range(4)], "b": []}
    target = assign_sticky({"a": ["t"], "b": ["t"]}, {"t": 4}, previous=owned)
    first, second = cooperative_plan(owned, target)
    assert [tp.partition for tp in first["a"]] == [0, 1] and first["b"] == []
    assert second == target and [tp.partition for tp in second["b"]] == [2, 3]


# -- topics and configuration ------------------------------------------------------------

def test_source_text_topic_config_is_accepted():
    config = {"retention.ms": 604800000, "cleanup.policy": "delete", "min.insync.replicas": 2,
              "compression.type": "lz4", "max.message.bytes": 1048576, "segment.bytes": 1073741824}
    cluster = Cluster(brokers=3)
    description = cluster.create_topic("order-events", partitions=12, replication_factor=3, config=config)
    assert len(description.partitions) == 12 and description.replication_factor == 3
    assert description.config["min.insync.replicas"] == "2"
    assert sorted({p.leader for p in description.partitions}) == [1, 2, 3]  # leaders spread out


@pytest.mark.parametrize("config, message", [
    ({"retention.ms": -2}, r"retention.ms=-2 is out of range; valid range \[-1, "),
    ({"cleanup.policy": "forever"}, "valid values: delete, compact"),
    ({"min.insync.replicas": 0}, r"valid range \[1, "),
    ({"segment.bytes": 10}, r"valid range \[14, "),
    ({"max.message.bytes": "big"}, "not an integer"),
    ({"retention.hours": 5}, "unknown topic config 'retention.hours'"),
    ({"compression.type": "brotli"}, "valid values: uncompressed"),
])
def test_an_invalid_topic_setting_is_refused_with_the_valid_range(config, message):
    with pytest.raises(InvalidConfigError, match=message):
        TopicConfig.from_dict(config)


def test_topic_errors_name_the_problem():
    cluster = Cluster()
    cluster.create_topic("t", 2)
    with pytest.raises(TopicExistsError):
        cluster.create_topic("t", 2)
    with pytest.raises(InvalidConfigError, match="replication factor 3"):
        cluster.create_topic("u", 1, replication_factor=3)
    with pytest.raises(UnknownTopicError, match="topics: t"):
        cluster.producer().send("nope", "k", "v")


def test_a_record_over_max_message_bytes_is_refused_naming_the_limit():
    cluster = Cluster()
    cluster.create_topic("t", 1, config={"max.message.bytes": 1000})
    producer = cluster.producer()
    ok = producer.send("t", "k", b"x" * 900)
    big = producer.send("t", "k", b"x" * 2000)
    with pytest.raises(RecordTooLargeError, match="max.message.bytes=1000"):
        big.get()
    assert ok.get().offset == 0 and cluster.end_offsets("t") == {0: 1}


# -- producer: acks, retries, idempotence ------------------------------------------------

def _with_lost_acks(enable_idempotence: bool, lost: int) -> list[int]:
    cluster = Cluster()
    cluster.create_topic("orders", 1)
    producer = cluster.producer(enable_idempotence=enable_idempotence, retries=3,
                                acks="all" if enable_idempotence else 1)
    cluster.lose_acks(lost)
    for i in range(5):
        producer.send("orders", "order_1", str(i)).get()
    return [int(r.value) for r in cluster.read_from_beginning("orders", 100)]


def test_lost_acks_with_idempotence_leave_each_record_once():
    assert _with_lost_acks(True, lost=3) == [0, 1, 2, 3, 4]


def test_lost_acks_without_idempotence_leave_duplicates():
    assert _with_lost_acks(False, lost=3) == [0, 0, 0, 0, 1, 2, 3, 4]


def test_retries_exhausted_after_lost_acks_report_failure_although_written():
    cluster = Cluster()
    cluster.create_topic("t", 1)
    producer = cluster.producer(enable_idempotence=False, acks=1, retries=1)
    cluster.lose_acks(2)
    with pytest.raises(Exception, match="ack was lost"):
        producer.send("t", "k", "v").get()
    assert len(cluster.read_from_beginning("t")) == 2  # written twice, reported as failed


def test_idempotence_requires_acks_all_and_at_most_5_in_flight():
    cluster = Cluster()
    with pytest.raises(InvalidConfigError, match="acks='all'"):
        cluster.producer(acks=1, enable_idempotence=True)
    with pytest.raises(InvalidConfigError, match="<= 5"):
        cluster.producer(max_in_flight_requests_per_connection=6)


def test_acks_all_fails_below_min_insync_replicas_and_acks_1_does_not():
    cluster = Cluster(brokers=3)
    cluster.create_topic("t", 1, replication_factor=3, config={"min.insync.replicas": 2})
    cluster.stop_broker(2)
    assert cluster.producer(acks="all", retries=3).send("t", "k", "a").get().offset == 0
    cluster.stop_broker(3)
    with pytest.raises(NotEnoughReplicasError, match="min.insync.replicas=2"):
        cluster.producer(acks="all", retries=3).send("t", "k", "b").get()
    assert cluster.producer(acks=1, enable_idempotence=False).send("t", "k", "c").get().offset == 1


def test_linger_batches_records_and_flush_per_record_does_not():
    cluster = Cluster()
    cluster.create_topic("t", 1)
    batched = cluster.producer(linger_ms=5)
    for i in range(100):
        batched.send("t", "k", b"x" * 100)
    batched.flush()
    one_by_one = cluster.producer(linger_ms=5)
    for i in range(100):
        one_by_one.send("t", "k", b"x" * 100)
        one_by_one.flush()
    assert batched.requests < 10 and one_by_one.requests == 100


def test_acks_0_returns_offset_minus_one():
    cluster = Cluster()
    cluster.create_topic("t", 1)
    assert cluster.producer(acks=0, enable_idempotence=False).send("t", "k", "v").get().offset == -1


# -- consumers and groups ----------------------------------------------------------------

def test_three_then_four_consumers_on_three_partitions_leaves_one_idle():
    cluster = Cluster()
    cluster.create_topic("t", 3)
    consumers = [cluster.consumer("g", client_id=f"c{i}") for i in range(4)]
    for c in consumers[:3]:
        c.subscribe("t")
    assert sorted(len(c.assignment()) for c in consumers[:3]) == [1, 1, 1]
    consumers[3].subscribe("t")
    assert sorted(len(c.assignment()) for c in consumers) == [0, 1, 1, 1]
    assert cluster.group("g").generation == 4


def test_a_crashed_member_keeps_its_partitions_until_its_session_times_out():
    cluster = Cluster()
    cluster.create_topic("t", 2)
    a = cluster.consumer("g", client_id="a", session_timeout_ms=10_000, auto_offset_reset="earliest")
    b = cluster.consumer("g", client_id="b", session_timeout_ms=10_000, auto_offset_reset="earliest")
    a.subscribe("t")
    b.subscribe("t")
    b.crash()
    cluster.advance(9_999)
    assert len(a.assignment()) == 1
    cluster.advance(1)
    assert len(a.assignment()) == 2
    assert "missed its session timeout" in cluster.group("g").history[-1].reason
    with pytest.raises(IllegalStateError, match="crashed"):
        b.poll()


def test_cooperative_sticky_keeps_consuming_what_does_not_move():
    cluster = Cluster()
    cluster.create_topic("t", 4)
    a = cluster.consumer("g", client_id="a", assignor="cooperative-sticky")
    a.subscribe("t")
    b = cluster.consumer("g", client_id="b", assignor="cooperative-sticky")
    b.subscribe("t")
    first, second = cluster.group("g").history[-2:]
    assert first.assignment[b.member_id] == [] and len(first.assignment[a.member_id]) == 2
    assert len(second.assignment[b.member_id]) == 2
    assert sorted(tp.partition for tp in a.assignment()) == [0, 1]


def test_mixing_assignors_in_a_group_is_refused():
    cluster = Cluster()
    cluster.create_topic("t", 2)
    cluster.consumer("g", assignor="range").subscribe("t")
    with pytest.raises(InvalidConfigError, match="INCONSISTENT_GROUP_PROTOCOL"):
        cluster.consumer("g", assignor="roundrobin").subscribe("t")


def test_commit_stores_last_processed_plus_one_and_a_new_consumer_resumes_there():
    cluster = Cluster()
    cluster.create_topic("t", 1)
    fill(cluster, "t", 10)
    first = cluster.consumer("g", auto_offset_reset="earliest", enable_auto_commit=False)
    first.subscribe("t")
    records = first.poll(max_records=4)
    first.commit()
    assert first.committed(TopicPartition("t", 0)) == records[-1].offset + 1 == 4
    first.close()
    second = cluster.consumer("g", enable_auto_commit=False)
    second.subscribe("t")
    assert [r.offset for r in second.poll()] == list(range(4, 10))


def test_auto_offset_reset_without_a_committed_offset():
    cluster = Cluster()
    cluster.create_topic("t", 1)
    fill(cluster, "t", 5)
    latest = cluster.consumer("g1")
    latest.subscribe("t")
    assert latest.poll() == []
    earliest = cluster.consumer("g2", auto_offset_reset="earliest")
    earliest.subscribe("t")
    assert len(earliest.poll()) == 5
    strict = cluster.consumer("g3", auto_offset_reset="none")
    strict.subscribe("t")
    with pytest.raises(NoOffsetForPartitionError):
        strict.poll()


def test_auto_commit_commits_what_previous_polls_returned():
    cluster = Cluster()
    cluster.create_topic("t", 1)
    fill(cluster, "t", 10)
    consumer = cluster.consumer("g", auto_offset_reset="earliest", auto_commit_interval_ms=5000)
    consumer.subscribe("t")
    consumer.poll(max_records=3)
    assert consumer.committed(TopicPartition("t", 0)) is None
    cluster.advance(5000)
    consumer.poll(max_records=3)
    assert consumer.committed(TopicPartition("t", 0)) == 3


def test_seek_and_offsets_for_times():
    cluster = Cluster()
    cluster.create_topic("t", 1)
    producer = cluster.producer()
    for i in range(10):
        producer.send("t", "k", str(i))
        cluster.advance(1000)
    consumer = cluster.consumer(None)
    tp = TopicPartition("t", 0)
    consumer.assign([tp])
    start = cluster.clock() - 10_000
    found = consumer.offsets_for_times({tp: start + 4500})[tp]
    assert found.offset == 5 and found.timestamp == start + 5000
    assert consumer.offsets_for_times({tp: cluster.clock() + 1})[tp] is None
    consumer.seek(tp, found.offset)
    assert [r.offset for r in consumer.poll()] == [5, 6, 7, 8, 9]
    consumer.seek_to_beginning()
    assert len(consumer.poll()) == 10


# -- admin -------------------------------------------------------------------------------

def test_describe_group_reports_lag_and_reset_offsets_replays():
    cluster = Cluster()
    cluster.create_topic("t", 2)
    fill(cluster, "t", 20, keys=10)
    consumer = cluster.consumer("g", auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.subscribe("t")
    consumer.poll(max_records=5)
    consumer.commit()
    description = cluster.describe_group("g")
    ends = cluster.end_offsets("t")
    # partition 1 was never read, so nothing is committed there: the CLI shows '-'
    assert [(r.partition, r.current_offset, r.lag) for r in description.rows] == [(0, 5, ends[0] - 5), (1, None, None)]
    assert "LAG" in str(description) and description.total_lag == ends[0] - 5
    with pytest.raises(GroupNotEmptyError, match="not inactive"):
        cluster.reset_offsets("g", "t", to="earliest")
    consumer.close()
    assert cluster.reset_offsets("g", "t", to="earliest") == {0: 0, 1: 0}
    assert cluster.describe_group("g").total_lag == 20
    assert cluster.reset_offsets("g", "t", to="latest") == cluster.end_offsets("t")


def test_describe_topic_reads_like_kafka_topics():
    cluster = Cluster(brokers=3)
    cluster.create_topic("orders", 3, replication_factor=2, config={"retention.ms": 1000})
    cluster.stop_broker(1)
    text = str(cluster.describe_topic("orders"))
    assert "PartitionCount: 3" in text and "retention.ms=1000" in text
    assert "Partition: 0\tLeader: 2\tReplicas: 1,2\tIsr: 2" in text


# -- retention and compaction ------------------------------------------------------------

def test_retention_by_time_deletes_closed_segments_never_the_active_one():
    cluster = Cluster()
    cluster.create_topic("t", 1, config={"retention.ms": 10_000, "segment.bytes": 100})
    fill(cluster, "t", 30, keys=1)  # "k0" + 1-2 digit values: about 4 bytes each
    part = cluster.partition("t", 0)
    assert len(part.segments) > 1
    cluster.advance(10_001)
    assert len(part.segments) == 1 and part.log_start_offset == part.segments[0].base_offset > 0
    assert part.segments[0].records  # the active segment keeps its records past retention.ms


def test_retention_by_size_keeps_the_partition_under_retention_bytes():
    cluster = Cluster()
    cluster.create_topic("t", 1, config={"retention.bytes": 200, "segment.bytes": 50})
    fill(cluster, "t", 100, keys=1)
    cluster.enforce_retention()
    assert cluster.partition("t", 0).size <= 200 + 50


def test_a_consumer_whose_offset_fell_off_the_log_follows_auto_offset_reset():
    cluster = Cluster()
    cluster.create_topic("t", 1, config={"retention.ms": 1000, "segment.bytes": 40})
    fill(cluster, "t", 20, keys=1)
    consumer = cluster.consumer("g", auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.subscribe("t")
    consumer.poll(max_records=2)
    consumer.commit()
    cluster.advance(1001)
    start = cluster.partition("t", 0).log_start_offset
    assert start > 2
    assert consumer.poll()[0].offset == start


def test_compaction_keeps_the_latest_value_per_key_and_honours_tombstones():
    cluster = Cluster()
    cluster.create_topic("users", 1, config={"cleanup.policy": "compact", "segment.bytes": 30,
                                              "delete.retention.ms": 1000})
    producer = cluster.producer()
    for i in range(5):
        producer.send("users", "alice", f"v{i}")
        producer.send("users", "bob", f"v{i}")
    producer.send("users", "bob", None)  # tombstone: delete bob
    producer.send("users", "carol", "v0")
    producer.send("users", "dave", "v0")
    cluster.compact("users")
    latest = {r.key: r.value for r in cluster.read_from_beginning("users", 100)}
    assert latest[b"alice"] == b"v4" and latest[b"bob"] is None
    cluster.advance(1001)
    cluster.producer().send("users", "erin", "v0")
    cluster.compact("users")
    keys = [r.key for r in cluster.read_from_beginning("users", 100)]
    assert b"bob" not in keys and keys.count(b"alice") == 1
    offsets = [r.offset for r in cluster.read_from_beginning("users", 100)]
    assert offsets == sorted(offsets)  # offsets never change; compaction leaves gaps
    with pytest.raises(InvalidRecordError, match="needs a key"):
        producer.send("users", None, "v").get()


# -- the property: joins, leaves and crashes never lose a record -------------------------

OPS = st.lists(st.one_of(
    st.tuples(st.just("produce"), st.integers(1, 15)),
    st.tuples(st.just("join"), st.integers(0, 0)),
    st.tuples(st.just("poll"), st.integers(0, 5)),
    st.tuples(st.just("leave"), st.integers(0, 5)),
    st.tuples(st.just("crash"), st.integers(0, 5)),
    st.tuples(st.just("wait"), st.integers(1, 20_000)),
), max_size=40)


@given(OPS, st.sampled_from(["range", "roundrobin", "sticky", "cooperative-sticky"]))
def test_commit_after_processing_never_loses_records_and_duplicates_only_follow_a_crash(ops, assignor):
    cluster = Cluster()
    cluster.create_topic("t", 4)
    producer = cluster.producer(linger_ms=0)
    produced, processed = 0, []
    uncommitted_at_crash: set[int] = set()  # processed by a member that crashed before committing
    live = []
    for op, arg in ops:
        if op == "produce":
            for _ in range(arg):
                producer.send("t", f"k{produced % 7}", str(produced))
                produced += 1
        elif op == "join":
            consumer = cluster.consumer("g", assignor=assignor, auto_offset_reset="earliest",
                                        enable_auto_commit=False, session_timeout_ms=10_000)
            consumer.subscribe("t")
            live.append(consumer)
        elif op in ("poll", "leave", "crash") and live:
            consumer = live[arg % len(live)]
            if op == "leave":
                consumer.close()
                live.remove(consumer)
                continue
            batch = [int(r.value) for r in consumer.poll(max_records=5)]
            processed += batch  # process...
            if op == "crash":  # ...and die before the commit
                uncommitted_at_crash.update(batch)
                consumer.crash()
                live.remove(consumer)
            else:
                consumer.commit()  # ...then commit: last processed + 1
        elif op == "wait":
            cluster.advance(arg)
    # a fresh member of the group finishes the work after everyone else has gone
    for consumer in live:
        consumer.close()
    cluster.advance(10_000)
    last = cluster.consumer("g", assignor=assignor, auto_offset_reset="earliest", enable_auto_commit=False)
    last.subscribe("t")
    while batch := last.poll():
        processed += [int(r.value) for r in batch]
        last.commit()
    note(f"produced={produced} processed={processed} crashed-before-commit={sorted(uncommitted_at_crash)}")
    assert set(processed) == set(range(produced)), "a record was lost"
    duplicates = {v for v in processed if processed.count(v) > 1}
    event("duplicates after a crash" if duplicates else "no duplicates")
    assert duplicates <= uncommitted_at_crash, "a duplicate without a crash before commit"


def test_the_benchmark_runs(monkeypatch, capsys):
    """benchmarks/kafka_log.py works end to end (embedded side; the broker side is skipped here)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "kafka_log.py"
    spec = importlib.util.spec_from_file_location("kafka_log_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing listens: broker side skipped
    assert module.main(["--records", "2000"]) == 0
    out = capsys.readouterr().out
    assert "embedded course_lib.log" in out and "records/s" in out and "skipped" in out


def test_reset_offsets_to_a_time_starts_the_group_at_the_first_record_at_or_after_it():
    cluster = Cluster()
    cluster.create_topic("t", 2)
    producer = cluster.producer()
    for i in range(6):
        producer.send("t", "k", str(i), partition=i % 2)
        cluster.advance(1000)
    start = cluster.clock() - 6000
    assert cluster.reset_offsets("g", "t", to_timestamp=cluster.clock() + 1) == cluster.end_offsets("t")
    assert cluster.reset_offsets("g", "t", to_timestamp=start + 2500) == {0: 2, 1: 1}
    consumer = cluster.consumer("g")
    consumer.subscribe("t")
    assert sorted(int(r.value) for r in consumer.poll()) == [3, 4, 5]  # sent at start+3000 and later
