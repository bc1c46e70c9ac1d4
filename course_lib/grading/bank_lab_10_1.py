"""Questions of lab 10.1 (events): validate an envelope, derive a caused-by event, trace a chain.

The answers work on the wire form (plain dicts with camelCase keys), the shape an
event has when it arrives from a broker, so learners write the rules themselves
instead of calling ``course_lib.events``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from course_lib.grading.questions import Case, Question, register

LAB = "lab-10.1-events"

SOURCE_EXAMPLE: dict[str, Any] = {
    "eventId": "evt_a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "eventType": "OrderPlaced",
    "aggregateId": "order_12345",
    "aggregateType": "Order",
    "timestamp": "2026-05-15T14:30:00.000Z",
    "version": 1,
    "metadata": {
        "correlationId": "req_xyz789",
        "causationId": "cmd_abc123",
        "userId": "user_456",
        "source": "order-service",
    },
    "payload": {
        "orderId": "order_12345",
        "customerId": "cust_789",
        "items": [{"productId": "prod_001", "quantity": 2, "unitPrice": 29.99}],
        "totalAmount": 59.98,
        "currency": "USD",
    },
}


DROP = "<drop this key>"


def envelope(drop: tuple[str, ...] = (), **changes) -> dict:
    """The source text's example with top-level keys changed or dropped.

    ``meta={...}`` is merged into the example's metadata; a metadata value of
    ``DROP`` removes that key.
    """
    event = copy.deepcopy(SOURCE_EXAMPLE)
    meta_changes = changes.pop("meta", {})
    event.update(changes)
    for key, value in meta_changes.items():
        if value == DROP:
            event["metadata"].pop(key, None)
        else:
            event["metadata"][key] = value
    for key in drop:
        event.pop(key, None)
    return event


# -- q1: find every problem in an envelope --------------------------------------------

register(
    Question(
        id="10.1-q1",
        title="Find the problems in an envelope",
        answer_name="find_problems",
        points=4,
        writes=(
            "course_lib.events.validate",
            "course_lib.events.Event.from_dict",
        ),
        lab=LAB,
        public=[
            Case(args=(envelope(),), expected=[]),
            Case(args=(envelope(meta={"correlationId": DROP}),), expected=["metadata.correlationId"]),
            Case(args=(envelope(timestamp="2026-05-15T14:30:00.123456+00:00"),), expected=["timestamp"]),
            Case(args=(envelope(version=True),), expected=["version"]),
            Case(args=(envelope(version="1"),), expected=["version"]),
            Case(
                args=(envelope(drop=("eventType",), eventId="abc", payload=[1, 2]),),
                expected=["eventId", "eventType", "payload"],
            ),
            Case(args=(envelope(metadata="req_xyz789"),), expected=["metadata"]),
            Case(args=({},), expected=sorted(SOURCE_EXAMPLE)),
        ],
    )
)


# -- q2: derive the next event of a conversation --------------------------------------

PARENT = envelope()


def _expected_child(
    parent: dict, event_type: str, payload: dict, event_id: str, timestamp: str, source: str
) -> dict:
    return {
        "eventId": event_id,
        "eventType": event_type,
        "aggregateId": parent["aggregateId"],
        "aggregateType": parent["aggregateType"],
        "timestamp": timestamp,
        "version": 1,
        "metadata": {
            "correlationId": parent["metadata"]["correlationId"],
            "causationId": parent["eventId"],
            "userId": parent["metadata"]["userId"],
            "source": source,
        },
        "payload": payload,
    }


CHILD_ARGS: dict[str, Any] = dict(
    event_type="OrderConfirmed",
    payload={"orderId": "order_12345"},
    event_id="evt_0002",
    timestamp="2026-05-15T14:30:01.500Z",
    source="order-service",
)


def _leaves_parent_alone(follow_up) -> str:
    """Call the answer, then report whether the parent dict came out unchanged."""
    parent = copy.deepcopy(PARENT)
    follow_up(parent, **CHILD_ARGS)
    return "unchanged" if parent == PARENT else f"changed to {json.dumps(parent)[:200]}"


def _grandchild(follow_up) -> dict:
    """Two hops: the grandchild keeps the root's correlation and points at the child."""
    child = follow_up(copy.deepcopy(PARENT), **CHILD_ARGS)
    grandchild = follow_up(
        child,
        event_type="EmailSent",
        payload={"to": "cust_789"},
        event_id="evt_0003",
        timestamp="2026-05-15T14:30:02.000Z",
        source="notification-service",
    )
    return grandchild["metadata"]


register(
    Question(
        id="10.1-q2",
        title="Derive a caused-by event",
        answer_name="follow_up",
        points=3,
        writes=("course_lib.events.caused_by",),
        lab=LAB,
        public=[
            Case(args=(PARENT,), kwargs=CHILD_ARGS, expected=_expected_child(PARENT, **CHILD_ARGS)),
            Case(
                args=(
                    envelope(
                        eventId="evt_9",
                        aggregateId="order_7",
                        meta={"userId": "user_1", "correlationId": "req_2"},
                    ),
                ),
                kwargs=dict(CHILD_ARGS, source="payment-service", event_type="PaymentProcessed"),
                expected=_expected_child(
                    envelope(
                        eventId="evt_9",
                        aggregateId="order_7",
                        meta={"userId": "user_1", "correlationId": "req_2"},
                    ),
                    **dict(CHILD_ARGS, source="payment-service", event_type="PaymentProcessed"),
                ),
            ),
            Case(
                call=_leaves_parent_alone,
                show="follow_up(parent, ...) and then look at parent",
                expected="unchanged",
            ),
            Case(
                call=_grandchild,
                show="follow_up(follow_up(parent, ...), event_id='evt_0003', ...)['metadata']",
                expected={
                    "correlationId": "req_xyz789",
                    "causationId": "evt_0002",
                    "userId": "user_456",
                    "source": "notification-service",
                },
            ),
        ],
    )
)


# -- q3: walk the causation links back to the root ------------------------------------


def _event(
    event_id: str, cause: str | None, correlation: str = "req_1", event_type: str = "Happened"
) -> dict:
    return envelope(
        eventId=event_id, eventType=event_type, meta={"causationId": cause, "correlationId": correlation}
    )


# cmd_1 -> evt_a -> evt_b -> evt_c -> evt_d, plus a branch evt_b -> evt_x
CHAIN = [
    _event("evt_a", "cmd_1"),
    _event("evt_b", "evt_a"),
    _event("evt_c", "evt_b"),
    _event("evt_d", "evt_c"),
    _event("evt_x", "evt_b"),
]
SHUFFLED = [CHAIN[3], CHAIN[0], CHAIN[4], CHAIN[2], CHAIN[1]]
OTHER = [_event("evt_p", None, "req_2"), _event("evt_q", "evt_p", "req_2")]

register(
    Question(
        id="10.1-q3",
        title="Rebuild a causal chain",
        answer_name="causal_chain",
        points=3,
        writes=(
            "course_lib.events.trace",
            "course_lib.events.CausalTree",
        ),
        lab=LAB,
        public=[
            Case(args=(CHAIN, "evt_d"), expected=["evt_a", "evt_b", "evt_c", "evt_d"]),
            Case(args=(SHUFFLED, "evt_d"), expected=["evt_a", "evt_b", "evt_c", "evt_d"]),
            Case(args=(SHUFFLED, "evt_x"), expected=["evt_a", "evt_b", "evt_x"]),
            Case(args=(SHUFFLED, "evt_a"), expected=["evt_a"]),
            Case(args=(OTHER + SHUFFLED, "evt_q"), expected=["evt_p", "evt_q"]),
            Case(args=(SHUFFLED, "evt_zzz"), raises=KeyError),
        ],
    )
)
