"""The base every explorer shares: a widget that can also show itself as text."""

from __future__ import annotations

import html

import ipywidgets as widgets


class Explorer(widgets.VBox):
    """A VBox whose display also carries a static text picture of its state.

    Subclasses implement :meth:`static_text`; :meth:`refresh` re-renders the
    ``screen`` HTML widget from it, so the live view and the static fallback
    always say the same thing.
    """

    title = "Explorer"

    def __init__(self, controls: list[widgets.Widget]) -> None:
        self.screen = widgets.HTML()
        header = widgets.HTML(f"<b>{html.escape(self.title)}</b>")
        super().__init__([header, widgets.HBox(controls), self.screen])
        # Stable hooks for the browser tests (tests/browser) and for styling;
        # every control stays a native, focusable element (a button, a slider
        # handle with role="slider"), so Tab, Enter/Space and arrows work.
        self.add_class("course-explorer")
        self.screen.add_class("course-explorer-screen")
        self.refresh()

    def static_text(self) -> str:
        raise NotImplementedError

    def refresh(self) -> None:
        self.screen.value = f"<pre>{html.escape(self.static_text())}</pre>"

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"{self.title}\n{self.static_text()}"
        return bundle


class ActionExplorer(Explorer):
    """An explorer driven by named actions, one button each, plus a reset.

    It keeps the list of actions, not the state they produced: :meth:`static_text`
    replays them from the start. So every screen is reproducible from its actions
    (a notebook can pass them in to show a given moment), and reset is an empty list.
    Subclasses set ``ACTIONS`` (action -> tooltip) and implement ``static_text``.
    """

    ACTIONS: dict[str, str] = {}

    def __init__(self, actions: list[str] | None = None) -> None:
        self.actions: list[str] = list(actions or [])
        buttons = []
        for action, tip in self.ACTIONS.items():
            button = widgets.Button(description=action, tooltip=tip)
            button.on_click(lambda _button, a=action: self.act(a))
            buttons.append(button)
        reset = widgets.Button(description="reset", tooltip="forget every action")
        reset.on_click(lambda _button: self.reset())
        super().__init__(buttons + [reset])

    def act(self, action: str) -> None:
        if action not in self.ACTIONS:
            raise ValueError(f"unknown action {action!r}; choose from {sorted(self.ACTIONS)}")
        self.actions.append(action)
        self.refresh()

    def reset(self) -> None:
        self.actions = []
        self.refresh()
