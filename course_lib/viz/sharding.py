"""RingExplorer: add or remove a node, change the virtual nodes, and watch keys move and load spread."""

from __future__ import annotations

import ipywidgets as widgets

from course_lib.sharding import ConsistentHashRing, stable_hash
from course_lib.viz.explorer import Explorer


class RingExplorer(Explorer):
    """A consistent-hash ring over ``keys`` synthetic keys (hashed once, looked up with bisect)."""

    title = "Consistent hashing: what moves when the ring changes?"

    def __init__(self, nodes: int = 4, vnodes: int = 100, keys: int = 5_000, bar_width: int = 30) -> None:
        self.hashes = [stable_hash(f"user:{i}") for i in range(keys)]
        self.bar_width = bar_width
        self.vnodes = widgets.IntSlider(value=vnodes, min=1, max=500, description="vnodes:")
        self.add = widgets.Button(description="add a node", tooltip="add node-N to the ring")
        self.remove = widgets.Button(description="remove a node", tooltip="remove the newest node")
        self.ring = ConsistentHashRing([f"node-{i}" for i in range(nodes)], vnodes)
        self.previous: ConsistentHashRing | None = None
        self.last_change = "(start: press 'add a node' or move the slider)"
        self.vnodes.observe(self._on_vnodes, names="value")
        self.add.on_click(lambda _button: self.add_node())
        self.remove.on_click(lambda _button: self.remove_node())
        super().__init__([self.vnodes, self.add, self.remove])

    def _change(self, ring: ConsistentHashRing, what: str) -> None:
        self.previous, self.ring, self.last_change = self.ring, ring, what
        self.refresh()

    def add_node(self) -> None:
        name = f"node-{max(int(n.split('-')[1]) for n in self.ring.nodes) + 1}"
        self._change(self.ring.with_node(name), f"added {name}")

    def remove_node(self) -> None:
        if len(self.ring.nodes) == 1:
            self.last_change = "cannot remove the last node"
            self.refresh()
            return
        name = max(self.ring.nodes, key=lambda n: int(n.split("-")[1]))
        self._change(self.ring.without_node(name), f"removed {name}")

    def _on_vnodes(self, change) -> None:
        self._change(
            ConsistentHashRing(self.ring.nodes, change["new"]), f"vnodes {change['old']} -> {change['new']}"
        )

    def static_text(self) -> str:
        owners = [self.ring.owner_of_hash(h) for h in self.hashes]
        counts = {n: 0 for n in self.ring.nodes}
        for owner in owners:
            counts[owner] += 1
        mean = len(self.hashes) / len(counts)
        lines = [f"{len(self.ring.nodes)} nodes x {self.ring.vnodes} vnodes, {len(self.hashes)} keys"]
        if self.previous is not None:
            before = [self.previous.owner_of_hash(h) for h in self.hashes]
            moved = sum(1 for a, b in zip(before, owners, strict=False) if a != b)
            n_before, n_after = len(self.previous.nodes), len(self.ring.nodes)
            line = f"last change: {self.last_change}: {moved} keys moved ({moved / len(self.hashes):.1%})"
            if n_before != n_after:  # adding or removing one node must move at least that node's share
                line += f"; ideal: 1/{max(n_before, n_after)} = {1 / max(n_before, n_after):.1%}"
            lines.append(line)
        else:
            lines.append(f"last change: {self.last_change}")
        lines.append(f"busiest node holds {max(counts.values()) / mean:.2f}x the mean")
        for node in self.ring.nodes:
            bar = "#" * round(self.bar_width * counts[node] / max(counts.values()))
            lines.append(f"{node:<8} {counts[node]:>5}  {bar}")
        return "\n".join(lines)
