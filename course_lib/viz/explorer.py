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
