"""Questions of lab 10.3 (CQRS): a command handler, an idempotent projection, an atomic batch.

Events arrive as ``{"position": int, "event": <wire-form event dict>}`` (what a
projection reads from the store); read models are plain dicts.
"""

from __future__ import annotations

import copy

from course_lib.grading.questions import Case, Question, register

LAB = "lab-10.3-cqrs"


# -- q1: decide: a command handler on the write side -------------------------------------------


def draft(items: int = 0, total: int = 0) -> dict:
    return {"status": "Draft", "items": items, "totalCents": total}


def add(price, quantity=1) -> dict:
    return {
        "type": "AddItem",
        "productId": "prod_001",
        "name": "Blue Mug",
        "priceCents": price,
        "quantity": quantity,
    }


def _refused(decide) -> list[str]:
    """Each case should raise ValueError; report what happened instead."""
    attempts = [
        ({"status": "Confirmed", "items": 1, "totalCents": 100}, add(100)),
        ({"status": "New", "items": 0, "totalCents": 0}, add(100)),
        (draft(), add(29.99)),
        (draft(), add("2999")),
        (draft(), add(True)),
        (draft(), add(100, quantity=0)),
        (draft(), {"type": "ConfirmOrder"}),
        (draft(1, 100), {"type": "ApplyDiscount", "amountCents": 101, "code": "X"}),
        (draft(1, 100), {"type": "ApplyDiscount", "amountCents": 0, "code": "X"}),
        ({"status": "Shipped", "items": 1, "totalCents": 100}, {"type": "ConfirmOrder"}),
        (draft(1, 100), {"type": "RefundOrder"}),
    ]
    outcomes = []
    for state, command in attempts:
        try:
            result = decide(copy.deepcopy(state), command)
            outcomes.append(f"accepted: {result!r}"[:80])
        except ValueError:
            outcomes.append("ValueError")
    return outcomes


register(
    Question(
        id="10.3-q1",
        title="A command handler: decide which events a command produces",
        answer_name="decide",
        points=4,
        writes=("course_lib.aggregate.Order",),
        lab=LAB,
        public=[
            Case(
                args=(draft(), add(2999)),
                expected=[
                    {
                        "eventType": "ItemAdded",
                        "payload": {
                            "productId": "prod_001",
                            "name": "Blue Mug",
                            "quantity": 1,
                            "unitPriceCents": 2999,
                        },
                    }
                ],
            ),
            Case(
                args=(draft(1, 2999), add(1999, 2)),
                expected=[
                    {
                        "eventType": "ItemAdded",
                        "payload": {
                            "productId": "prod_001",
                            "name": "Blue Mug",
                            "quantity": 2,
                            "unitPriceCents": 1999,
                        },
                    }
                ],
            ),
            Case(
                args=(draft(2, 4998), {"type": "ApplyDiscount", "amountCents": 500, "code": "SAVE5"}),
                expected=[{"eventType": "DiscountApplied", "payload": {"amountCents": 500, "code": "SAVE5"}}],
            ),
            Case(
                args=(draft(2, 4498), {"type": "ConfirmOrder"}),
                expected=[{"eventType": "OrderConfirmed", "payload": {"totalCents": 4498}}],
            ),
            Case(
                args=(draft(1, 100), {"type": "ApplyDiscount", "amountCents": 100, "code": "ALL"}),
                expected=[{"eventType": "DiscountApplied", "payload": {"amountCents": 100, "code": "ALL"}}],
            ),
            Case(
                call=_refused,
                show="decide(...) for 11 commands that break a rule (see the list in the question)",
                expected=["ValueError"] * 11,
            ),
        ],
    )
)


# -- q2: an idempotent projection handler ------------------------------------------------------


def stored(position: int, event_type: str, order_id: str, **payload) -> dict:
    return {
        "position": position,
        "event": {
            "eventId": f"evt_{position:04d}",
            "eventType": event_type,
            "aggregateId": order_id,
            "aggregateType": "Order",
            "timestamp": "2026-05-15T14:00:00.000Z",
            "version": 1,
            "metadata": {
                "correlationId": "req_1",
                "causationId": None,
                "userId": None,
                "source": "order-service",
            },
            "payload": payload,
        },
    }


STREAM = [
    stored(1, "OrderCreated", "order-1", customerId="cust_1"),
    stored(2, "ItemAdded", "order-1", quantity=1, unitPriceCents=2999),
    stored(3, "OrderCreated", "order-2", customerId="cust_2"),
    stored(4, "OrderConfirmed", "order-1", totalCents=2999),
    stored(5, "OrderCreated", "order-3", customerId="cust_1"),
    stored(6, "OrderShipped", "order-1", carrier="ups"),
    stored(7, "OrderCancelled", "order-2", reason="changed mind"),
]


def new_view() -> dict:
    return {"checkpoint": 0, "byStatus": {}, "statusOf": {}}


def _feed(project, deliveries: list[dict]) -> dict:
    view = new_view()
    for delivery in deliveries:
        project(view, copy.deepcopy(delivery))
    return view


def _in_order(project) -> dict:
    return _feed(project, STREAM)


def _with_redeliveries(project) -> dict:
    # at-least-once: a batch is redelivered after a crash, one event twice in a row,
    # and an old one (position 4, OrderConfirmed) once more after the order shipped
    return _feed(project, STREAM[:4] + STREAM[2:4] + STREAM[4:6] + [STREAM[5], STREAM[3]] + STREAM[6:])


def _first_two(project) -> dict:
    return _feed(project, STREAM[:2])


EXPECTED_VIEW = {
    "checkpoint": 7,
    "byStatus": {"Shipped": 1, "Cancelled": 1, "Draft": 1},
    "statusOf": {"order-1": "Shipped", "order-2": "Cancelled", "order-3": "Draft"},
}


def _same_view(actual, expected) -> bool:
    """byStatus may keep zero counts or drop them: both describe the same view."""
    if not isinstance(actual, dict):
        return False
    counts = {k: v for k, v in actual.get("byStatus", {}).items() if v != 0}
    return {**actual, "byStatus": counts} == expected


register(
    Question(
        id="10.3-q2",
        title="An idempotent projection handler",
        answer_name="project",
        points=3,
        lab=LAB,
        public=[
            Case(
                call=_first_two,
                show="project(view, e) for positions 1-2",
                compare=_same_view,
                expected={"checkpoint": 2, "byStatus": {"Draft": 1}, "statusOf": {"order-1": "Draft"}},
            ),
            Case(
                call=_in_order,
                show="project(view, e) for positions 1-7 in order",
                compare=_same_view,
                expected=EXPECTED_VIEW,
            ),
            Case(
                call=_with_redeliveries,
                show="positions 1,2,3,4,3,4,5,6,6,4,7 (redeliveries)",
                compare=_same_view,
                expected=EXPECTED_VIEW,
            ),
        ],
    )
)


# -- q3: apply a batch atomically ----------------------------------------------------------------


class Crash(Exception):
    """The handler 'crashes' on an event."""


def _count_items(view: dict, delivery: dict) -> None:
    event = delivery["event"]
    if event["eventType"] == "Boom":
        raise Crash(f"crashed at position {delivery['position']}")
    totals = view["totals"]
    totals[event["aggregateId"]] = totals.get(event["aggregateId"], 0) + event["payload"].get("quantity", 0)
    view["checkpoint"] = delivery["position"]


def _view() -> dict:
    return {"checkpoint": 2, "totals": {"order-1": 3}}


BATCH = [stored(3, "ItemAdded", "order-1", quantity=2), stored(4, "ItemAdded", "order-2", quantity=1)]
BOOM = [
    stored(3, "ItemAdded", "order-1", quantity=2),
    stored(4, "Boom", "order-2"),
    stored(5, "ItemAdded", "order-2", quantity=1),
]


def _normal(process_batch) -> dict:
    return process_batch(_view(), copy.deepcopy(BATCH), _count_items)


def _crashing(process_batch) -> dict:
    view = _view()
    try:
        process_batch(view, copy.deepcopy(BOOM), _count_items)
        outcome = "no exception"
    except Crash:
        outcome = "Crash raised"
    return {"outcome": outcome, "view after": view}


def _input_unchanged(process_batch) -> dict:
    view = _view()
    new = process_batch(view, copy.deepcopy(BATCH), _count_items)
    return {"old view": view, "new view": new}


def _redelivered(process_batch) -> dict:
    view = process_batch(_view(), copy.deepcopy(BATCH), _count_items)
    return process_batch(
        view, copy.deepcopy(BATCH[1:] + [stored(5, "ItemAdded", "order-3", quantity=4)]), _count_items
    )


register(
    Question(
        id="10.3-q3",
        title="Apply a batch all or nothing",
        answer_name="process_batch",
        points=3,
        lab=LAB,
        public=[
            Case(
                call=_normal,
                show="process_batch(view, [positions 3, 4], count_items)",
                expected={"checkpoint": 4, "totals": {"order-1": 5, "order-2": 1}},
            ),
            Case(
                call=_crashing,
                show="process_batch(view, [3, 4 (crashes), 5], count_items), then look at view",
                expected={
                    "outcome": "Crash raised",
                    "view after": {"checkpoint": 2, "totals": {"order-1": 3}},
                },
            ),
            Case(
                call=_input_unchanged,
                show="new = process_batch(view, [3, 4], ...); compare view and new",
                expected={
                    "old view": {"checkpoint": 2, "totals": {"order-1": 3}},
                    "new view": {"checkpoint": 4, "totals": {"order-1": 5, "order-2": 1}},
                },
            ),
            Case(
                call=_redelivered,
                show="process_batch twice, the second batch repeating position 4",
                expected={"checkpoint": 5, "totals": {"order-1": 5, "order-2": 1, "order-3": 4}},
            ),
        ],
    )
)
