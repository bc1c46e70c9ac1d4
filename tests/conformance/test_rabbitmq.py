"""Topic and headers routing in course_lib.exchanges match a real RabbitMQ, case for case.

Each test declares one uniquely named auto-delete exchange, binds one exclusive
queue per binding (so a queue's contents say which binding matched), publishes
every routing key with publisher confirms on, drains the queues and compares
with the embedded exchange. Hundreds of (binding, routing key) pairs take one
round trip per publish, a couple of seconds in all.
"""

from __future__ import annotations

import random
import uuid

import pytest

from course_lib.exchanges import HeadersExchange, Queue, TopicExchange, headers_match, topic_matches

pika = pytest.importorskip("pika")

pytestmark = pytest.mark.conformance

SEED = 20260515


@pytest.fixture
def channel(rabbitmq_url):
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    ch = connection.channel()
    ch.confirm_delivery()  # basic_publish returns once RabbitMQ has routed the message
    yield ch
    connection.close()


def random_topic_key(rng: random.Random, words: list[str], max_words: int = 4) -> str:
    return ".".join(rng.choice(words) for _ in range(rng.randint(0, max_words)))


def route_on_rabbitmq(ch, exchange_type: str, bindings: list, messages: list) -> list[set[int]]:
    """For each message, the indices of the bindings whose queue received it."""
    exchange = f"course-conformance-{exchange_type}-{uuid.uuid4().hex[:12]}"
    ch.exchange_declare(exchange, exchange_type, auto_delete=True)
    queues = []
    for binding in bindings:
        queue = ch.queue_declare("", exclusive=True, auto_delete=True).method.queue
        if exchange_type == "headers":
            ch.queue_bind(queue, exchange, arguments=binding)
        else:
            ch.queue_bind(queue, exchange, routing_key=binding)
        queues.append(queue)
    for index, message in enumerate(messages):
        if exchange_type == "headers":
            ch.basic_publish(exchange, "", str(index).encode(), pika.BasicProperties(headers=message))
        else:
            ch.basic_publish(exchange, message, str(index).encode())
    received: list[set[int]] = [set() for _ in messages]
    for binding_index, queue in enumerate(queues):
        while True:
            method, _props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                break
            received[int(body)].add(binding_index)
    for queue in queues:
        ch.queue_delete(queue)
    return received


def test_classic_topic_cases_route_the_same_on_rabbitmq(channel):
    bindings = ["#", "*", "a.#.b", "a.*", "#.b", "a.#", "*.*", "", "a..b", "a.*.b", "#.#"]
    keys = ["", "a", "a.b", "a.x.b", "a.x.y.b", "b", "a..b", ".", "a.", "x.y"]
    rabbit = route_on_rabbitmq(channel, "topic", bindings, keys)
    for key, got in zip(keys, rabbit):
        assert {bindings[i] for i in got} == {b for b in bindings if topic_matches(b, key)}, key


def test_500_random_topic_pairs_route_the_same_on_rabbitmq(channel):
    rng = random.Random(SEED)
    bindings = sorted({random_topic_key(rng, ["a", "b", "", "*", "#"]) for _ in range(80)})
    keys = [random_topic_key(rng, ["a", "b", "", "c", "*", "#"]) for _ in range(40)]
    assert len(bindings) * len(keys) >= 500
    embedded = TopicExchange("embedded")
    for i, binding in enumerate(bindings):
        embedded.bind(Queue(str(i)), binding)
    rabbit = route_on_rabbitmq(channel, "topic", bindings, keys)
    mismatches = []
    for key, got in zip(keys, rabbit):
        expected = {int(name) for name in embedded.route(key)}
        assert expected == {i for i, b in enumerate(bindings) if topic_matches(b, key)}  # trie == rule
        if got != expected:
            mismatches.append((key, sorted(bindings[i] for i in got ^ expected)))
    assert not mismatches, f"seed {SEED}: (routing key, bindings that disagree): {mismatches}"


def random_arguments(rng: random.Random) -> dict:
    arguments = {name: rng.choice([1, "1", True, None, 2])
                 for name in rng.sample(["a", "b", "x-k"], rng.randint(0, 3))}
    mode = rng.choice([None, "all", "any", "all-with-x", "any-with-x"])
    if mode is not None:
        arguments["x-match"] = mode
    return arguments


def random_headers(rng: random.Random) -> dict:
    return {name: rng.choice([1, "1", True, None, 2, "b"])
            for name in rng.sample(["a", "b", "c", "x-k"], rng.randint(0, 4))}


def test_random_headers_bindings_route_the_same_on_rabbitmq(channel):
    rng = random.Random(SEED)
    bindings = [random_arguments(rng) for _ in range(40)]
    messages = [random_headers(rng) for _ in range(40)]
    embedded = HeadersExchange("embedded")
    for i, arguments in enumerate(bindings):
        embedded.bind(Queue(str(i)), arguments)
    rabbit = route_on_rabbitmq(channel, "headers", bindings, messages)
    mismatches = []
    for headers, got in zip(messages, rabbit):
        expected = {int(name) for name in embedded.route(headers=headers)}
        assert expected == {i for i, b in enumerate(bindings) if headers_match(b, headers)}
        if got != expected:
            mismatches.append((headers, [bindings[i] for i in sorted(got ^ expected)]))
    assert not mismatches, f"seed {SEED}: (headers, bindings that disagree): {mismatches}"


def test_an_unroutable_message_is_returned_by_rabbitmq_as_by_the_embedded_exchange(channel):
    exchange = f"course-conformance-return-{uuid.uuid4().hex[:12]}"
    channel.exchange_declare(exchange, "topic", auto_delete=True)
    queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
    channel.queue_bind(queue, exchange, routing_key="order.*.failed")
    with pytest.raises(pika.exceptions.UnroutableError):
        channel.basic_publish(exchange, "order.placed", b"x", mandatory=True)
    embedded = TopicExchange("orders")
    embedded.bind(Queue("failures"), "order.*.failed")
    assert embedded.publish("order.placed").returned
    assert [m.routing_key for m in embedded.returned] == ["order.placed"]
