"""Explorers: small ipywidgets apps on top of the core modules, one per concept.

Every explorer is also readable without a widget frontend (a headless run, a
static renderer, nbval): its display carries a ``text/plain`` picture of its
current state next to the live widget. Explorers write into HTML widgets, never
into ``Output`` widgets, so their committed outputs stay deterministic.
"""

from course_lib.viz.brokers import CrashExplorer, RoutingExplorer
from course_lib.viz.cap import CAPExplorer
from course_lib.viz.coupling import CouplingExplorer
from course_lib.viz.dynamo import CartExplorer
from course_lib.viz.eventsourcing import CqrsExplorer, HistoryExplorer
from course_lib.viz.explorer import Explorer
from course_lib.viz.kafka import PartitionExplorer
from course_lib.viz.replication import QuorumExplorer, ReplicationExplorer
from course_lib.viz.sharding import RingExplorer

__all__ = [
    "Explorer",
    "CouplingExplorer",
    "HistoryExplorer",
    "CqrsExplorer",
    "RoutingExplorer",
    "CrashExplorer",
    "PartitionExplorer",
    "ReplicationExplorer",
    "QuorumExplorer",
    "RingExplorer",
    "CAPExplorer",
    "CartExplorer",
]
