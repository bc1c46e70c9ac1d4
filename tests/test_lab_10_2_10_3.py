"""Labs 10.2 and 10.3: reference answers score full marks, plausible wrong ones lose points,
and the grader gives the solution notebooks full marks and the generated labs zero."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from course_lib.grading.questions import get
from course_lib.grading.runner import run_question



def score(question_id: str, answer) -> tuple[float, float]:
    question = get(question_id)
    return run_question(question, answer, timeout=2).score, question.points


# -- 10.2 reference answers, each with the mistakes learners make -----------------------------

def apply_event(state, event, *, mistake=None):
    new = state if mistake == "mutates state" else dict(state)
    p, kind = event["payload"], event["eventType"]
    if kind == "OrderCreated":
        new["status"] = "Draft"
    elif kind == "ItemAdded":
        quantity = 1 if mistake == "ignores quantity" else p["quantity"]
        new["items"] += quantity
        new["totalCents"] += quantity * p["unitPriceCents"]
    elif kind == "DiscountApplied":
        if mistake != "ignores discounts":
            new["totalCents"] -= p["amountCents"]
    elif kind in ("OrderConfirmed", "OrderShipped", "OrderCancelled"):
        if not (mistake == "only confirms" and kind != "OrderConfirmed"):
            new["status"] = kind.removeprefix("Order")
    elif mistake == "refuses unknown events":
        raise ValueError(kind)
    if mistake == "float dollars":
        new["totalCents"] = round(new["totalCents"] / 100, 2)
    return new


def version_at(events, as_of, *, mistake=None):
    if mistake == "filters instead of stopping":
        return sum(1 for e in events if e["timestamp"] <= as_of)
    version = 0
    for event in events:
        late = event["timestamp"] >= as_of if mistake == "excludes the exact time" else event["timestamp"] > as_of
        if late:
            break
        version += 1
    if mistake == "zero-based index":
        return version - 1 if version else 0
    return version


def upcast_item_added(event, *, mistake=None):
    if event["eventType"] != "ItemAdded" or event["version"] != 1:
        return event
    new = event if mistake == "mutates the stored event" else copy.deepcopy(event)
    payload = new["payload"]
    price = payload["price"] if mistake == "keeps price" else payload.pop("price")
    if mistake == "float arithmetic":
        payload["unitPriceCents"] = int(float(price) * 100)
    else:
        payload["unitPriceCents"] = int(Decimal(price) * 100)
    if mistake == "overwrites quantity":
        payload["quantity"] = 1
    else:
        payload.setdefault("quantity", 1)
    if mistake != "keeps version 1":
        new["version"] = 2
    return new


# -- 10.3 reference answers ------------------------------------------------------------------

def decide(state, command, *, mistake=None):
    kind = command["type"]
    if kind not in ("AddItem", "ApplyDiscount", "ConfirmOrder"):
        if mistake == "ignores unknown commands":
            return []
        raise ValueError(kind)
    if state["status"] != "Draft" and mistake != "forgets the status":
        raise ValueError("not Draft")

    def whole(value, lowest):
        if mistake == "isinstance int":
            return isinstance(value, int) and value >= lowest
        if mistake == "accepts floats":
            return isinstance(value, (int, float)) and value >= lowest
        return type(value) is int and value >= lowest

    if kind == "AddItem":
        if not whole(command["priceCents"], 0) or not whole(command["quantity"], 1):
            raise ValueError("bad item")
        return [{"eventType": "ItemAdded", "payload": {"productId": command["productId"], "name": command["name"],
                                                        "quantity": command["quantity"],
                                                        "unitPriceCents": command["priceCents"]}}]
    if kind == "ApplyDiscount":
        amount = command["amountCents"]
        limit = state["totalCents"] - (1 if mistake == "discount must leave something" else 0)
        if not whole(amount, 1) or amount > limit:
            raise ValueError("bad discount")
        return [{"eventType": "DiscountApplied", "payload": {"amountCents": amount, "code": command["code"]}}]
    if state["items"] < 1 and mistake != "confirms empty orders":
        raise ValueError("empty")
    return [{"eventType": "OrderConfirmed", "payload": {"totalCents": state["totalCents"]}}]


STATUS = {"OrderCreated": "Draft", "OrderConfirmed": "Confirmed", "OrderShipped": "Shipped",
          "OrderCancelled": "Cancelled"}


def project(view, delivery, *, mistake=None):
    if mistake == "skips only the exact checkpoint":
        if delivery["position"] == view["checkpoint"]:
            return
    elif delivery["position"] <= view["checkpoint"] and mistake != "no idempotency check":
        return
    event = delivery["event"]
    new_status = STATUS.get(event["eventType"])
    if new_status is not None:
        order_id = event["aggregateId"]
        old_status = view["statusOf"].get(order_id)
        if old_status is not None and mistake != "never decrements":
            view["byStatus"][old_status] -= 1
        view["byStatus"][new_status] = view["byStatus"].get(new_status, 0) + 1
        view["statusOf"][order_id] = new_status
    if mistake != "forgets the checkpoint":
        view["checkpoint"] = delivery["position"]


def process_batch(view, batch, handle, *, mistake=None):
    if mistake == "in place":
        new = view
    elif mistake == "shallow copy":
        new = dict(view)
    else:
        new = copy.deepcopy(view)
    for delivery in batch:
        if delivery["position"] <= new["checkpoint"] and mistake != "reapplies old positions":
            continue
        if mistake == "swallows the crash":
            try:
                handle(new, delivery)
            except Exception:
                return view
        else:
            handle(new, delivery)
        new["checkpoint"] = delivery["position"]
    return new


ANSWERS = {"10.2-q1": apply_event, "10.2-q2": version_at, "10.2-q3": upcast_item_added,
           "10.3-q1": decide, "10.3-q2": project, "10.3-q3": process_batch}

MISTAKES = {
    "10.2-q1": ["mutates state", "ignores quantity", "ignores discounts", "only confirms",
                "refuses unknown events", "float dollars"],
    "10.2-q2": ["filters instead of stopping", "excludes the exact time", "zero-based index"],
    "10.2-q3": ["mutates the stored event", "keeps price", "float arithmetic", "overwrites quantity",
                "keeps version 1"],
    "10.3-q1": ["ignores unknown commands", "forgets the status", "isinstance int", "accepts floats",
                "discount must leave something", "confirms empty orders"],
    "10.3-q2": ["no idempotency check", "skips only the exact checkpoint", "never decrements",
                "forgets the checkpoint"],
    "10.3-q3": ["in place", "shallow copy", "reapplies old positions", "swallows the crash"],
}


def with_mistake(answer, mistake):
    return lambda *args: answer(*args, mistake=mistake)


def test_reference_answers_score_full_marks():
    for question_id, answer in ANSWERS.items():
        earned, points = score(question_id, answer)
        assert earned == points, question_id


@pytest.mark.parametrize("question_id, mistake", [(q, m) for q, ms in MISTAKES.items() for m in ms])
def test_a_plausible_wrong_answer_loses_points(question_id, mistake):
    earned, points = score(question_id, with_mistake(ANSWERS[question_id], mistake))
    assert earned < points, f"{question_id}: the mistake '{mistake}' still scores full marks"


def test_each_question_keeps_at_least_three_wrong_answers():
    assert all(len(MISTAKES[q]) >= 3 for q in ANSWERS)


def test_the_bank_data_is_not_shared_between_cases():
    from course_lib.grading import bank_lab_10_2 as bank

    before = copy.deepcopy(bank.SOURCE_ORDER)
    score("10.2-q1", with_mistake(apply_event, "mutates state"))
    score("10.2-q3", with_mistake(upcast_item_added, "mutates the stored event"))
    assert bank.SOURCE_ORDER == before
