"""Temporal and behavioural coupling: a synchronous call chain versus a broker.

Module 10 opens with two kinds of coupling that direct calls create:

* **temporal coupling**: A calls B and waits, so both must be alive at the same
  moment. If B is down, A's request fails too.
* **behavioural coupling**: A must know B's API (``inventory.reserve(sku, qty)``),
  so adding a new reaction means changing A.

This module has just enough machinery to *run* both styles side by side:

* :class:`SyncService` is a service reached by a direct call; calling one that
  is down raises :class:`ServiceUnavailable`, and the caller fails with it.
* :class:`Broker` receives events from producers, stores them durably in order,
  and delivers them to each subscriber at that subscriber's own pace. A
  subscriber that is down simply falls behind (its *lag* grows); when it comes
  back, :meth:`Broker.deliver` catches it up. Adding a subscriber changes
  nothing on the producer's side, and a new subscriber can start from the
  beginning of the log.

Delivery is at-least-once: a subscriber's position moves past an event only
after its handler returned. A handler that raises leaves the position where it
was, so the event is delivered again next time. (Module 10.6 shows why that
makes idempotent consumers necessary.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ServiceUnavailable(RuntimeError):
    """A synchronous call reached a service that is down."""


@dataclass
class SyncService:
    """A service that others call directly and wait for.

    ``handler`` does the work and returns the response. Set ``up = False`` to
    take the service down: every call then fails, and so does every caller that
    waits on it.
    """

    name: str
    handler: Callable[[dict[str, Any]], Any]
    up: bool = True
    calls: int = 0

    def call(self, request: dict[str, Any]) -> Any:
        self.calls += 1
        if not self.up:
            raise ServiceUnavailable(f"{self.name} is down: the call failed and so does the caller")
        return self.handler(request)


@dataclass
class Subscriber:
    """A consumer of one topic and its own place in it: everything before ``position`` was handled.

    The broker keeps one per consumer: its handler, whether it is up, and how far it got.
    """

    name: str
    topic: str
    handler: Callable[[Any], Any]
    up: bool = True
    position: int = 0
    handled: list[Any] = field(default_factory=list)
    failures: int = 0


@dataclass(frozen=True)
class Delivery:
    """One attempt to hand an event to a subscriber, as :meth:`Broker.deliver` records it."""

    subscriber: str
    topic: str
    offset: int
    ok: bool
    error: str | None = None


class Broker:
    """Stores published events in order and delivers them to each subscriber independently.

    Reading does not delete: every subscriber has its own position in the topic,
    which is why one slow or absent consumer never holds back the others, and why
    a consumer added later can read the whole history.
    """

    def __init__(self) -> None:
        self.topics: dict[str, list[Any]] = {}
        self.subscribers: dict[str, Subscriber] = {}

    def publish(self, topic: str, event: Any) -> int:
        """Append ``event`` to ``topic`` and return its offset. Never waits for a consumer."""
        log = self.topics.setdefault(topic, [])
        log.append(event)
        return len(log) - 1

    def subscribe(
        self, name: str, topic: str, handler: Callable[[Any], Any], *, from_beginning: bool = True
    ) -> Subscriber:
        """Register a subscriber. ``from_beginning=False`` starts at the end of the log."""
        if name in self.subscribers:
            raise ValueError(f"a subscriber named {name!r} already exists; pick another name")
        start = 0 if from_beginning else len(self.topics.get(topic, []))
        sub = Subscriber(name=name, topic=topic, handler=handler, position=start)
        self.subscribers[name] = sub
        return sub

    def set_up(self, name: str, up: bool) -> None:
        """Take a subscriber down (``up=False``) or bring it back."""
        self._subscriber(name).up = up

    def lag(self, name: str) -> int:
        """How many stored events the subscriber has not handled yet."""
        sub = self._subscriber(name)
        return len(self.topics.get(sub.topic, [])) - sub.position

    def deliver(self) -> list[Delivery]:
        """Hand every subscriber that is up the events after its position, in order.

        A handler that raises stops that subscriber at that event (it is retried
        on the next call); the other subscribers carry on.
        """
        deliveries = []
        for sub in sorted(self.subscribers.values(), key=lambda s: s.name):
            if not sub.up:
                continue
            log = self.topics.get(sub.topic, [])
            while sub.position < len(log):
                event = log[sub.position]
                try:
                    sub.handler(event)
                except Exception as exc:  # the subscriber's bug must not stop the broker
                    sub.failures += 1
                    deliveries.append(
                        Delivery(sub.name, sub.topic, sub.position, False, f"{type(exc).__name__}: {exc}")
                    )
                    break
                sub.handled.append(event)
                deliveries.append(Delivery(sub.name, sub.topic, sub.position, True))
                sub.position += 1
        return deliveries

    def status(self) -> str:
        """A small table of subscribers, their state, position and lag."""
        lines = [f"{'subscriber':<14}{'topic':<16}{'state':<7}{'position':>9}{'lag':>5}"]
        for sub in sorted(self.subscribers.values(), key=lambda s: s.name):
            state = "up" if sub.up else "DOWN"
            lines.append(f"{sub.name:<14}{sub.topic:<16}{state:<7}{sub.position:>9}{self.lag(sub.name):>5}")
        return "\n".join(lines)

    def _subscriber(self, name: str) -> Subscriber:
        try:
            return self.subscribers[name]
        except KeyError:
            known = ", ".join(sorted(self.subscribers)) or "none yet"
            raise KeyError(f"no subscriber named {name!r}; subscribers: {known}") from None


class CouplingDemo:
    """The module's opening story, both ways at once: an order service and an inventory service.

    * synchronously, the order service calls ``inventory.reserve`` and waits;
    * with events, it publishes ``OrderPlaced`` and the inventory service reacts.

    Take inventory down with :meth:`set_inventory` and place orders: the direct
    calls fail, the published events wait in the broker until :meth:`deliver`
    runs with inventory back up. Plain strings come back so a notebook or an
    explorer can show them as they are.
    """

    def __init__(self) -> None:
        self.orders = 0
        self.reserved_sync: list[str] = []
        self.reserved_async: list[str] = []
        self.inventory = SyncService("inventory", self._reserve_sync)
        self.broker = Broker()
        self.broker.subscribe("inventory", "orders", self._reserve_async)

    def _reserve_sync(self, request: dict[str, Any]) -> dict[str, str]:
        self.reserved_sync.append(request["orderId"])
        return {"reserved": request["orderId"]}

    def _reserve_async(self, event: dict[str, Any]) -> None:
        self.reserved_async.append(event["orderId"])

    def set_inventory(self, up: bool) -> None:
        """Bring the inventory service up or down, for both styles at once."""
        self.inventory.up = up
        self.broker.set_up("inventory", up)

    def place_order(self) -> tuple[str, str]:
        """Place one order each way; return what the customer sees in each style."""
        self.orders += 1
        order_id = f"order_{self.orders:03d}"
        try:
            self.inventory.call({"orderId": order_id})
            sync = f"{order_id}: placed (inventory reserved it during the call)"
        except ServiceUnavailable as exc:
            sync = f"{order_id}: FAILED - {exc}"
        offset = self.broker.publish("orders", {"eventType": "OrderPlaced", "orderId": order_id})
        self.broker.deliver()  # a live subscriber reacts straight away; a down one falls behind
        lag = self.broker.lag("inventory")
        event = f"{order_id}: placed (OrderPlaced stored at offset {offset}; inventory lag {lag})"
        return sync, event

    def deliver(self) -> str:
        """Let the broker deliver; say what the inventory service caught up on."""
        handled = [d.offset for d in self.broker.deliver() if d.ok]
        if not handled:
            state = "up" if self.inventory.up else "down"
            return f"nothing delivered (inventory is {state}, lag {self.broker.lag('inventory')})"
        return f"inventory caught up on offsets {handled}; lag {self.broker.lag('inventory')}"

    def summary(self) -> str:
        return (
            f"orders placed: {self.orders}\n"
            f"synchronous: {len(self.reserved_sync)} reserved, "
            f"{self.orders - len(self.reserved_sync)} lost to failed calls\n"
            f"event-driven: {len(self.reserved_async)} reserved, "
            f"{self.broker.lag('inventory')} waiting in the broker"
        )
