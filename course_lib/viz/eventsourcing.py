"""Explorers for event sourcing and CQRS.

* :class:`HistoryExplorer` -- scrub an aggregate's history: a slider over its
  versions shows the events applied so far and the state they add up to.
* :class:`CqrsExplorer` -- send commands and run the projection engine one batch
  at a time, watching the write side and a read model drift apart and meet again.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from course_lib.aggregate import Repository
from course_lib.cqrs import Command, CommandBus, ProjectionEngine, SqlListView
from course_lib.events import format_timestamp
from course_lib.viz.explorer import Explorer


def summarise(aggregate: object) -> str:
    """An aggregate's one-line ``summary()`` when its class has one (Order does), else its repr."""
    summary = getattr(aggregate, "summary", None)
    return str(summary()) if callable(summary) else repr(aggregate)


class HistoryExplorer(Explorer):
    """A time slider over one aggregate: the state as of each version of its stream."""

    title = "Scrub an aggregate's history"

    def __init__(
        self,
        repository: Repository,
        aggregate_id: str,
        describe: Callable[[object], str] | None = None,
        version: int | None = None,
    ) -> None:
        self.repository = repository
        self.aggregate_id = aggregate_id
        self.events = repository.store.read(aggregate_id)
        if not self.events:
            raise ValueError(f"no events stored for {aggregate_id!r}")
        self.describe = describe or summarise
        last = len(self.events)
        self.slider = widgets.IntSlider(
            value=last if version is None else version,
            min=1,
            max=last,
            description="version",
            continuous_update=True,
        )
        self.slider.observe(lambda change: self.refresh(), names="value")
        super().__init__([self.slider])

    @property
    def version(self) -> int:
        return self.slider.value

    def static_text(self) -> str:
        lines = []
        for stored in self.events:
            event = stored.event
            marker = "▶" if stored.version == self.version else " "
            faded = "" if stored.version <= self.version else "   (not yet)"
            lines.append(
                f"{marker} v{stored.version}  {format_timestamp(event.timestamp)}  "
                f"{event.event_type:<16} {_short_payload(event.payload)}{faded}"
            )
        state = self.repository.load(self.aggregate_id, at_version=self.version)
        at = format_timestamp(self.events[self.version - 1].event.timestamp)
        return "\n".join(lines) + f"\n\nstate as of v{self.version} ({at}):\n  {self.describe(state)}"


def _short_payload(payload: dict) -> str:
    text = ", ".join(f"{key}={value}" for key, value in payload.items())
    return text if len(text) <= 60 else text[:57] + "..."


class CqrsExplorer(Explorer):
    """Commands on the left, a read model on the right, and the lag between them."""

    title = "CQRS: the write side, a read model, and the lag between them"

    def __init__(
        self,
        bus: CommandBus,
        engine: ProjectionEngine,
        view: SqlListView,
        commands: list[tuple[str, Command]],
    ) -> None:
        self.bus, self.engine, self.view = bus, engine, view
        self.commands = list(commands)  # (label, command), sent in order
        self.sent = 0
        self.history: list[str] = []
        self.send = widgets.Button(description="send next command", tooltip="the write side handles it now")
        self.project = widgets.Button(description="run projections", tooltip="one batch per projection")
        self.send.on_click(lambda _button: self.send_next())
        self.project.on_click(lambda _button: self.run_projections())
        super().__init__([self.send, self.project])

    def send_next(self) -> None:
        if self.sent == len(self.commands):
            self.history.append("(no more commands)")
        else:
            label, command = self.commands[self.sent]
            self.sent += 1
            result = self.bus.dispatch(command)
            self.history.append(f"command  {label}: stored as position {result.positions[-1]}")
        self.refresh()

    def run_projections(self) -> None:
        applied = self.engine.run_once()
        self.history.append(f"engine   applied {applied} event(s)")
        self.refresh()

    def static_text(self) -> str:
        store = self.bus.repository.store
        write = [f"  {stream}: {summarise(self.bus.repository.load(stream))}" for stream in store.streams()]
        read = [
            f"  {row['order_id']}: {row['status']}, {row['item_count']} items, {row['total_cents']} cents"
            for row in self.view.orders()
        ]
        lag = ", ".join(f"{name} {behind} event(s) behind" for name, behind in self.engine.lag().items())
        return "\n".join(
            [
                "write side (the event store, replayed):",
                *(write or ["  (empty)"]),
                "read side (the list view):",
                *(read or ["  (empty)"]),
                f"lag: {lag}",
                "",
                *self.history[-6:],
            ]
        )
