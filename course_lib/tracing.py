"""Causal tracing: rebuild "what caused what" from the events' causationIds.

Every event made with :func:`course_lib.events.caused_by` names its direct cause
(``metadata.causationId``) and shares its conversation's ``correlationId``.
:func:`trace` turns a pile of such events, in any order and with redeliveries,
back into the tree they grew as, and draws it as indented text or as a Mermaid
flowchart::

    tree = trace(events)
    print(tree.text())          # one block per correlationId
    tree.path("evt_0004")       # the chain of causes: "why did this happen?"

The envelope itself (and how causation ids are set) lives in :mod:`course_lib.events`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from course_lib.events import Event

__all__ = ["trace", "CausalTree"]


def _order(event: Event) -> tuple[datetime, str]:
    return (event.timestamp, event.event_id)


@dataclass
class _Node:
    """One line of a drawn tree: an event, or (event None) a cause that is not in the list."""

    key: str
    event: Event | None
    children: list[_Node]


class CausalTree:
    """The causal forest of a set of events, grouped by correlationId. Build it with trace().

    Roots are events with no causationId or with one that names an event not in
    the list; such an unknown cause is drawn as a node of its own. Siblings are
    ordered by (timestamp, eventId), so the drawing never depends on arrival order.
    """

    def __init__(self, events: dict[str, Event], duplicates: int = 0) -> None:
        self.events = dict(events)
        self.duplicates = duplicates  # identical redeliveries that trace() dropped
        cycle = _find_cycle(self.events)
        if cycle:
            raise ValueError(
                f"causation cycle: {' -> '.join(cycle)} (each arrow points from an event "
                "to its cause); an event cannot cause itself, even indirectly"
            )
        ordered = sorted(self.events.values(), key=_order)
        self._children: dict[str, list[Event]] = {}
        for event in ordered:
            if event.metadata.causation_id is not None:
                self._children.setdefault(event.metadata.causation_id, []).append(event)
        # causation_id None, or naming an event that is not in the list
        self.roots = [event for event in ordered if event.metadata.causation_id not in self.events]

    def children(self, event_id: str) -> list[Event]:
        """The events directly caused by ``event_id`` (an event, or an unknown cause)."""
        if event_id not in self.events and event_id not in self._children:
            raise KeyError(f"{event_id!r} is neither an event nor a cause in this tree")
        return list(self._children.get(event_id, []))

    def path(self, event_id: str) -> list[Event]:
        """The chain from the root down to ``event_id``: the answer to 'why did this happen?'."""
        chain = [self.events[event_id]]
        while chain[-1].metadata.causation_id in self.events:
            chain.append(self.events[chain[-1].metadata.causation_id])
        return chain[::-1]

    def depth(self, event_id: str) -> int:
        """Hops from this event's root event (roots have depth 0)."""
        return len(self.path(event_id)) - 1

    def _subtree(self, event: Event) -> _Node:
        children = [self._subtree(child) for child in self.children(event.event_id)]
        return _Node(event.event_id, event, children)

    def _forest(self) -> list[tuple[str, list[_Node]]]:
        """Top-level nodes per correlationId, conversations in the order they started."""
        groups: dict[str, list[_Node]] = {}
        unknown: dict[tuple[str, str], _Node] = {}
        for root in self.roots:
            correlation, cause = root.metadata.correlation_id, root.metadata.causation_id
            tops = groups.setdefault(correlation, [])
            if cause is None:
                tops.append(self._subtree(root))
                continue
            if (correlation, cause) not in unknown:
                unknown[correlation, cause] = _Node(cause, None, [])
                tops.append(unknown[correlation, cause])
            unknown[correlation, cause].children.append(self._subtree(root))
        return list(groups.items())

    def text(self) -> str:
        """An indented drawing, one block per correlationId."""
        blocks = []
        for correlation, tops in self._forest():
            lines = [f"correlation {correlation}"]
            for top in tops:
                lines.append(_text_label(top))
                _draw_text(top.children, "", lines)
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) or "(no events)"

    def mermaid(self) -> str:
        """Mermaid flowchart source: one subgraph per correlationId, edges from cause to effect."""
        lines = ["flowchart TD"]
        numbers = itertools.count(1)
        for group, (correlation, tops) in enumerate(self._forest(), start=1):
            lines.append(f'    subgraph g{group}["correlation {_mermaid_text(correlation)}"]')
            for top in tops:
                _draw_mermaid(top, "", numbers, lines)
            lines.append("    end")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """JupyterLab draws the Mermaid diagram; plain-text front ends get the text tree."""
        return {"text/plain": self.text(), "text/vnd.mermaid": self.mermaid()}

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return (
            f"<CausalTree: {len(self.events)} events, {len(self.roots)} roots, {self.duplicates} duplicates>"
        )


def _find_cycle(events: dict[str, Event]) -> list[str] | None:
    """Follow causes upward from every event; coming back to one on the same walk is a cycle."""
    safe: set[str] = set()  # events whose chain of causes is known to end
    for start in sorted(events):
        chain: list[str] = []
        current: str | None = start
        while current in events and current not in safe:
            if current in chain:
                return chain[chain.index(current) :] + [current]
            chain.append(current)
            current = events[current].metadata.causation_id
        safe.update(chain)
    return None


def _text_label(node: _Node) -> str:
    if node.event is None:
        return f"{node.key} (not an event in this list)"
    return f"{node.event.event_type} {node.key} [{node.event.metadata.source}]"


def _draw_text(nodes: list[_Node], indent: str, lines: list[str]) -> None:
    for i, node in enumerate(nodes):
        last = i == len(nodes) - 1
        lines.append(indent + ("└─ " if last else "├─ ") + _text_label(node))
        _draw_text(node.children, indent + ("   " if last else "│  "), lines)


def _mermaid_text(text: str) -> str:
    """Escape what would end a quoted Mermaid label or be read as HTML."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text


def _draw_mermaid(node: _Node, edge_from: str, numbers: Iterator[int], lines: list[str]) -> None:
    """Declare the node as n1, n2, ... (event ids may hold characters Mermaid ids may not).

    Labels break lines with <br/>, the form Mermaid documents; Mermaid 11 shows "\\n" literally.
    """
    name = f"n{next(numbers)}"
    if node.event is None:  # an unknown cause: rounded, with dotted arrows to what it caused
        lines.append(f'        {name}(["{_mermaid_text(node.key)}<br/>not an event in this list"])')
    else:
        lines.append(f'        {name}["{node.event.event_type}<br/>{_mermaid_text(node.key)}"]')
    if edge_from:
        lines.append(f"        {edge_from} {name}")
    arrow = "-.->" if node.event is None else "-->"
    for child in node.children:
        _draw_mermaid(child, f"{name} {arrow}", numbers, lines)


def trace(events: Iterable[Event]) -> CausalTree:
    """Rebuild the causal tree(s) from events in any order.

    An exact duplicate (a redelivery) is kept once and counted in
    ``tree.duplicates``; two *different* events with one eventId raise ValueError.
    """
    by_id: dict[str, Event] = {}
    duplicates = 0
    for event in events:
        seen = by_id.get(event.event_id)
        if seen is None:
            by_id[event.event_id] = event
            continue
        if seen != event:
            old, new = seen.to_dict(), event.to_dict()
            differ = ", ".join(key for key in old if old[key] != new[key])
            raise ValueError(
                f"two different events share eventId {event.event_id!r} (they differ "
                f"in {differ}); eventIds must be unique, only a redelivery may repeat one"
            )
        duplicates += 1
    return CausalTree(by_id, duplicates)
