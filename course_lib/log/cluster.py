"""The embedded cluster: the brokers' state, and the clients that talk to it.

``Cluster`` is what a notebook creates: :class:`~course_lib.log.state.ClusterState`
(topics, replicas, groups, the simulated clock, admin commands) plus two
factories, :meth:`Cluster.producer` and :meth:`Cluster.consumer`, the same two a
broker connection offers (:mod:`course_lib.kafka_backend`). Producer and consumer
know only the state, never this class, so the imports form a line::

    topic, group, ... <- state <- producer, consumer <- cluster
"""

from __future__ import annotations

from typing import Any

from course_lib.log.consumer import Consumer
from course_lib.log.producer import Producer
from course_lib.log.state import ClusterState


class Cluster(ClusterState):
    """An in-process Kafka cluster: topics, producers, consumer groups, admin commands."""

    def producer(self, **settings: Any) -> Producer:
        """A :class:`~course_lib.log.producer.Producer` on this cluster (settings as its keywords)."""
        return Producer(self, **settings)

    def consumer(self, group_id: str | None = None, **settings: Any) -> Consumer:
        """A :class:`~course_lib.log.consumer.Consumer` on this cluster (settings as its keywords)."""
        return Consumer(self, group_id, **settings)
