"""The course text's Order, as an event-sourced aggregate.

OrderCreated $0.00, ItemAdded +$29.99, ItemAdded +$19.99, DiscountApplied -$5.00,
OrderConfirmed: replaying those five events gives an order that is Confirmed,
holds 2 items and totals $44.98. Money is integer cents everywhere (a float
cannot hold 29.99 exactly); :func:`money` formats it for people.

The base classes live in :mod:`course_lib.aggregate` (and the store in
:mod:`course_lib.eventstore`); this module is an example of using them, and the
aggregates the notebooks, labs and benchmarks share.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from course_lib.aggregate import Aggregate
from course_lib.events import Event
from course_lib.eventstore import Upcaster

__all__ = ["Order", "InventoryItem", "OrderError", "money", "cents", "order_upcaster", "item_added_v1_to_v2"]


class OrderError(ValueError):
    """A command broke a business rule; nothing was recorded."""


def money(amount_cents: int) -> str:
    """Integer cents as dollars for people: 4498 -> '$44.98', -500 -> '-$5.00'."""
    sign = "-" if amount_cents < 0 else ""
    whole, part = divmod(abs(amount_cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def cents(dollars: str) -> int:
    """'29.99' -> 2999, exactly (through Decimal, never float); refuses fractions of a cent."""
    value = Decimal(dollars) * 100
    if value != value.to_integral_value():
        raise ValueError(f"{dollars!r} has fractions of a cent")
    return int(value)


class Order(Aggregate):
    """An order: Draft -> Confirmed -> Shipped, or Cancelled before shipping.

    ``ItemAdded`` is at schema version 2 (``unitPriceCents``); version 1 stored the
    price as a dollar string and is upcast on read by :func:`order_upcaster`.
    """

    aggregate_type = "Order"
    state_schema_version = 1
    source = "order-service"

    def __init__(self, aggregate_id: str, **kwargs: Any) -> None:
        super().__init__(aggregate_id, **kwargs)
        self.status = "New"
        self.customer_id: str | None = None
        self.lines: list[dict[str, Any]] = []  # {productId, name, quantity, unitPriceCents}
        self.discount_cents = 0

    # -- derived values --

    @property
    def total_cents(self) -> int:
        subtotal: int = sum(line["quantity"] * line["unitPriceCents"] for line in self.lines)
        return subtotal - self.discount_cents

    @property
    def item_count(self) -> int:
        return sum(line["quantity"] for line in self.lines)

    @property
    def total(self) -> str:
        return money(self.total_cents)

    def summary(self) -> str:
        return (
            f"Order {self.id}: {self.status}, {self.item_count} items, total {self.total} (v{self.version})"
        )

    # -- commands: check the rules, then record a fact --

    def create(self, customer_id: str) -> Event:
        if self.status != "New":
            raise OrderError(f"order {self.id} already exists")
        return self.record("OrderCreated", {"orderId": self.id, "customerId": customer_id})

    def add_item(self, product_id: str, name: str, unit_price_cents: int, quantity: int = 1) -> Event:
        self._require("Draft", "add items to")
        if (
            not isinstance(unit_price_cents, int)
            or isinstance(unit_price_cents, bool)
            or unit_price_cents < 0
        ):
            raise OrderError(
                f"unit_price_cents must be whole cents >= 0, not {unit_price_cents!r} "
                "(use cents('29.99') to convert dollars)"
            )
        if quantity < 1:
            raise OrderError(f"quantity must be at least 1, not {quantity}")
        return self.record(
            "ItemAdded",
            {"productId": product_id, "name": name, "quantity": quantity, "unitPriceCents": unit_price_cents},
            version=2,
        )

    def apply_discount(self, amount_cents: int, code: str) -> Event:
        self._require("Draft", "discount")
        if amount_cents <= 0 or amount_cents > self.total_cents:
            raise OrderError(
                f"a discount must be between 1 cent and the total {self.total}, not {money(amount_cents)}"
            )
        return self.record("DiscountApplied", {"amountCents": amount_cents, "code": code})

    def confirm(self) -> Event:
        self._require("Draft", "confirm")
        if not self.lines:
            raise OrderError(f"order {self.id} has no items to confirm")
        return self.record("OrderConfirmed", {"totalCents": self.total_cents})

    def ship(self, carrier: str = "ups") -> Event:
        self._require("Confirmed", "ship")
        return self.record("OrderShipped", {"carrier": carrier})

    def cancel(self, reason: str) -> Event:
        if self.status not in ("Draft", "Confirmed"):
            raise OrderError(
                f"order {self.id} is {self.status}: only a Draft or Confirmed order can be cancelled"
            )
        return self.record("OrderCancelled", {"reason": reason})

    def _require(self, status: str, action: str) -> None:
        if self.status != status:
            raise OrderError(f"cannot {action} order {self.id}: it is {self.status}, not {status}")

    # -- state changes: one per event type, never refusing --

    def apply(self, event: Event) -> None:
        p = event.payload
        match event.event_type:
            case "OrderCreated":
                self.status, self.customer_id = "Draft", p["customerId"]
            case "ItemAdded":
                self.lines.append(
                    {
                        "productId": p["productId"],
                        "name": p["name"],
                        "quantity": p["quantity"],
                        "unitPriceCents": p["unitPriceCents"],
                    }
                )
            case "DiscountApplied":
                self.discount_cents += p["amountCents"]
            case "OrderConfirmed":
                self.status = "Confirmed"
            case "OrderShipped":
                self.status = "Shipped"
            case "OrderCancelled":
                self.status = "Cancelled"
            case _:
                raise ValueError(f"Order cannot apply {event.event_type} (event {event.event_id})")

    def snapshot_state(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "customerId": self.customer_id,
            "lines": [dict(line) for line in self.lines],
            "discountCents": self.discount_cents,
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        self.status, self.customer_id = state["status"], state["customerId"]
        self.lines = [dict(line) for line in state["lines"]]
        self.discount_cents = state["discountCents"]


def item_added_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 stored {'price': '29.99'} (dollars as text); v2 stores {'unitPriceCents': 2999}."""
    new = {key: value for key, value in payload.items() if key != "price"}
    new["unitPriceCents"] = cents(payload["price"])
    new.setdefault("quantity", 1)
    return new


def order_upcaster() -> Upcaster:
    """The Order's upcasters: ItemAdded v1 -> v2."""
    upcaster = Upcaster()
    upcaster.register("ItemAdded", 1, item_added_v1_to_v2)
    return upcaster


class InventoryItem(Aggregate):
    """A product's stock: a long stream (every receipt and reservation) over a tiny state.

    Long streams with small state are where snapshots pay off most: the benchmark
    and notebook 10.2 load one with 100,000 events.
    """

    aggregate_type = "InventoryItem"
    state_schema_version = 1
    source = "inventory-service"

    def __init__(self, aggregate_id: str, **kwargs: Any) -> None:
        super().__init__(aggregate_id, **kwargs)
        self.on_hand = 0
        self.reserved = 0

    def receive(self, quantity: int) -> Event:
        if quantity < 1:
            raise OrderError(f"receive at least 1 unit, not {quantity}")
        return self.record("StockReceived", {"quantity": quantity})

    def reserve(self, quantity: int, order_id: str) -> Event:
        if quantity > self.on_hand - self.reserved:
            raise OrderError(
                f"only {self.on_hand - self.reserved} units of {self.id} are free, cannot reserve {quantity}"
            )
        return self.record("StockReserved", {"quantity": quantity, "orderId": order_id})

    def apply(self, event: Event) -> None:
        match event.event_type:
            case "StockReceived":
                self.on_hand += event.payload["quantity"]
            case "StockReserved":
                self.reserved += event.payload["quantity"]
            case _:
                raise ValueError(f"InventoryItem cannot apply {event.event_type} (event {event.event_id})")

    def snapshot_state(self) -> dict[str, Any]:
        return {"onHand": self.on_hand, "reserved": self.reserved}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.on_hand, self.reserved = state["onHand"], state["reserved"]
