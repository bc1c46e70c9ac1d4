"""RabbitMQ exchange types, topic and headers matching, NATS subjects, the bus and JetStream."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.exchanges import (
    DirectExchange, FanoutExchange, HeadersExchange, JetStream, Message, NatsBus, NoStreamError, Queue,
    TopicExchange, headers_match, nats_subject_matches, topic_matches, topic_words,
)


# -- topic matching: RabbitMQ's classic cases ---------------------------------------------

@pytest.mark.parametrize("binding, key, expected", [
    ("#", "", True),              # '#' matches zero words, and "" is zero words
    ("#", "a.b.c", True),
    ("a.#", "a", True),           # '#' may match nothing at the end
    ("a.#.b", "a.b", True),       # ... or in the middle
    ("a.#.b", "a.x.y.b", True),
    ("#.b", "b", True),
    ("*", "", False),             # '*' is exactly one word; "" has none
    ("*", "a", True),
    ("*", "a.b", False),          # '*' never crosses a dot
    ("a.*", "a.b.c", False),
    ("order.*.failed", "order.payment.failed", True),   # the source text's example
    ("order.*.failed", "order.failed", False),
    ("", "", True),
    ("", "a", False),
    ("a..b", "a..b", True),       # empty words are words
    ("a.*.b", "a..b", True),      # '*' matches the empty word
    ("a.b", "a..b", False),
    ("*", ".", False),            # "." is two empty words
    ("*.*", ".", True),
    ("#.#", "", True),
    ("a#", "ab", False),          # wildcards are whole words only
])
def test_topic_matches_follows_rabbitmq(binding, key, expected):
    assert topic_matches(binding, key) is expected


def test_topic_words_treat_the_empty_key_as_zero_words():
    assert topic_words("") == [] and topic_words("a..b") == ["a", "", "b"] and topic_words(".") == ["", ""]


WORDS = st.sampled_from(["a", "b", "", "*", "#"])
KEYS = st.lists(WORDS, max_size=5).map(".".join)
ROUTING = st.lists(st.sampled_from(["a", "b", "", "c"]), max_size=5).map(".".join)


@given(st.lists(KEYS, min_size=1, max_size=12), ROUTING)
def test_the_trie_routes_exactly_like_checking_every_binding(bindings, key):
    exchange = TopicExchange("t")
    for i, binding in enumerate(bindings):
        exchange.bind(Queue(f"q{i}"), binding)
    assert set(exchange.route(key)) == {f"q{i}" for i, b in enumerate(bindings) if topic_matches(b, key)}


@given(KEYS, ROUTING)
def test_hash_matches_everything_and_two_hashes_in_a_row_are_one(binding, key):
    assert topic_matches("#", key) and topic_matches("#.#", key)
    assert topic_matches(binding, key) == topic_matches(binding.replace("#.#", "#"), key)


def test_unbinding_prunes_the_trie_and_stops_routing():
    exchange, q = TopicExchange("t"), Queue("q")
    exchange.bind(q, "a.*.c")
    exchange.bind(q, "a.#")
    exchange.unbind(q, "a.*.c")
    assert exchange.route("a.b.c") == ("q",)  # still reached through a.#
    exchange.unbind(q, "a.#")
    assert exchange.route("a.b.c") == () and exchange.root.children == {}
    with pytest.raises(KeyError, match="not bound"):
        exchange.unbind(q, "a.#")


# -- every exchange type, publish, returned ---------------------------------------------

def test_direct_exchange_routes_by_exact_key_only():
    exchange, payments, failures = DirectExchange("d"), Queue("payments"), Queue("failures")
    exchange.bind(payments, "payment.success")
    exchange.bind(failures, "payment.failed")
    assert exchange.publish("payment.success", "ok").queues == ("payments",)
    assert exchange.publish("payment.*").returned  # no wildcards in a direct exchange
    assert [m.body for m in payments.drain()] == ["ok"] and len(failures) == 0


def test_fanout_copies_to_every_bound_queue_and_ignores_the_key():
    exchange = FanoutExchange("orders")
    queues = [Queue(n) for n in ("notification", "analytics", "audit")]
    for q in queues:
        exchange.bind(q)
    assert exchange.publish("whatever").queues == ("analytics", "audit", "notification")
    assert all(len(q) == 1 for q in queues)


def test_a_queue_matched_by_two_bindings_gets_one_copy():
    exchange, q = TopicExchange("t"), Queue("q")
    exchange.bind(q, "order.#")
    exchange.bind(q, "*.placed")
    assert exchange.publish("order.placed").queues == ("q",) and len(q) == 1


def test_unroutable_messages_are_returned_not_lost():
    exchange = TopicExchange("t")
    exchange.bind(Queue("failures"), "order.*.failed")
    routed = exchange.publish("order.placed", {"id": 1})
    assert routed.returned and routed.queues == ()
    assert [(m.routing_key, m.body) for m in exchange.returned] == [("order.placed", {"id": 1})]


def test_two_different_queues_with_one_name_are_refused():
    exchange = DirectExchange("d")
    exchange.bind(Queue("q"), "a")
    with pytest.raises(ValueError, match="already bound"):
        exchange.bind(Queue("q"), "b")


# -- headers ------------------------------------------------------------------------------

@pytest.mark.parametrize("arguments, headers, expected", [
    ({"format": "pdf", "type": "report"}, {"format": "pdf", "type": "report", "extra": 1}, True),
    ({"format": "pdf", "type": "report"}, {"format": "pdf"}, False),           # all is the default
    ({"x-match": "any", "format": "pdf", "type": "report"}, {"type": "report"}, True),
    ({"x-match": "any", "format": "pdf"}, {"format": "zip"}, False),
    ({"a": 1}, {"a": True}, False),                                            # typed: true is not 1
    ({"a": True}, {"a": True}, True),
    ({"a": 1}, {"a": "1"}, False),
    ({"a": None}, {"a": "anything"}, True),                                    # void: presence only
    ({"a": None}, {}, False),
    ({}, {}, True),                                                            # all over nothing: true
    ({"x-match": "any"}, {"a": 1}, False),                                     # any over nothing: false
    ({"x-match": "all", "x-k": 1}, {}, True),                                  # x- keys ignored...
    ({"x-match": "any", "x-k": 1}, {"x-k": 1}, False),
    ({"x-match": "all-with-x", "x-k": 1}, {"x-k": 1}, True),                   # ...unless -with-x
    ({"x-match": "all-with-x", "x-k": 1}, {}, False),
    ({"x-match": "any-with-x", "x-k": 1, "a": 2}, {"x-k": 1}, True),
])
def test_headers_match_follows_rabbitmq(arguments, headers, expected):
    assert headers_match(arguments, headers) is expected


def test_a_bad_x_match_is_refused_at_bind_time():
    with pytest.raises(ValueError, match="x-match must be one of"):
        HeadersExchange("h").bind(Queue("q"), {"x-match": "most"})


def test_headers_exchange_routes_on_headers_and_unbinds():
    exchange, pdf, eu = HeadersExchange("h"), Queue("pdf"), Queue("eu")
    exchange.bind(pdf, {"format": "pdf"})
    exchange.bind(eu, {"x-match": "any", "region": "eu", "country": "de"})
    assert exchange.publish("ignored", headers={"format": "pdf", "country": "de"}).queues == ("eu", "pdf")
    exchange.unbind(eu, {"x-match": "any", "region": "eu", "country": "de"})
    assert exchange.publish(headers={"country": "de"}).returned


# -- NATS ---------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern, subject, expected", [
    ("orders.*", "orders.eu", True),
    ("orders.*", "orders.eu.de", False),
    ("orders.>", "orders.eu.de", True),
    ("orders.>", "orders", False),    # '>' is one or more tokens
    (">", "a", True),
    ("*.eu", "orders.eu", True),
    ("orders", "orders", True),
    ("a.*", "a..b", False),           # an empty token makes the subject invalid: no match
    ("*", "", False),
])
def test_nats_subject_matching(pattern, subject, expected):
    assert nats_subject_matches(pattern, subject) is expected


@pytest.mark.parametrize("pattern", ["a.>.b", "a..b", "", "a b"])
def test_invalid_nats_patterns_are_refused(pattern):
    with pytest.raises(ValueError):
        nats_subject_matches(pattern, "a")


def test_nats_is_at_most_once_nobody_listening_means_gone():
    bus = NatsBus()
    assert bus.publish("orders.placed", 1) == 0 and bus.unheard == 1
    late = bus.subscribe("orders.*")
    assert late.fetch() == []


def test_a_slow_consumer_loses_messages_and_they_are_counted():
    bus = NatsBus()
    slow = bus.subscribe("ticks", pending_limit=3)
    fast = bus.subscribe("ticks")
    for n in range(10):
        bus.publish("ticks", n)
    assert [m.data for m in slow.fetch()] == [0, 1, 2] and slow.dropped == 7
    assert [m.data for m in fast.fetch()] == list(range(10)) and fast.dropped == 0


def test_one_publisher_to_one_subscriber_keeps_order():
    bus = NatsBus()
    sub = bus.subscribe("s.>")
    for n in range(20):
        bus.publish(f"s.{n % 3}", n)
    assert [m.data for m in sub.fetch()] == list(range(20))


def test_queue_group_members_share_the_messages_and_plain_subscribers_get_all():
    bus = NatsBus(seed=3)
    workers = [bus.subscribe("jobs", queue_group="w") for _ in range(3)]
    audit = bus.subscribe("jobs")
    for n in range(30):
        assert bus.publish("jobs", n) == 2
    got = sorted(m.data for w in workers for m in w.fetch())
    assert got == list(range(30)) and all(w.delivered > 0 for w in workers)
    assert len(audit.fetch()) == 30


def test_publishing_to_a_wildcard_is_refused():
    with pytest.raises(ValueError, match="wildcards"):
        NatsBus().publish("orders.*", 1)


# -- JetStream ----------------------------------------------------------------------------

def test_jetstream_keeps_what_core_nats_drops_and_a_durable_consumer_reads_it_later():
    js = JetStream()
    js.add_stream("ORDERS", ["orders.>"])
    assert [js.publish("orders.placed", n) for n in range(3)] == [1, 2, 3]
    consumer = js.add_consumer("ORDERS", "billing")
    assert [m.data for m in consumer.fetch(10)] == [0, 1, 2]
    assert js.add_consumer("ORDERS", "billing") is consumer  # durable: same state by name


def test_publishing_where_no_stream_listens_is_an_error():
    with pytest.raises(NoStreamError, match="no stream captures"):
        JetStream().publish("nobody.here", 1)


def test_unacked_messages_come_back_after_the_ack_wait_and_nak_brings_them_now():
    js = JetStream()
    js.add_stream("S", ["s.*"])
    js.publish("s.a", "first")
    js.publish("s.a", "second")
    consumer = js.add_consumer("S", "d", ack_wait_ms=5_000)
    first, second = consumer.fetch(2)
    second.ack()
    assert consumer.fetch(2) == []            # first is pending until its ack wait runs out
    js.clock.advance(4_999)
    assert consumer.fetch(2) == []
    js.clock.advance(1)
    again = consumer.fetch(2)
    assert [(m.data, m.num_delivered) for m in again] == [("first", 2)] and consumer.redelivered == 1
    again[0].nak()
    assert [(m.data, m.num_delivered) for m in consumer.fetch(1)] == [("first", 3)]


def test_max_deliver_gives_up_on_a_poison_message():
    js = JetStream()
    js.add_stream("S", ["s"])
    js.publish("s", "poison")
    consumer = js.add_consumer("S", "d", ack_wait_ms=1_000, max_deliver=2)
    assert len(consumer.fetch()) == 1
    js.clock.advance(1_000)
    assert len(consumer.fetch()) == 1
    js.clock.advance(1_000)
    assert consumer.fetch() == [] and consumer.num_ack_pending == 0


def test_limits_retention_drops_the_oldest_past_max_msgs_and_max_age_ms():
    js = JetStream()
    stream = js.add_stream("S", ["s"], max_msgs=3, max_age_ms=60_000)
    for n in range(5):
        js.publish("s", n)
    assert sorted(stream.messages) == [3, 4, 5]
    js.clock.advance(60_000)
    js.publish("s", "new")
    assert [m.data for m in stream.messages.values()] == ["new"]


def test_workqueue_retention_removes_a_message_once_acked_and_refuses_overlapping_consumers():
    js = JetStream()
    stream = js.add_stream("JOBS", ["jobs.>"], retention="workqueue")
    consumer = js.add_consumer("JOBS", "workers")
    js.publish("jobs.resize", "img1")
    consumer.fetch()[0].ack()
    assert stream.messages == {}
    with pytest.raises(ValueError, match="one consumer only"):
        js.add_consumer("JOBS", "other")


def test_interest_retention_keeps_a_message_until_every_consumer_acked_it():
    js = JetStream()
    stream = js.add_stream("EV", ["ev"], retention="interest")
    js.publish("ev", "nobody interested yet")
    assert stream.messages == {}
    billing, shipping = js.add_consumer("EV", "billing"), js.add_consumer("EV", "shipping")
    js.publish("ev", "placed")
    billing.fetch()[0].ack()
    assert len(stream.messages) == 1
    shipping.fetch()[0].ack()
    assert stream.messages == {}


def test_an_unknown_retention_is_refused():
    with pytest.raises(ValueError, match="retention must be one of"):
        JetStream().add_stream("S", ["s"], retention="forever")


# -- queues: manual acks --------------------------------------------------------------------

def test_an_unacked_message_goes_back_to_the_head_of_the_queue_when_the_consumer_dies():
    q = Queue("tasks")
    for n in range(3):
        q.put(Message("k", n))
    tag0, m0 = q.deliver()
    tag1, m1 = q.deliver()
    q.ack(tag0)
    assert q.recover() == 1
    assert [m.body for m in q.drain()] == [1, 2]
    with pytest.raises(KeyError, match="not unacked"):
        q.ack(tag0)


def test_nack_requeues_or_drops():
    q = Queue("tasks")
    q.put(Message("k", "a"))
    tag, _ = q.deliver()
    q.nack(tag)
    tag, _ = q.deliver()
    q.nack(tag, requeue=False)
    assert len(q) == 0 and q.unacked == {}


def test_the_routing_explorer_shows_the_queues_a_key_reaches():
    from course_lib.viz.brokers import RoutingExplorer, parse_headers

    explorer = RoutingExplorer(routing_key="order.payment.failed", headers="region=eu")
    text = explorer.static_text()
    assert "-> failures     bound with 'order.*.failed'" in text and "   one-word" in text
    assert "-> any-eu" in text
    explorer.key_box.value = "order"
    assert "-> one-word" in explorer.static_text()
    assert parse_headers("a=1, b=x") == {"a": 1, "b": "x"}
    with pytest.raises(ValueError, match="name=value"):
        parse_headers("oops")


@pytest.mark.slow
def test_the_brokers_benchmark_runs_quick():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "benchmarks/brokers.py", "--quick"], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "trie / scan =" in run.stdout and "fakeredis: pipelined / plain =" in run.stdout


def test_a_consumer_added_later_starts_at_the_oldest_stored_message():
    js = JetStream()
    stream = js.add_stream("S", ["s"], max_msgs=2)
    for n in range(4):
        js.publish("s", n)
    late = js.add_consumer("S", "late")
    assert [m.seq for m in late.fetch(5)] == [3, 4] and late.num_pending == 0
    assert sorted(stream.messages) == [3, 4]


def test_unbinding_a_queue_that_is_not_bound_is_an_error():
    with pytest.raises(KeyError, match="not bound"):
        FanoutExchange("f").unbind(Queue("q"))
    with pytest.raises(KeyError, match="not bound"):
        DirectExchange("d").unbind(Queue("q"), "k")
    with pytest.raises(KeyError, match="not bound"):
        HeadersExchange("h").unbind(Queue("q"), {"a": 1})
