"""Questions of lab 10.5 (brokers): a topic matcher, a headers matcher, a NATS subject matcher.

Every expected answer below is what a real RabbitMQ or nats-server does; the
conformance tests check ``course_lib.exchanges`` (which agrees with these cases)
against the servers themselves.
"""

from __future__ import annotations

from course_lib.grading.questions import Case, Question, register

LAB = "lab-10.5-brokers"


# -- q1: RabbitMQ topic matching ---------------------------------------------------------

TOPIC_CASES = [
    ("order.*.failed", "order.payment.failed", True),
    ("order.*.failed", "order.failed", False),
    ("order.*.failed", "order.payment.card.failed", False),
    ("order.#.failed", "order.payment.card.failed", True),
    ("order.#", "order", True),  # '#' matches zero words at the end
    ("a.#.b", "a.b", True),  # ... and in the middle
    ("#.b", "b", True),  # ... and at the start
    ("#", "", True),  # "" is a key of zero words
    ("*", "", False),  # '*' needs exactly one word
    ("*", "a.b", False),  # '*' never crosses a dot
    ("a.*.b", "a..b", True),  # an empty word is still a word
    ("", "", True),
    ("a.#.c", "a.b.x.c.c", True),  # '#' must be able to stop at the last 'c'
    ("a.b", "a.b.c", False),
]

register(
    Question(
        id="10.5-q1",
        title="Match a RabbitMQ topic binding key",
        answer_name="topic_match",
        points=4,
        writes=(
            "course_lib.exchanges.rabbitmq.topic_matches",
            "course_lib.exchanges.rabbitmq.TopicExchange",
        ),
        lab=LAB,
        public=[Case(args=(binding, key), expected=expected) for binding, key, expected in TOPIC_CASES],
    )
)


# -- q2: headers exchange ------------------------------------------------------------------

HEADERS_CASES = [
    ({"format": "pdf", "type": "report"}, {"format": "pdf", "type": "report", "size": 10}, True),
    ({"format": "pdf", "type": "report"}, {"format": "pdf"}, False),  # all is the default
    ({"x-match": "all", "format": "pdf"}, {"format": "zip"}, False),
    ({"x-match": "any", "format": "pdf", "type": "report"}, {"type": "report"}, True),
    ({"x-match": "any", "format": "pdf"}, {"format": "zip"}, False),
    ({"x-match": "any"}, {"format": "pdf"}, False),  # any of nothing
    ({}, {"format": "pdf"}, True),  # all of nothing
    ({"x-match": "all", "x-tenant": "acme"}, {}, True),  # x- keys ignored
    ({"x-match": "any", "x-tenant": "acme", "region": "eu"}, {"x-tenant": "acme"}, False),
    ({"priority": None}, {"priority": 7}, True),  # presence only
    ({"priority": None}, {}, False),
    ({"retries": 1}, {"retries": True}, False),  # typed values
    ({"retries": 1}, {"retries": 1}, True),
]

register(
    Question(
        id="10.5-q2",
        title="Match a headers-exchange binding",
        answer_name="headers_route",
        points=3,
        writes=(
            "course_lib.exchanges.rabbitmq.headers_match",
            "course_lib.exchanges.rabbitmq.HeadersExchange",
        ),
        lab=LAB,
        public=[
            Case(args=(arguments, headers), expected=expected)
            for arguments, headers, expected in HEADERS_CASES
        ],
    )
)


# -- q3: NATS subjects ----------------------------------------------------------------------

NATS_CASES = [
    ("orders.*", "orders.eu", True),
    ("orders.*", "orders.eu.de", False),
    ("orders.>", "orders.eu.de", True),
    ("orders.>", "orders", False),  # '>' is one or more tokens, never zero
    (">", "orders", True),
    ("*.eu.>", "orders.eu.de.berlin", True),
    ("*.eu", "orders.us", False),
    ("orders", "orders", True),
    ("orders.*", "orders", False),
    ("orders.*", "orders..eu", False),  # an empty token: invalid subject, delivered to nobody
    (">", "a..b", False),
]

register(
    Question(
        id="10.5-q3",
        title="Match a NATS subject",
        answer_name="nats_match",
        points=3,
        writes=(
            "course_lib.exchanges.nats.nats_subject_matches",
            "course_lib.exchanges.nats.NatsBus",
        ),
        lab=LAB,
        public=[
            Case(args=(pattern, subject), expected=expected) for pattern, subject, expected in NATS_CASES
        ],
    )
)
