"""Explorers for module 10.5 and 10.6: route a message yourself, crash a consumer yourself."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import redis

from course_lib.delivery import (
    AtomicIdempotentConsumer,
    Crash,
    CrashPlan,
    ExactlyOnceChecker,
    IdempotentConsumer,
)
from course_lib.exchanges import HeadersExchange, Queue, TopicExchange
from course_lib.viz.explorer import Explorer

DEFAULT_TOPIC_BINDINGS: list[tuple[str, str]] = [
    ("all-orders", "order.#"),
    ("failures", "order.*.failed"),
    ("payments", "order.payment.*"),
    ("everything", "#"),
    ("one-word", "*"),
]

DEFAULT_HEADER_BINDINGS: list[tuple[str, dict[str, Any]]] = [
    ("pdf-reports", {"format": "pdf", "type": "report"}),
    ("any-eu", {"x-match": "any", "region": "eu", "country": "de"}),
    ("has-priority", {"priority": None}),
]


def parse_headers(text: str) -> dict[str, object]:
    """``"format=pdf, priority=1"`` -> ``{"format": "pdf", "priority": 1}`` (digits become ints)."""
    headers: dict[str, object] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"write headers as name=value, separated by commas; got {part.strip()!r}")
        value = value.strip()
        headers[name.strip()] = int(value) if value.lstrip("-").isdigit() else value
    return headers


class RoutingExplorer(Explorer):
    """Type a routing key and headers; see which queues each exchange type delivers to."""

    title = "Routing explorer: which queues get this message?"

    def __init__(
        self,
        routing_key: str = "order.payment.failed",
        headers: str = "format=pdf, region=eu",
        topic_bindings: list[tuple[str, str]] = DEFAULT_TOPIC_BINDINGS,
        header_bindings: list[tuple[str, dict[str, Any]]] = DEFAULT_HEADER_BINDINGS,
    ) -> None:
        self.topic = TopicExchange("events")
        for name, key in topic_bindings:
            self.topic.bind(Queue(name), key)
        self.headers = HeadersExchange("documents")
        for name, arguments in header_bindings:
            self.headers.bind(Queue(name), arguments)
        self.key_box = widgets.Text(value=routing_key, description="routing key:")
        self.headers_box = widgets.Text(value=headers, description="headers:")
        self.key_box.observe(lambda _change: self.refresh(), names="value")
        self.headers_box.observe(lambda _change: self.refresh(), names="value")
        super().__init__([self.key_box, self.headers_box])

    def static_text(self) -> str:
        key = self.key_box.value
        lines = [f"topic exchange, routing key {key!r}:"]
        reached = set(self.topic.route(key))
        for binding, queue in sorted(self.topic.bindings, key=lambda b: (b[1], b[0])):
            mark = "->" if queue in reached else "  "
            lines.append(f"  {mark} {queue:<12} bound with {binding!r}")
        if not reached:
            lines.append("  (no queue matched: RabbitMQ would return it to the publisher)")
        try:
            headers = parse_headers(self.headers_box.value)
        except ValueError as error:
            return "\n".join(lines + ["", f"headers: {error}"])
        lines += ["", f"headers exchange, headers {headers}:"]
        reached = set(self.headers.route(headers=headers))
        for arguments, queue in self.headers.bindings:
            mark = "->" if queue in reached else "  "
            lines.append(f"  {mark} {queue:<12} bound with {arguments}")
        if not reached:
            lines.append("  (no queue matched: returned)")
        return "\n".join(lines)


CONSUMERS = {
    "mark, then effect (source text)": "mark-first",
    "effect, then mark": "effect-first",
    "mark + effect in one transaction": "atomic",
}
CRASH_POINTS = {"mark-first": "after-mark", "effect-first": "after-effect", "atomic": "before-exec"}


class CrashExplorer(Explorer):
    """Deliver events to a consumer, crash it between its two steps, and count the effects."""

    title = "Crash explorer: does the effect happen exactly once?"

    def __init__(self, consumer: str = "mark-first") -> None:
        self.choice = widgets.Dropdown(
            options=list(CONSUMERS.items()), value=consumer, description="consumer:"
        )
        self.crash_next = widgets.Checkbox(
            value=False, description="crash in the window on the next delivery"
        )
        self.deliver = widgets.Button(description="deliver evt_1")
        self.choice.observe(lambda _change: self.reset(), names="value")
        self.deliver.on_click(lambda _button: self.deliver_once())
        self.reset(refresh=False)
        super().__init__([self.choice, self.crash_next, self.deliver])

    def reset(self, refresh: bool = True) -> None:
        self.redis = _fresh_fakeredis()  # its own Redis: every reset starts from nothing
        self.checker = ExactlyOnceChecker(self.redis)
        self.history: list[str] = []
        if refresh:
            self.refresh()

    def deliver_once(self, crash: bool | None = None) -> str:
        kind = self.choice.value
        crash = self.crash_next.value if crash is None else crash
        plan = CrashPlan(at=[("evt_1", CRASH_POINTS[kind])] if crash else [])
        consumer: AtomicIdempotentConsumer | IdempotentConsumer
        if kind == "atomic":
            consumer = AtomicIdempotentConsumer(self.redis, effect=self.checker.record_in, crashes=plan)
        else:
            consumer = IdempotentConsumer(
                self.redis, effect=self.checker.record, crashes=plan, mark_first=kind == "mark-first"
            )
        try:
            outcome = "processed" if consumer.handle({"eventId": "evt_1"}) else "skipped (already marked)"
        except Crash as error:
            outcome = f"CRASHED at {error.point}: no ack, the broker will redeliver"
        self.history.append(outcome)
        self.crash_next.value = False
        self.refresh()
        return outcome

    def static_text(self) -> str:
        effects = self.checker.counts().get("evt_1", 0)
        marked = bool(self.redis.exists("processed:evt_1"))
        lines = [f"delivery {i + 1}: {h}" for i, h in enumerate(self.history)] or ["(no deliveries yet)"]
        verdict = {0: "effect LOST so far", 1: "effect done exactly once"}.get(effects, "effect DUPLICATED")
        return "\n".join(lines + ["", f"mark processed:evt_1 set: {marked}; effects: {effects} -> {verdict}"])


def _fresh_fakeredis() -> redis.Redis:
    import fakeredis

    return fakeredis.FakeRedis(decode_responses=True)
