"""PartitionExplorer: keys -> partitions -> consumers; add and remove consumers, watch the rebalance."""

from __future__ import annotations

import ipywidgets as widgets

from course_lib.log import Cluster, Consumer, partition_for
from course_lib.viz.explorer import Explorer


class PartitionExplorer(Explorer):
    """A topic, some order keys, and a consumer group you can grow and shrink.

    The screen shows which partition each key hashes to (Kafka's murmur2
    partitioner), which consumer owns each partition, and who sits idle. Every
    button press is a real join or leave on an embedded :class:`Cluster`, so the
    assignment shown is what the group coordinator computed.
    """

    title = "Keys -> partitions -> consumers"

    def __init__(
        self, partitions: int = 3, consumers: int = 3, keys: list[str] | None = None, assignor: str = "range"
    ) -> None:
        self.order_keys = keys or [f"order_{n}" for n in (12345, 12346, 12347, 20001, 20002, 31337)]
        self.cluster = Cluster()
        self.topic_name = "order-events"
        self.cluster.create_topic(self.topic_name, partitions)
        self.assignor = assignor
        self.members: list[Consumer] = []
        self._names = 0
        for _ in range(consumers):
            self.add_consumer(refresh=False)
        self.add = widgets.Button(description="add a consumer", tooltip="a new member joins the group")
        self.remove = widgets.Button(description="remove a consumer", tooltip="the newest member leaves")
        self.add.on_click(lambda _b: self.add_consumer())
        self.remove.on_click(lambda _b: self.remove_consumer())
        super().__init__([self.add, self.remove])

    def add_consumer(self, refresh: bool = True) -> None:
        self._names += 1
        consumer = self.cluster.consumer(
            "fulfillment", assignor=self.assignor, client_id=f"consumer-{self._names}"
        )
        consumer.subscribe(self.topic_name)
        self.members.append(consumer)
        if refresh:
            self.refresh()

    def remove_consumer(self) -> None:
        if self.members:
            self.members.pop().close()
        self.refresh()

    def owner_of(self) -> dict[int, str]:
        return {tp.partition: c.client_id for c in self.members for tp in c.assignment()}

    def static_text(self) -> str:
        partitions = self.cluster.partitions_for(self.topic_name)
        owners = self.owner_of()
        lines = [
            f"topic '{self.topic_name}', {partitions} partitions; group 'fulfillment' ({self.assignor}), "
            f"{len(self.members)} consumer(s), generation {self.cluster.group('fulfillment').generation}",
            "",
        ]
        for p in range(partitions):
            keys = [k for k in self.order_keys if partition_for(k, partitions) == p]
            lines.append(f"partition {p}: keys {', '.join(keys) or '-':<40} -> {owners.get(p, 'nobody')}")
        idle = [c.client_id for c in self.members if not c.assignment()]
        lines.append("")
        lines.append(f"idle: {', '.join(idle)} (more consumers than partitions)" if idle else "idle: none")
        return "\n".join(lines)
