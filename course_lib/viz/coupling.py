"""CouplingExplorer: take the inventory service down and place orders both ways."""

from __future__ import annotations

import ipywidgets as widgets

from course_lib.coupling import CouplingDemo
from course_lib.viz.explorer import Explorer


class CouplingExplorer(Explorer):
    """Buttons drive a :class:`~course_lib.coupling.CouplingDemo`; the screen shows the log."""

    title = "Temporal coupling: a direct call vs. an event"

    def __init__(self, history_lines: int = 8) -> None:
        self.demo = CouplingDemo()
        self.history: list[str] = []
        self.history_lines = history_lines
        self.inventory = widgets.ToggleButtons(
            options=[("inventory up", True), ("inventory down", False)],
            description="service B:",
            tooltips=["the inventory service answers", "the inventory service is down"],
        )
        self.place = widgets.Button(description="place an order", tooltip="place one order both ways")
        self.deliver = widgets.Button(description="deliver pending events", tooltip="let the broker deliver")
        self.inventory.observe(self._on_inventory, names="value")
        self.place.on_click(lambda _button: self.place_order())
        self.deliver.on_click(lambda _button: self.deliver_events())
        super().__init__([self.inventory, self.place, self.deliver])

    def _on_inventory(self, change) -> None:
        self.demo.set_inventory(change["new"])
        self.history.append(f"inventory is now {'up' if change['new'] else 'DOWN'}")
        self.refresh()

    def place_order(self) -> None:
        sync, event = self.demo.place_order()
        self.history += [f"direct call : {sync}", f"event       : {event}"]
        self.refresh()

    def deliver_events(self) -> None:
        self.history.append(f"broker      : {self.demo.deliver()}")
        self.refresh()

    def static_text(self) -> str:
        recent = self.history[-self.history_lines :] or ["(no orders yet: press 'place an order')"]
        return "\n".join(recent) + "\n\n" + self.demo.summary()
