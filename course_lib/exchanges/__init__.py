"""Brokers other than Kafka, embedded: RabbitMQ's exchanges, core NATS, and JetStream.

Read it in this order, one idea per module:

* :mod:`~course_lib.exchanges.rabbitmq`: a *smart broker*. Producers publish to an
  exchange; its type (direct, fanout, topic, headers) decides which queues get a
  copy; a message no queue wants is returned, never silently lost.
* :mod:`~course_lib.exchanges.nats`: at-most-once pub/sub on subjects. Nobody
  listening means the message is gone; a slow subscriber drops messages.
* :mod:`~course_lib.exchanges.jetstream`: NATS with storage: streams, durable
  consumers, acks and redelivery after the ack wait (milliseconds, on a
  :class:`~course_lib.clock.SimClock`).

Everything is importable from here, as ``from course_lib.exchanges import TopicExchange``.
"""

from course_lib.clock import SimClock
from course_lib.exchanges.jetstream import (
    RETENTIONS,
    JetStream,
    JsConsumer,
    JsMessage,
    NoStreamError,
    Stream,
    StreamMessage,
)
from course_lib.exchanges.nats import (
    NatsBus,
    NatsMessage,
    NatsSubscription,
    nats_subject_matches,
    nats_tokens,
    validate_nats_subject,
)
from course_lib.exchanges.rabbitmq import (
    X_MATCH_MODES,
    DirectExchange,
    Exchange,
    FanoutExchange,
    HeadersExchange,
    Message,
    Queue,
    Routed,
    TopicExchange,
    headers_match,
    topic_matches,
    topic_words,
)

__all__ = [
    "Message",
    "Queue",
    "Routed",
    "Exchange",
    "DirectExchange",
    "FanoutExchange",
    "TopicExchange",
    "HeadersExchange",
    "topic_words",
    "topic_matches",
    "headers_match",
    "X_MATCH_MODES",
    "nats_tokens",
    "nats_subject_matches",
    "validate_nats_subject",
    "NatsMessage",
    "NatsSubscription",
    "NatsBus",
    "SimClock",
    "RETENTIONS",
    "StreamMessage",
    "Stream",
    "JsMessage",
    "JsConsumer",
    "JetStream",
    "NoStreamError",
]
