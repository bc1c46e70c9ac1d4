"""A deterministic, seeded discrete-event network: the lab bench for module 11.

Distributed systems misbehave only when messages are slow, lost, duplicated or
cut off by a partition, and a node crashes at just the wrong moment. To study
that, you need to *replay* a surprising run. So this simulator has:

* **simulated time** only (never the wall clock): an event queue ordered by
  ``(time, sequence number)``, so ties always break the same way. Time has one
  unit everywhere, milliseconds: ``Network.now``, latencies, timeouts, every
  ``at=`` argument. It is a float, rounded to the microsecond, because real
  latencies are fractions of a millisecond and whole milliseconds would make
  ties (and so the tie-breaking order) the rule instead of the exception;
* **one seed**: every random draw (latency, loss, duplication, reordering)
  comes from one ``random.Random(seed)``, never the global RNG;
* a **history** of client operations in the shape a linearizability checker
  consumes (the Jepsen shape: invoke, then ok / fail / info), and
  **message statistics** (messages per operation, latency percentiles).

Same seed, same schedule => the same history and statistics, byte for byte
(:meth:`Network.report` serialises both).

A tiny example::

    net = Network(seed=7)
    class Echo(Node):
        def on_message(self, msg):
            self.send(msg.src, ("echo", msg.payload))
    net.add(Echo("a")); net.add(Echo("b"))
    net.send("a", "b", "hi")
    net.run(until=100)
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

OUTCOMES = ("ok", "fail", "info")  # info = unknown: the client never heard back


# -- latency distributions ---------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """One-way message latency in milliseconds: ``base`` plus a random part.

    ``jitter="exponential"`` draws the random part from an exponential
    distribution with mean ``spread`` (a long tail, like real networks);
    ``"uniform"`` draws it from ``[0, spread)``; ``"none"`` gives exactly ``base``.
    """

    base: float = 1.0
    spread: float = 2.0
    jitter: str = "exponential"

    def __post_init__(self) -> None:
        if self.jitter not in ("exponential", "uniform", "none"):
            raise ValueError(
                f"Latency.jitter must be 'exponential', 'uniform' or 'none', got {self.jitter!r}"
            )
        if self.base < 0 or self.spread < 0:
            raise ValueError(
                f"Latency.base and Latency.spread must be >= 0, got {self.base} and {self.spread}"
            )

    def draw(self, rng: random.Random) -> float:
        if self.jitter == "none" or self.spread == 0:
            extra = 0.0
        elif self.jitter == "uniform":
            extra = rng.uniform(0, self.spread)
        else:
            extra = rng.expovariate(1 / self.spread)
        return round(self.base + extra, 3)  # microsecond resolution keeps histories readable


# -- the history of client operations ----------------------------------------------------


@dataclass
class Operation:
    """One client operation: invoked at one simulated time, completed at another.

    ``kind`` is ``read``, ``write`` or ``cas``. ``value`` is what was written
    (``write``), what was read (``read``, filled in at completion) or the pair
    ``[expected, new]`` (``cas``). ``outcome`` is ``ok``, ``fail`` (it certainly
    did not happen) or ``info`` (unknown: it may or may not have happened, e.g.
    a timeout) — the distinction a linearizability checker needs. ``None``
    while still pending.
    """

    index: int
    process: str
    kind: str
    key: str
    value: Any
    invoke_time: float
    complete_time: float | None = None
    outcome: str | None = None
    node: str | None = None  # the node that served it, when one did
    note: str = ""

    @property
    def latency(self) -> float | None:
        if self.complete_time is None:
            return None
        return round(self.complete_time - self.invoke_time, 3)


@dataclass(frozen=True)
class Fault:
    """A fault the nemesis injected (recorded next to the operations)."""

    time: float
    action: str
    detail: str


class History:
    """Every client operation of a run, plus the faults injected during it."""

    KINDS = ("read", "write", "cas")

    def __init__(self) -> None:
        self.operations: list[Operation] = []
        self.faults: list[Fault] = []

    def invoke(self, process: str, kind: str, key: str, value: Any, time: float) -> Operation:
        if kind not in self.KINDS:
            raise ValueError(f"operation kind must be one of {self.KINDS}, got {kind!r}")
        op = Operation(len(self.operations), process, kind, key, value, time)
        self.operations.append(op)
        return op

    def complete(
        self,
        op: Operation,
        outcome: str,
        time: float,
        value: Any = None,
        node: str | None = None,
        note: str = "",
    ) -> None:
        """Finish ``op``; a read's ``value`` is what it returned. Completing twice is an error."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        if op.outcome is not None:
            raise RuntimeError(f"operation {op.index} already completed with {op.outcome!r}")
        op.outcome, op.complete_time = outcome, time
        if op.kind == "read" and outcome == "ok":
            op.value = value
        op.node = node if node is not None else op.node
        op.note = note

    def close(self, time: float) -> None:
        """Mark every still-pending operation ``info``: we never learned its fate."""
        for op in self.operations:
            if op.outcome is None:
                self.complete(op, "info", time, note="no reply before the run ended")

    def ok(self, kind: str | None = None) -> list[Operation]:
        return [op for op in self.operations if op.outcome == "ok" and (kind is None or op.kind == kind)]

    def events(self) -> list[dict[str, Any]]:
        """The Jepsen-style event list: an ``invoke`` and a completion per operation, in time order.

        Each event: ``{"type": "invoke"|"ok"|"fail"|"info", "process", "f", "key",
        "value", "time", "index"}``. A pending operation has only its invoke.
        """
        events: list[dict[str, Any]] = []
        for op in self.operations:
            invoked_value = None if op.kind == "read" else op.value
            events.append(
                {
                    "type": "invoke",
                    "process": op.process,
                    "f": op.kind,
                    "key": op.key,
                    "value": invoked_value,
                    "time": op.invoke_time,
                    "index": op.index,
                }
            )
            if op.outcome is not None:
                events.append(
                    {
                        "type": op.outcome,
                        "process": op.process,
                        "f": op.kind,
                        "key": op.key,
                        "value": op.value,
                        "time": op.complete_time,
                        "index": op.index,
                    }
                )
        order = {"invoke": 1}  # at equal times a completion comes before a new invocation
        return sorted(events, key=lambda e: (e["time"], order.get(e["type"], 0), e["index"]))

    def stale_reads(self) -> list[Operation]:
        """Reads that returned a value already overwritten before the read began.

        A read is stale when some write W2 to its key was acknowledged (``ok``)
        before the read was invoked, and the value read is either the initial
        ``None`` or was written by a write W1 that *finished before W2 started*
        (so W2 is certainly newer). Needs unique values per key, which the
        course's workloads use. Concurrent writes may be read in either order.
        """
        writes: dict[tuple[str, Any], Operation] = {}
        for op in self.operations:
            if op.kind == "write":
                writes[(op.key, _freeze(op.value))] = op
        stale = []
        for read in self.ok("read"):
            newer = [w for w in self.ok("write") if w.key == read.key and _done_by(w, read.invoke_time)]
            if not newer:
                continue
            if read.value is None:
                stale.append(read)
                continue
            source = writes.get((read.key, _freeze(read.value)))
            if source is None:
                continue  # a value nobody wrote: not our business here
            if source.outcome == "ok" and any(_done_by(source, w.invoke_time) for w in newer):
                stale.append(read)
        return stale

    def latencies(self, kind: str | None = None) -> list[float]:
        """The latencies (ms) of the successful operations, of one ``kind`` or of all."""
        return [op.latency for op in self.ok(kind) if op.latency is not None]

    def as_dicts(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "operations": [asdict(op) for op in self.operations],
            "faults": [asdict(f) for f in self.faults],
        }

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal runs give equal strings."""
        return json.dumps(self.as_dicts(), sort_keys=True, default=repr)

    def table(self, limit: int | None = None) -> str:
        """A readable fixed-width table of the operations (for notebooks)."""
        rows = [
            f"{'#':>3} {'process':<10} {'op':<5} {'key':<8} {'value':<12} {'invoked':>8} {'done':>8} "
            f"{'node':<5} outcome"
        ]
        for op in self.operations[:limit]:
            done = "-" if op.complete_time is None else f"{op.complete_time:8.2f}"
            rows.append(
                f"{op.index:>3} {op.process:<10} {op.kind:<5} {op.key:<8} {_short(op.value):<12} "
                f"{op.invoke_time:8.2f} {done:>8} {op.node or '-':<5} "
                f"{op.outcome}{' (' + op.note + ')' if op.note else ''}"
            )
        return "\n".join(rows)


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _done_by(op: Operation, time: float) -> bool:
    """Had ``op`` completed by ``time``? (A pending operation has not.)"""
    return op.complete_time is not None and op.complete_time <= time


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 12 else text[:11] + "…"


# -- messages, nodes, partitions -----------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A message in flight. ``op`` ties it to the client operation that caused it."""

    id: int
    src: str
    dst: str
    payload: Any
    sent_at: float
    op: int | None = None


class Node:
    """A process on the network. Subclasses override :meth:`on_message`.

    State comes in two kinds, like on a real server: ``disk`` survives a
    crash, ``memory`` survives only if the restart keeps it. Timers set with
    :meth:`set_timer` do not fire after a crash (the process that set them is gone).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.network: Network | None = None
        self.up = True
        self.disk: dict[str, Any] = {}
        self.memory: dict[str, Any] = {}
        self._epoch = 0  # bumped on every crash, so old timers know they are void

    @property
    def net(self) -> Network:
        if self.network is None:
            raise RuntimeError(f"node {self.name!r} is not on a network: call network.add(node) first")
        return self.network

    def send(self, dst: str, payload: Any, op: int | None = None) -> None:
        self.net.send(self.name, dst, payload, op=op)

    def set_timer(self, delay: float, action: Callable[[], object]) -> None:
        epoch = self._epoch

        def fire() -> None:
            if self.up and self._epoch == epoch:
                action()

        self.net.schedule(delay, fire)

    def on_message(self, msg: Message) -> None:  # pragma: no cover - subclasses override
        """Handle one delivered message."""

    def on_crash(self) -> None:
        """Hook: called when the node crashes."""

    def on_restart(self) -> None:
        """Hook: called after a restart (memory already cleared unless kept)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, up={self.up})"


@dataclass(frozen=True)
class Partition:
    """Groups of nodes that can talk inside a group but not across groups.

    Nodes named in no group form one more group together, so
    ``Partition([{"a"}])`` isolates ``a`` from everybody else.
    """

    groups: tuple[frozenset[str], ...]

    def __init__(self, groups: Iterable[Iterable[str]]) -> None:
        frozen = tuple(frozenset(g) for g in groups)
        seen: set[str] = set()
        for group in frozen:
            if seen & group:
                raise ValueError(f"Partition: node(s) {sorted(seen & group)} appear in two groups")
            seen |= group
        object.__setattr__(self, "groups", frozen)

    def side(self, node: str) -> int:
        for i, group in enumerate(self.groups):
            if node in group:
                return i
        return -1  # "everybody else"

    def blocks(self, a: str, b: str) -> bool:
        return self.side(a) != self.side(b)

    def __str__(self) -> str:
        return " | ".join("{" + ",".join(sorted(g)) + "}" for g in self.groups)


@dataclass
class MessageStats:
    """Counts of what happened to messages, and the latencies of those delivered."""

    sent: int = 0
    delivered: int = 0
    dropped_loss: int = 0
    dropped_partition: int = 0
    dropped_down: int = 0
    duplicated: int = 0
    reordered: int = 0
    latencies: list[float] = field(default_factory=list)
    per_op: dict[int, int] = field(default_factory=dict)

    def summary(self, operations: int | None = None) -> dict[str, Any]:
        ops = operations if operations is not None else len(self.per_op)
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "duplicated": self.duplicated,
            "reordered": self.reordered,
            "dropped": {
                "loss": self.dropped_loss,
                "partition": self.dropped_partition,
                "down": self.dropped_down,
            },
            "messages_per_op": round(sum(self.per_op.values()) / ops, 3) if ops else 0.0,
            "latency_ms": {f"p{p}": percentile(self.latencies, p) for p in (50, 95, 99)},
        }


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (no interpolation, so the result is a value that occurred)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class Network:
    """The simulated network: a clock, an event queue, the nodes, and the faults.

    ``loss``, ``duplicate`` and ``reorder`` are probabilities per message;
    a reordered message is held back by an extra ``reorder_delay`` ms so that
    later messages overtake it. ``links`` overrides latency per (src, dst) pair.
    """

    def __init__(
        self,
        seed: int,
        latency: Latency | None = None,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        reorder_delay: float = 10.0,
        links: dict[tuple[str, str], Latency] | None = None,
    ) -> None:
        for name, p in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"Network.{name} is a probability between 0 and 1, got {p}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.latency = latency or Latency()
        self.links = dict(links or {})
        self.loss, self.duplicate, self.reorder, self.reorder_delay = loss, duplicate, reorder, reorder_delay
        self.now = 0.0
        self.nodes: dict[str, Node] = {}
        self.partition: Partition | None = None
        self.history = History()
        self.stats = MessageStats()
        self.events_processed = 0
        self._queue: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = 0
        self._message_ids = 0

    # nodes and time
    def add(self, node: Node) -> Node:
        if node.name in self.nodes:
            raise ValueError(f"a node named {node.name!r} is already on this network")
        node.network = self
        self.nodes[node.name] = node
        return node

    def node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"no node named {name!r}; nodes are {sorted(self.nodes)}") from None

    def schedule(self, delay: float, action: Callable[[], object]) -> None:
        """Run ``action`` ``delay`` ms from now (ties run in scheduling order; what it returns is ignored)."""
        if delay < 0:
            raise ValueError(f"cannot schedule {delay} ms in the past")
        self._seq += 1
        heapq.heappush(self._queue, (round(self.now + delay, 6), self._seq, action))

    def at(self, time: float, action: Callable[[], object]) -> None:
        """Run ``action`` at absolute simulated time ``time``."""
        self.schedule(max(0.0, time - self.now), action)

    def run(self, until: float | None = None) -> float:
        """Process events in time order until the queue is empty or ``until`` is reached."""
        while self._queue:
            time, _seq, action = self._queue[0]
            if until is not None and time > until:
                self.now = until
                return self.now
            heapq.heappop(self._queue)
            self.now = time
            self.events_processed += 1
            action()
        if until is not None:
            self.now = max(self.now, until)
        return self.now

    # messages
    def send(self, src: str, dst: str, payload: Any, op: int | None = None) -> None:
        if not self.node(src).up:
            return  # a crashed process sends nothing
        self.node(dst)  # fail fast on a typo
        self._message_ids += 1
        msg = Message(self._message_ids, src, dst, payload, self.now, op)
        self.stats.sent += 1
        if op is not None:
            self.stats.per_op[op] = self.stats.per_op.get(op, 0) + 1
        if self.loss and self.rng.random() < self.loss:
            self.stats.dropped_loss += 1
            return
        copies = 1
        if self.duplicate and self.rng.random() < self.duplicate:
            copies = 2
            self.stats.duplicated += 1
        for _ in range(copies):
            delay = self.links.get((src, dst), self.latency).draw(self.rng)
            if self.reorder and self.rng.random() < self.reorder:
                delay += self.reorder_delay
                self.stats.reordered += 1
            self.schedule(delay, partial(self._deliver, msg))

    def _deliver(self, msg: Message) -> None:
        if self.partition is not None and self.partition.blocks(msg.src, msg.dst):
            self.stats.dropped_partition += 1
            return
        node = self.nodes[msg.dst]
        if not node.up:
            self.stats.dropped_down += 1
            return
        self.stats.delivered += 1
        self.stats.latencies.append(round(self.now - msg.sent_at, 3))
        node.on_message(msg)

    # faults
    def partition_nodes(self, *groups: Iterable[str]) -> Partition:
        """Cut the network into ``groups``; messages across groups are dropped on arrival."""
        self.partition = Partition(groups)
        self.history.faults.append(Fault(self.now, "partition", str(self.partition)))
        return self.partition

    def heal(self) -> None:
        self.partition = None
        self.history.faults.append(Fault(self.now, "heal", ""))

    def crash(self, name: str) -> None:
        node = self.node(name)
        node.up = False
        node._epoch += 1
        node.on_crash()
        self.history.faults.append(Fault(self.now, "crash", name))

    def restart(self, name: str, keep_memory: bool = False) -> None:
        """Bring a node back; what was only in memory is lost unless ``keep_memory``."""
        node = self.node(name)
        if not keep_memory:
            node.memory = {}
        node.up = True
        self.history.faults.append(
            Fault(self.now, "restart", f"{name} ({'kept' if keep_memory else 'lost'} memory)")
        )
        node.on_restart()

    # results
    def report(self) -> str:
        """History and statistics as canonical JSON: the thing two equal runs agree on byte for byte."""
        self.history.close(self.now)
        return json.dumps(
            {
                "seed": self.seed,
                "history": self.history.as_dicts(),
                "stats": self.stats.summary(len(self.history.operations)),
                "events": self.events_processed,
            },
            sort_keys=True,
            default=repr,
        )


@dataclass(frozen=True)
class PlannedFault:
    """One entry of a :class:`Nemesis` schedule: at ``at`` ms, do ``inject`` to the network."""

    at: float
    action: str  # partition, heal, crash or restart
    detail: str  # what it applies to, for printing
    inject: Callable[[Network], object]


class Nemesis:
    """A schedule of faults, applied to a network at simulated times.

    >>> nemesis = Nemesis().partition(50, {"n1"}, {"n2", "n3"}).heal(120).crash(80, "n2")
    >>> nemesis.apply(net)   # doctest: +SKIP

    Build the schedule by hand, or let :meth:`random` draw one from a seed.
    """

    def __init__(self) -> None:
        self.schedule: list[PlannedFault] = []

    def _plan(
        self, at: float, action: str, args: tuple[object, ...], inject: Callable[[Network], object]
    ) -> Nemesis:
        self.schedule.append(PlannedFault(at, action, repr(args) if args else "", inject))
        return self

    def partition(self, at: float, *groups: Iterable[str]) -> Nemesis:
        frozen = tuple(tuple(sorted(g)) for g in groups)
        return self._plan(at, "partition", frozen, lambda network: network.partition_nodes(*frozen))

    def heal(self, at: float) -> Nemesis:
        return self._plan(at, "heal", (), Network.heal)

    def crash(self, at: float, node: str) -> Nemesis:
        return self._plan(at, "crash", (node,), lambda network: network.crash(node))

    def restart(self, at: float, node: str, keep_memory: bool = False) -> Nemesis:
        return self._plan(
            at, "restart", (node, keep_memory), lambda network: network.restart(node, keep_memory=keep_memory)
        )

    def apply(self, network: Network) -> None:
        for fault in sorted(self.schedule, key=lambda f: f.at):
            network.at(fault.at, partial(fault.inject, network))

    @classmethod
    def random(cls, seed: int, nodes: list[str], duration: float, faults: int = 3) -> Nemesis:
        """A random schedule: each fault crashes or isolates a random group of nodes, then undoes it.

        The group is 1 to ``len(nodes) - 1`` of ``nodes``; an isolated group can
        still talk inside itself, but not to anyone else (clients included).
        """
        rng = random.Random(seed)
        nemesis = cls()
        pool = sorted(nodes)
        for _ in range(faults):
            start = round(rng.uniform(0, duration * 0.8), 3)
            end = round(start + rng.uniform(duration * 0.05, duration * 0.3), 3)
            victims = sorted(rng.sample(pool, rng.randint(1, max(1, len(pool) - 1))))
            if rng.random() < 0.5:
                for victim in victims:
                    nemesis.crash(start, victim).restart(end, victim)
            else:
                nemesis.partition(start, victims).heal(end)
        return nemesis

    def __str__(self) -> str:
        return "\n".join(
            f"t={f.at:>8.2f}  {f.action} {f.detail}".rstrip()
            for f in sorted(self.schedule, key=lambda f: f.at)
        )
