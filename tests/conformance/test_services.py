"""The real services answer, and behave like the embedded defaults where the course relies on it.

These run against the services on 127.0.0.1 (CI starts them and sets
COURSE_REQUIRE_SERVICES=1, so a missing one fails there and skips elsewhere).
"""

from __future__ import annotations

import time
import uuid

import fakeredis
import pytest
import redis

pytestmark = pytest.mark.conformance


def _set_nx_ex_script(client) -> list:
    """The idempotency primitive from the source text, run step by step."""
    key = f"course-test:processed:{uuid.uuid4().hex}"
    try:
        return [
            client.set(key, "1", nx=True, ex=60),   # first delivery wins
            client.set(key, "1", nx=True, ex=60),   # a duplicate is refused
            client.ttl(key) > 0,                    # and the mark expires
            client.get(key),
        ]
    finally:
        client.delete(key)


def test_set_nx_ex_behaves_the_same_on_real_redis_and_fakeredis(redis_url):
    real = redis.Redis.from_url(redis_url, decode_responses=True)
    fake = fakeredis.FakeRedis(decode_responses=True)
    assert _set_nx_ex_script(real) == _set_nx_ex_script(fake) == [True, None, True, "1"]


def test_kafka_broker_round_trips_a_keyed_record(kafka_bootstrap):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = f"course-smoke-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, bootstrap_timeout_ms=5000)
    try:
        meta = producer.send(topic, key=b"order_12345", value=b'{"eventType":"OrderPlaced"}').get(timeout=15)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, bootstrap_timeout_ms=5000)
    try:
        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        deadline = time.monotonic() + 15
        records = []
        while not records and time.monotonic() < deadline:
            records = consumer.poll(timeout_ms=500).get(tp, [])
    finally:
        consumer.close()
    assert [(r.key, r.value) for r in records] == [(b"order_12345", b'{"eventType":"OrderPlaced"}')]


def test_rabbitmq_accepts_a_connection(rabbitmq_url):
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        queue = channel.queue_declare(queue="", exclusive=True).method.queue
        channel.basic_publish(exchange="", routing_key=queue, body=b"ping")
        method, _props, body = channel.basic_get(queue, auto_ack=True)
        for _ in range(50):
            if method is not None:
                break
            time.sleep(0.05)
            method, _props, body = channel.basic_get(queue, auto_ack=True)
        assert body == b"ping"
    finally:
        connection.close()


def test_nats_round_trips_a_message(nats_url, run_async):
    import nats

    async def round_trip() -> bytes:
        nc = await nats.connect(nats_url, connect_timeout=3)
        try:
            sub = await nc.subscribe("course.smoke")
            await nc.publish("course.smoke", b"ping")
            msg = await sub.next_msg(timeout=3)
            return msg.data
        finally:
            await nc.close()

    assert run_async(round_trip()) == b"ping"
