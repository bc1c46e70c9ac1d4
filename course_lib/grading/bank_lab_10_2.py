"""Questions of lab 10.2 (event sourcing): an apply function, a temporal query, an upcaster.

The answers work on wire-form events (plain dicts with camelCase keys) and plain
dict state, so learners write the logic themselves instead of calling
``course_lib.eventstore``. Money is integer cents throughout.
"""

from __future__ import annotations

import copy

from course_lib.grading.questions import Case, Question, register

LAB = "lab-10.2-event-sourcing"

EMPTY = {"status": "New", "items": 0, "totalCents": 0}


def _event(
    event_type: str, payload: dict, timestamp: str = "2026-05-15T14:00:00.000Z", version: int = 1, n: int = 1
) -> dict:
    return {
        "eventId": f"evt_{n:04d}",
        "eventType": event_type,
        "aggregateId": "order-12345",
        "aggregateType": "Order",
        "timestamp": timestamp,
        "version": version,
        "metadata": {
            "correlationId": "req_1",
            "causationId": None,
            "userId": None,
            "source": "order-service",
        },
        "payload": payload,
    }


def item(price_cents: int, quantity: int = 1, name: str = "Mug", **kw) -> dict:
    return _event(
        "ItemAdded",
        {"productId": "prod_001", "name": name, "quantity": quantity, "unitPriceCents": price_cents},
        version=2,
        **kw,
    )


SOURCE_ORDER = [
    _event(
        "OrderCreated", {"orderId": "order-12345", "customerId": "cust_789"}, "2026-05-15T14:00:00.000Z", n=1
    ),
    item(2999, name="Blue Mug", timestamp="2026-05-15T14:10:00.000Z", n=2),
    item(1999, name="Green Tea", timestamp="2026-05-15T14:20:00.000Z", n=3),
    _event("DiscountApplied", {"amountCents": 500, "code": "SAVE5"}, "2026-05-15T14:30:00.000Z", n=4),
    _event("OrderConfirmed", {"totalCents": 4498}, "2026-05-15T14:40:00.000Z", n=5),
]


# -- q1: apply one event to the state ------------------------------------------------------


def _replay(apply_event, events: list[dict]) -> dict:
    state = copy.deepcopy(EMPTY)
    for event in events:
        state = apply_event(state, copy.deepcopy(event))
    return state


def _replay_source(apply_event) -> dict:
    return _replay(apply_event, SOURCE_ORDER)


def _leaves_state_alone(apply_event) -> str:
    state = {"status": "Draft", "items": 1, "totalCents": 2999}
    before = copy.deepcopy(state)
    apply_event(state, item(1999))
    return "unchanged" if state == before else f"changed to {state}"


def _shipped_then_cancelled(apply_event) -> dict:
    events = SOURCE_ORDER + [_event("OrderShipped", {"carrier": "ups"}, n=6)]
    shipped = _replay(apply_event, events)
    cancelled = _replay(apply_event, SOURCE_ORDER[:3] + [_event("OrderCancelled", {"reason": "r"}, n=7)])
    return {"shipped": shipped, "cancelled": cancelled}


register(
    Question(
        id="10.2-q1",
        title="Apply an event to an order's state",
        answer_name="apply_event",
        points=4,
        writes=("course_lib.aggregate.Order",),
        lab=LAB,
        public=[
            Case(args=(EMPTY, SOURCE_ORDER[0]), expected={"status": "Draft", "items": 0, "totalCents": 0}),
            Case(
                args=({"status": "Draft", "items": 0, "totalCents": 0}, item(2999, quantity=3)),
                expected={"status": "Draft", "items": 3, "totalCents": 8997},
            ),
            Case(
                args=({"status": "Draft", "items": 2, "totalCents": 4998}, SOURCE_ORDER[3]),
                expected={"status": "Draft", "items": 2, "totalCents": 4498},
            ),
            Case(
                call=_replay_source,
                show="replay the five events of the course text's order",
                expected={"status": "Confirmed", "items": 2, "totalCents": 4498},
            ),
            Case(
                call=_shipped_then_cancelled,
                show="replay ... OrderShipped; and a draft ... OrderCancelled",
                expected={
                    "shipped": {"status": "Shipped", "items": 2, "totalCents": 4498},
                    "cancelled": {"status": "Cancelled", "items": 2, "totalCents": 4998},
                },
            ),
            Case(
                args=({"status": "Draft", "items": 0, "totalCents": 0}, _event("NoteAdded", {"note": "hi"})),
                expected={"status": "Draft", "items": 0, "totalCents": 0},
            ),
            Case(
                call=_leaves_state_alone,
                show="apply_event(state, ItemAdded) and then look at state",
                expected="unchanged",
            ),
        ],
    )
)


# -- q2: how many events had happened at a given time? ---------------------------------------


def _at(times: list[str]) -> list[dict]:
    return [_event("NoteAdded", {"n": n}, timestamp=t, n=n) for n, t in enumerate(times, start=1)]


SKEWED = _at(
    [
        "2026-05-15T14:00:00.000Z",
        "2026-05-15T14:20:00.000Z",
        "2026-05-15T14:05:00.000Z",
        "2026-05-15T14:30:00.000Z",
    ]
)

register(
    Question(
        id="10.2-q2",
        title="A temporal query: the version as of a time",
        answer_name="version_at",
        points=3,
        lab=LAB,
        public=[
            Case(args=(SOURCE_ORDER, "2026-05-15T14:30:00.000Z"), expected=4),
            Case(args=(SOURCE_ORDER, "2026-05-15T14:29:59.999Z"), expected=3),
            Case(args=(SOURCE_ORDER, "2026-05-15T18:00:00.000Z"), expected=5),
            Case(args=(SOURCE_ORDER, "2026-05-15T13:59:59.999Z"), expected=0),
            Case(args=([], "2026-05-15T14:30:00.000Z"), expected=0),
            Case(args=(SKEWED, "2026-05-15T14:10:00.000Z"), expected=1),
            Case(args=(SKEWED, "2026-05-15T14:25:00.000Z"), expected=3),
        ],
    )
)


# -- q3: upcast ItemAdded v1 -> v2 -------------------------------------------------------------


def v1_item(price: str, **extra) -> dict:
    payload = {"productId": "prod_001", "name": "Blue Mug", "price": price, **extra}
    return _event("ItemAdded", payload, version=1)


def _expected_v2(price_cents: int, quantity: int = 1, **extra) -> dict:
    event = v1_item("0")
    event["version"] = 2
    event["payload"] = {
        "productId": "prod_001",
        "name": "Blue Mug",
        **extra,
        "quantity": quantity,
        "unitPriceCents": price_cents,
    }
    return event


def _payload_and_version(upcast) -> list:
    results = []
    for price in ("29.99", "19.99", "0.29", "4.35", "1234.56", "0.1", "7"):
        event = upcast(v1_item(price))
        results.append((event["version"], event["payload"].get("unitPriceCents")))
    return results


def _leaves_input_alone(upcast) -> str:
    event = v1_item("29.99")
    before = copy.deepcopy(event)
    upcast(event)
    return "unchanged" if event == before else "the stored v1 event was changed"


register(
    Question(
        id="10.2-q3",
        title="An upcaster: ItemAdded v1 -> v2",
        answer_name="upcast_item_added",
        points=3,
        writes=(
            "course_lib.aggregate.item_added_v1_to_v2",
            "course_lib.aggregate.order_upcaster",
        ),
        lab=LAB,
        public=[
            Case(args=(v1_item("29.99"),), expected=_expected_v2(2999)),
            Case(
                call=_payload_and_version,
                show="upcast_item_added(v1 with price '29.99', '19.99', '0.29', ...)",
                expected=[(2, 2999), (2, 1999), (2, 29), (2, 435), (2, 123456), (2, 10), (2, 700)],
            ),
            Case(
                args=(v1_item("5.00", quantity=3, color="blue"),), expected=_expected_v2(500, 3, color="blue")
            ),
            Case(args=(item(2999),), expected=item(2999)),
            Case(args=(SOURCE_ORDER[3],), expected=SOURCE_ORDER[3]),
            Case(
                call=_leaves_input_alone,
                show="upcast_item_added(event) and then look at event",
                expected="unchanged",
            ),
        ],
    )
)
