"""course_lib.kafka_backend and backends.log_cluster(): the same surface on a real broker."""

from __future__ import annotations

import uuid

import pytest

from course_lib import backends
from course_lib.kafka_backend import available_compression
from course_lib.log import Cluster, InvalidConfigError, TopicExistsError


def test_log_cluster_is_embedded_when_kafka_bootstrap_servers_is_unset(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert isinstance(backends.log_cluster(), Cluster)


def test_gzip_is_always_available():
    assert "gzip" in available_compression()


@pytest.fixture(scope="module")
def connection(kafka_bootstrap):
    from course_lib.kafka_backend import connect

    conn = connect(kafka_bootstrap)
    yield conn
    conn.close()


@pytest.mark.conformance
def test_log_cluster_follows_kafka_bootstrap_servers(monkeypatch, kafka_bootstrap):
    from course_lib.kafka_backend import BrokerConnection

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    cluster = backends.log_cluster()
    try:
        assert isinstance(cluster, BrokerConnection)
    finally:
        cluster.close()


@pytest.mark.conformance
def test_invalid_settings_are_refused_as_the_embedded_cluster_refuses_them(connection):
    name = f"course-bad-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InvalidConfigError, match=r"valid range \[-1, "):
        connection.create_topic(name, 1, config={"retention.ms": -5})
    with pytest.raises(InvalidConfigError, match=r"valid range \[-1, "):
        Cluster().create_topic(name, 1, config={"retention.ms": -5})
    assert name not in connection.list_topics()


@pytest.mark.conformance
def test_topic_admin_round_trip(connection):
    name = f"course-admin-{uuid.uuid4().hex[:8]}"
    description = connection.create_topic(name, 3, config={"retention.ms": 604800000})
    assert [p.partition for p in description.partitions] == [0, 1, 2]
    assert description.config == {"retention.ms": "604800000"}
    with pytest.raises(TopicExistsError):
        connection.create_topic(name, 3)
    connection.delete_topic(name)
    assert name not in connection.list_topics()
    connection.delete_topic(name, missing_ok=True)


@pytest.mark.conformance
def test_end_offsets_count_every_record_of_a_multi_record_batch(connection):
    """Tansu 0.6 reports the last batch's base offset + 1; the connection reads past it."""
    name = f"course-ends-{uuid.uuid4().hex[:8]}"
    connection.create_topic(name, 1)
    producer = connection.producer(linger_ms=20)
    for i in range(30):
        producer.send(name, key="k", value=str(i))
    producer.flush()
    producer.close()
    assert connection.end_offsets(name) == {0: 30}
    assert connection.describe_topic(name).partitions[0].log_end_offset == 30
