"""Replication strategies on the simulated network: leader-follower, multi-leader, leaderless.

Replication serves two purposes: fault tolerance (survive node failures) and read
scaling (spread reads over replicas). The strategy decides what a client can be
told and when, so each class here records a :class:`~course_lib.netsim.History`
you can inspect afterwards:

* :class:`LeaderFollower` — one leader takes writes; followers copy its log.
  ``mode`` decides when the client gets its ack: ``"sync"`` after every
  follower has the write, ``"semi-sync"`` after one has, ``"async"`` at once.
  :meth:`LeaderFollower.failover` crashes the leader and promotes the most
  up-to-date follower; :meth:`LeaderFollower.lost_writes` lists the
  *acknowledged* writes the new leader never got (async loses some, sync none).
* :class:`MultiLeader` — one leader per data centre, each acks locally and
  replicates to the others later. Two concurrent writes to one key conflict:
  ``conflict="lww"`` keeps the one with the larger timestamp and silently drops
  the other (counted in :meth:`MultiLeader.lost_writes`); ``"siblings"`` keeps
  both for the application to merge, detected with version vectors.
* :class:`LeaderlessQuorum` — any replica takes writes; a write succeeds after
  ``w`` of ``n`` replicas ack, a read asks ``r`` replicas and returns the newest answer.
  With ``w + r > n`` every read quorum overlaps every write quorum.

Every class is deterministic for a given ``seed``: ``cluster.network.report()``
is the same string on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from course_lib.netsim import History, Latency, Message, Nemesis, Network, Node, Operation, percentile

MODES = ("sync", "semi-sync", "async")


# -- the client: issues operations and waits for replies ---------------------------------------


class Client(Node):
    """Sends requests for its processes and completes their operations on reply.

    An operation that gets no reply within ``timeout`` ms completes as
    ``info``: the client cannot know whether it happened.
    """

    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(name)
        self.timeout = timeout
        self.pending: dict[int, Operation] = {}

    @property
    def history(self) -> History:
        return self.net.history

    def start(self, op: Operation, dst: str, payload: dict[str, Any]) -> None:
        self.pending[op.index] = op
        self.send(dst, payload, op=op.index)
        self.set_timer(self.timeout, lambda: self.give_up(op.index))

    def finish(
        self, index: int, outcome: str, value: Any = None, node: str | None = None, note: str = ""
    ) -> None:
        op = self.pending.pop(index, None)
        if op is not None:  # a late or duplicate reply for a finished op is ignored
            self.history.complete(op, outcome, self.net.now, value=value, node=node, note=note)

    def give_up(self, index: int) -> None:
        self.finish(index, "info", note="timed out")

    def on_message(self, msg: Message) -> None:
        p = msg.payload
        if p["type"] == "write-ok":
            self.finish(p["op"], "ok", node=msg.src)
        elif p["type"] == "read-ok":
            self.finish(p["op"], "ok", value=p["value"], node=msg.src)


# -- leader-follower ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One write in the replicated log."""

    seq: int
    term: int
    key: str
    value: Any
    op: int


class Replica(Node):
    """A leader or follower. The log lives on ``disk``; unapplied entries in ``memory``."""

    def __init__(self, name: str, cluster: LeaderFollower) -> None:
        super().__init__(name)
        self.cluster = cluster
        self.disk["log"] = []
        self.term = 1

    @property
    def log(self) -> list[Entry]:
        log: list[Entry] = self.disk["log"]
        return log

    def value(self, key: str) -> Any:
        for entry in reversed(self.log):
            if entry.key == key:
                return entry.value
        return None

    def on_message(self, msg: Message) -> None:
        p = msg.payload
        if p["type"] == "write":
            self.leader_write(msg.src, p)
        elif p["type"] == "replicate":
            self.follower_apply(p["entry"], msg.src)
        elif p["type"] == "replica-ack":
            self.leader_ack(msg.src, p["seq"], p["term"])
        elif p["type"] == "read":
            self.send(msg.src, {"type": "read-ok", "op": p["op"], "value": self.value(p["key"])}, op=p["op"])

    # as leader
    def leader_write(self, client: str, p: dict[str, Any]) -> None:
        if self.cluster.leader != self.name:
            return  # not the leader (any more): the client times out
        entry = Entry(len(self.log) + 1, self.term, p["key"], p["value"], p["op"])
        self.log.append(entry)
        self.cluster.appended_at[entry.op] = self.net.now
        # The log is shipped ``lag`` ms later (a WAL sender batching, a busy link). A leader that
        # crashes in between takes the unshipped entries with it.
        self.set_timer(self.cluster.lag, lambda: self.ship(entry))
        waiting = self.memory.setdefault("waiting", [])
        if self.cluster.acks_needed() == 0:
            self.send(client, {"type": "write-ok", "op": entry.op}, op=entry.op)
        else:
            waiting.append((entry, client))

    def ship(self, entry: Entry) -> None:
        for follower in self.cluster.followers():
            self.send(follower, {"type": "replicate", "entry": entry}, op=entry.op)

    def leader_ack(self, follower: str, seq: int, term: int) -> None:
        if term != self.term or self.cluster.leader != self.name:
            return
        acked = self.memory.setdefault("acked", {})
        acked[follower] = max(acked.get(follower, 0), seq)
        still_waiting = []
        for entry, client in self.memory.get("waiting", []):
            have = sum(1 for f in self.cluster.followers() if acked.get(f, 0) >= entry.seq)
            if have >= self.cluster.acks_needed():
                self.send(client, {"type": "write-ok", "op": entry.op}, op=entry.op)
            else:
                still_waiting.append((entry, client))
        self.memory["waiting"] = still_waiting

    # as follower
    def follower_apply(self, entry: Entry, leader: str) -> None:
        if entry.term != self.term:
            return  # a deposed leader's straggler
        if entry.seq <= len(self.log):
            return  # already have it (a new leader re-ships its whole log)
        buffer = self.memory.setdefault("buffer", {})
        buffer[entry.seq] = entry
        applied = False
        while len(self.log) + 1 in buffer:  # apply in log order, even if messages were reordered
            applied_entry = buffer.pop(len(self.log) + 1)
            self.log.append(applied_entry)
            self.cluster.applied_at.setdefault(self.name, {}).setdefault(applied_entry.op, self.net.now)
            applied = True
        if applied:
            self.send(leader, {"type": "replica-ack", "seq": len(self.log), "term": self.term}, op=entry.op)


class LeaderFollower:
    """Single-leader replication with a failover you can trigger.

    ``lag`` is how long (ms) the leader holds a new log entry before shipping
    it to the followers (on top of the network latency): replication lag.
    ``detect`` is how long after the leader dies the failover manager notices
    and promotes the follower with the longest log. Writes are timed out
    (``info``) after ``timeout`` ms without an answer.
    """

    def __init__(
        self,
        mode: str = "async",
        followers: int = 2,
        seed: int = 0,
        lag: float = 0.0,
        latency: Latency | None = None,
        timeout: float = 100.0,
        detect: float = 10.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"LeaderFollower mode must be one of {MODES}, got {mode!r}")
        if followers < 1:
            raise ValueError(f"LeaderFollower needs at least 1 follower to fail over to, got {followers}")
        self.mode, self.lag, self.detect = mode, lag, detect
        self.network = Network(seed, latency or Latency(1.0, 1.0))
        self.replicas = [Replica(f"n{i}", self) for i in range(1, followers + 2)]
        self._by_name = {replica.name: replica for replica in self.replicas}
        for replica in self.replicas:
            self.network.add(replica)
        self.client = Client("client", timeout)
        self.network.add(self.client)
        self.leader = "n1"
        self.term = 1
        self.failovers: list[tuple[float, str, str]] = []
        self.appended_at: dict[int, float] = {}  # op -> when the leader appended it
        self.applied_at: dict[str, dict[int, float]] = {}  # replica -> op -> when it applied it

    @property
    def history(self) -> History:
        return self.network.history

    def followers(self) -> list[str]:
        return [r.name for r in self.replicas if r.name != self.leader]

    def acks_needed(self) -> int:
        """Follower acks the leader waits for before acking the client."""
        return {"sync": len(self.followers()), "semi-sync": 1, "async": 0}[self.mode]

    def replica(self, name: str) -> Replica:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no replica named {name!r}; replicas are {sorted(self._by_name)}") from None

    # operations (scheduled at simulated times; call run() to play them)
    def write(self, key: str, value: Any, at: float, process: str = "client") -> None:
        def go() -> None:
            op = self.history.invoke(process, "write", key, value, self.network.now)
            self.client.start(op, self.leader, {"type": "write", "key": key, "value": value, "op": op.index})

        self.network.at(at, go)

    def read(self, key: str, at: float, node: str | None = None, process: str = "client") -> None:
        """Read from ``node`` (default: whoever leads at that moment)."""

        def go() -> None:
            op = self.history.invoke(process, "read", key, None, self.network.now)
            target = node or self.leader
            op.node = target
            self.client.start(op, target, {"type": "read", "key": key, "op": op.index})

        self.network.at(at, go)

    def failover(self, at: float) -> None:
        """Crash the leader at ``at``; ``detect`` ms later promote the most up-to-date live follower."""
        self.network.at(at, lambda: self.network.crash(self.leader))
        self.network.at(at + self.detect, self._promote)

    def _promote(self) -> None:
        live = [r for r in self.replicas if r.up and r.name != self.leader]
        if not live:
            return
        new = max(live, key=lambda r: (len(r.log), -int(r.name[1:])))  # longest log; ties: lowest name
        old, self.leader = self.leader, new.name
        self.term += 1
        for r in self.replicas:
            r.term = self.term
            r.memory.pop("buffer", None)
        new.memory = {}
        self.failovers.append((self.network.now, old, new.name))
        for follower in self.followers():  # bring the others up to the new leader's log
            for entry in new.log:
                self.network.send(
                    new.name,
                    follower,
                    {
                        "type": "replicate",
                        "entry": Entry(entry.seq, self.term, entry.key, entry.value, entry.op),
                    },
                )

    def run(self, until: float | None = None) -> History:
        self.network.run(until)
        return self.history

    # what happened
    def lost_writes(self) -> list[Operation]:
        """Writes the client was told succeeded that are not in the current leader's log."""
        kept = {entry.op for entry in self.replica(self.leader).log}
        return [op for op in self.history.ok("write") if op.index not in kept]

    def lag_ms(self) -> dict[str, float]:
        """Per replica: the largest delay between the leader appending an entry and it applying it."""
        out = {}
        for name, applied in sorted(self.applied_at.items()):
            delays = [at - self.appended_at[op] for op, at in applied.items() if op in self.appended_at]
            if delays:
                out[name] = round(max(delays), 3)
        return out

    def state(self) -> dict[str, list[str]]:
        """Each replica's log as ``key=value`` strings (the leader first)."""
        return {
            r.name + (" (leader)" if r.name == self.leader else "") + ("" if r.up else " (down)"): [
                f"{e.key}={e.value}" for e in r.log
            ]
            for r in self.replicas
        }


# -- multi-leader ---------------------------------------------------------------------------------


def dominates(a: dict[str, int], b: dict[str, int]) -> bool:
    """True when version vector ``a`` has seen everything ``b`` has (a >= b)."""
    return all(a.get(node, 0) >= count for node, count in b.items())


@dataclass
class Version:
    """A value with what its writer had seen (version vector) and its LWW timestamp."""

    value: Any
    vv: dict[str, int]
    stamp: tuple[float, str]
    op: int


class DataCentre(Node):
    """A leader in one data centre: acks local writes at once, replicates later."""

    def __init__(self, name: str, cluster: MultiLeader) -> None:
        super().__init__(name)
        self.cluster = cluster
        self.disk["data"] = {}  # key -> list of sibling Versions (one in LWW mode)

    def versions(self, key: str) -> list[Version]:
        siblings: list[Version] = self.disk["data"].get(key, [])
        return siblings

    def on_message(self, msg: Message) -> None:
        p = msg.payload
        if p["type"] == "write":
            self.local_write(msg.src, p)
        elif p["type"] == "replicate":
            self.merge_remote(p["key"], p["version"])
        elif p["type"] == "read":
            values = sorted((v.value for v in self.versions(p["key"])), key=repr)
            value = None if not values else values[0] if len(values) == 1 else values
            self.send(msg.src, {"type": "read-ok", "op": p["op"], "value": value}, op=p["op"])

    def local_write(self, client: str, p: dict[str, Any]) -> None:
        seen: dict[str, int] = {}
        for v in self.versions(p["key"]):  # a local write supersedes all it has seen here
            for node, count in v.vv.items():
                seen[node] = max(seen.get(node, 0), count)
        seen[self.name] = seen.get(self.name, 0) + 1
        clock = round(self.net.now + self.cluster.clock_skew.get(self.name, 0.0), 3)
        version = Version(p["value"], seen, (clock, self.name), p["op"])
        self.disk["data"][p["key"]] = [version]
        self.send(client, {"type": "write-ok", "op": p["op"]}, op=p["op"])
        for other in self.cluster.datacentres:
            if other != self.name:
                self.send(other, {"type": "replicate", "key": p["key"], "version": version}, op=p["op"])
        self.cluster.keys.add(p["key"])

    def merge_remote(self, key: str, incoming: Version) -> None:
        kept: list[Version] = []
        for current in self.versions(key):
            if dominates(current.vv, incoming.vv):
                return  # we already have this or something newer
            if not dominates(incoming.vv, current.vv):
                kept.append(current)  # concurrent: a conflict
        if not kept:
            self.disk["data"][key] = [incoming]
            return
        self.cluster.conflicts.add((key, tuple(sorted(v.op for v in kept + [incoming]))))
        if self.cluster.conflict == "siblings":
            self.disk["data"][key] = sorted(kept + [incoming], key=lambda v: v.stamp)
        else:  # last write wins: the larger (timestamp, dc) survives, the rest vanish silently
            winner = max(kept + [incoming], key=lambda v: v.stamp)
            for loser in kept + [incoming]:
                if loser is not winner:
                    self.cluster.dropped.add(loser.op)
            merged: dict[str, int] = {}
            for v in kept + [incoming]:
                for node, count in v.vv.items():
                    merged[node] = max(merged.get(node, 0), count)
            # the survivor carries every clock it beat, so later copies of the losers are dominated
            self.disk["data"][key] = [Version(winner.value, merged, winner.stamp, winner.op)]


class MultiLeader:
    """One leader per data centre; writes are acked locally and replicated across.

    ``clock_skew`` (ms, per data centre) shifts each leader's wall clock, the
    one LWW compares: with skew, the *earlier* write can win.
    """

    def __init__(
        self,
        conflict: str = "lww",
        datacentres: tuple[str, ...] = ("dc1", "dc2"),
        seed: int = 0,
        local: Latency | None = None,
        cross: Latency | None = None,
        timeout: float = 100.0,
        clock_skew: dict[str, float] | None = None,
    ) -> None:
        if conflict not in ("lww", "siblings"):
            raise ValueError(f"MultiLeader conflict must be 'lww' or 'siblings', got {conflict!r}")
        self.conflict = conflict
        self.datacentres = list(datacentres)
        self.clock_skew = dict(clock_skew or {})
        local = local or Latency(1.0, 0.5)
        cross = cross or Latency(40.0, 10.0)
        links = {(a, b): cross for a in self.datacentres for b in self.datacentres if a != b}
        self.network = Network(seed, local, links=links)
        self.centres: dict[str, DataCentre] = {}
        self.clients: dict[str, Client] = {}  # one per data centre, named after it
        for dc in self.datacentres:
            self.centres[dc] = DataCentre(dc, self)
            self.network.add(self.centres[dc])
            self.clients[dc] = Client(f"client-{dc}", timeout)
            self.network.add(self.clients[dc])
        self.keys: set[str] = set()
        self.conflicts: set[tuple[str, tuple[int, ...]]] = set()
        self.dropped: set[int] = set()

    @property
    def history(self) -> History:
        return self.network.history

    def write(self, key: str, value: Any, at: float, dc: str, process: str | None = None) -> None:
        def go() -> None:
            op = self.history.invoke(process or f"client-{dc}", "write", key, value, self.network.now)
            self.clients[dc].start(op, dc, {"type": "write", "key": key, "value": value, "op": op.index})

        self.network.at(at, go)

    def read(self, key: str, at: float, dc: str, process: str | None = None) -> None:
        def go() -> None:
            op = self.history.invoke(process or f"client-{dc}", "read", key, None, self.network.now)
            self.clients[dc].start(op, dc, {"type": "read", "key": key, "op": op.index})

        self.network.at(at, go)

    def run(self, until: float | None = None) -> History:
        self.network.run(until)
        return self.history

    def values(self, key: str, dc: str) -> list[Any]:
        """The value(s) ``dc`` holds for ``key``: one, or several siblings to merge."""
        return sorted((v.value for v in self.centres[dc].versions(key)), key=repr)

    def converged(self) -> bool:
        return all(
            self.values(k, dc) == self.values(k, self.datacentres[0])
            for k in self.keys
            for dc in self.datacentres
        )

    def lost_writes(self) -> list[Operation]:
        """Acknowledged writes that LWW silently discarded in a conflict."""
        return [op for op in self.history.ok("write") if op.index in self.dropped]


# -- leaderless quorums ---------------------------------------------------------------------------


class QuorumReplica(Node):
    """Stores ``key -> (version, value)``; keeps whichever version is larger."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.disk["data"] = {}

    def get(self, key: str) -> tuple[int, Any]:
        version_and_value: tuple[int, Any] = self.disk["data"].get(key, (0, None))
        return version_and_value

    def on_message(self, msg: Message) -> None:
        p = msg.payload
        if p["type"] == "store":
            if p["version"] > self.get(p["key"])[0]:
                self.disk["data"][p["key"]] = (p["version"], p["value"])
            if p.get("op") is not None:
                self.send(msg.src, {"type": "store-ok", "op": p["op"]}, op=p["op"])
        elif p["type"] == "fetch":
            version, value = self.get(p["key"])
            self.send(
                msg.src, {"type": "fetch-ok", "op": p["op"], "version": version, "value": value}, op=p["op"]
            )


@dataclass
class _Waiting:
    op: Operation
    needed: int
    replies: dict[str, tuple[int, Any]] = field(default_factory=dict)
    acks: int = 0
    done: bool = False


class Coordinator(Client):
    """A client that coordinates its own requests (as in Dynamo): writes go to every replica, reads to R."""

    def __init__(self, name: str, cluster: LeaderlessQuorum, timeout: float) -> None:
        super().__init__(name, timeout)
        self.cluster = cluster
        self.waiting: dict[int, _Waiting] = {}

    def begin_write(self, op: Operation) -> None:
        version = self.cluster.next_version()
        self.pending[op.index] = op
        self.waiting[op.index] = _Waiting(op, self.cluster.w)
        for replica in self.cluster.replica_names:
            self.send(
                replica,
                {"type": "store", "key": op.key, "value": op.value, "version": version, "op": op.index},
                op=op.index,
            )
        self.set_timer(self.timeout, lambda: self.give_up(op.index))

    def begin_read(self, op: Operation) -> None:
        self.pending[op.index] = op
        self.waiting[op.index] = _Waiting(op, self.cluster.r)
        # Like Cassandra, ask only R replicas, picked at random (a real coordinator prefers the
        # ones that have answered fastest lately); the write went to all N but may not be there yet.
        for replica in self.cluster.pick_replicas(self.cluster.r):
            self.send(replica, {"type": "fetch", "key": op.key, "op": op.index}, op=op.index)
        self.set_timer(self.timeout, lambda: self.give_up(op.index))

    def give_up(self, index: int) -> None:
        super().give_up(index)
        self.cluster.op_done(index)

    def on_message(self, msg: Message) -> None:
        p = msg.payload
        state = self.waiting.get(p["op"])
        if state is None:
            return
        if p["type"] == "store-ok":
            state.acks += 1
            if not state.done and state.acks >= state.needed:
                state.done = True
                self.finish(p["op"], "ok")
                self.cluster.op_done(p["op"])
        elif p["type"] == "fetch-ok":
            state.replies[msg.src] = (p["version"], p["value"])
            if not state.done and len(state.replies) >= state.needed:
                state.done = True
                version, value = max(state.replies.values(), key=lambda vv: vv[0])
                self.finish(p["op"], "ok", value=value)
                if self.cluster.read_repair:
                    for replica, (v, _) in sorted(state.replies.items()):
                        if v < version:
                            self._repair(replica, state.op.key, version, value)
                state.op.note = f"newest of {sorted(state.replies)}"
                self.cluster.op_done(p["op"])
            elif state.done and self.cluster.read_repair:  # a late answer: repair it too
                newest = max(state.replies.values(), key=lambda vv: vv[0])
                if p["version"] < newest[0]:
                    self._repair(msg.src, state.op.key, *newest)

    def _repair(self, replica: str, key: str, version: int, value: Any) -> None:
        self.cluster.repairs += 1
        self.send(replica, {"type": "store", "key": key, "value": value, "version": version, "op": None})


class LeaderlessQuorum:
    """``n`` replicas, no leader: write to all and wait for ``w`` acks; read from ``r`` of them.

    A read asks ``r`` replicas picked at random (as a Cassandra coordinator
    asks just enough replicas for the consistency level) and waits for all
    ``r`` answers. Versions are a cluster-wide counter handed out when a write starts (think
    of it as the coordinator's timestamp); a replica keeps the larger version.
    A read returns the value with the largest version among its ``r`` answers
    and, with ``read_repair``, writes that value back to replicas that
    answered with something older.
    """

    def __init__(
        self,
        n: int = 3,
        w: int = 2,
        r: int = 2,
        read_repair: bool = True,
        seed: int = 0,
        latency: Latency | None = None,
        timeout: float = 200.0,
        clients: int = 3,
        loss: float = 0.0,
    ) -> None:
        for name, value in (("w", w), ("r", r)):
            if not 1 <= value <= n:
                raise ValueError(f"LeaderlessQuorum.{name} must be between 1 and n={n}, got {value}")
        self.n, self.w, self.r, self.read_repair = n, w, r, read_repair
        self.network = Network(seed, latency or Latency(0.5, 3.0), loss=loss)
        self.replica_names = [f"n{i}" for i in range(1, n + 1)]
        for name in self.replica_names:
            self.network.add(QuorumReplica(name))
        self.coordinators = [Coordinator(f"c{i}", self, timeout) for i in range(1, clients + 1)]
        for c in self.coordinators:
            self.network.add(c)
        self._version = 0
        self.repairs = 0
        self._on_done: dict[int, Callable[[], object]] = {}  # op -> what the workload does next

    @property
    def history(self) -> History:
        return self.network.history

    @property
    def overlapping(self) -> bool:
        """W + R > N: every read quorum shares a replica with every write quorum."""
        return self.w + self.r > self.n

    def pick_replicas(self, count: int) -> list[str]:
        return sorted(self.network.rng.sample(self.replica_names, count))

    def next_version(self) -> int:
        self._version += 1
        return self._version

    def op_done(self, index: int) -> None:
        then = self._on_done.pop(index, None)
        if then is not None:
            then()

    def coordinator(self, name: str) -> Coordinator:
        for c in self.coordinators:
            if c.name == name:
                return c
        raise KeyError(f"no client named {name!r}; clients are {[c.name for c in self.coordinators]}")

    def write(self, key: str, value: Any, at: float, client: str = "c1") -> None:
        def go() -> None:
            op = self.history.invoke(client, "write", key, value, self.network.now)
            self.coordinator(client).begin_write(op)

        self.network.at(at, go)

    def read(self, key: str, at: float, client: str = "c1") -> None:
        def go() -> None:
            op = self.history.invoke(client, "read", key, None, self.network.now)
            self.coordinator(client).begin_read(op)

        self.network.at(at, go)

    def workload(
        self,
        ops_per_client: int = 20,
        keys: tuple[str, ...] = ("x",),
        write_share: float = 0.5,
        think: float = 1.0,
        writers: int | None = None,
        read_back: bool = True,
    ) -> History:
        """Closed-loop clients: each issues an op, waits for it, thinks ~``think`` ms, repeats.

        With ``writers=k`` the first k clients only write and the others only
        read; otherwise each op is a write with probability ``write_share``.
        With ``read_back`` (the default) a client reads a key right after
        writing it, the way a web page shows you what you just saved.
        Every write writes a unique value (``"c1-3"``: client c1's 3rd op), so a
        read can be traced to the write it saw. Returns the history.
        """
        rng = self.network.rng
        writer_names = {c.name for c in self.coordinators[: writers or 0]}

        def step(client: Coordinator, remaining: int, reread: str | None = None) -> None:
            if remaining == 0:
                return
            if reread is not None:  # read back what this client just wrote, at once
                key, kind = reread, "read"
            else:
                key = keys[rng.randrange(len(keys))]
                if writers is None:
                    kind = "write" if rng.random() < write_share else "read"
                else:
                    kind = "write" if client.name in writer_names else "read"
            value = f"{client.name}-{ops_per_client - remaining + 1}" if kind == "write" else None
            op = self.history.invoke(client.name, kind, key, value, self.network.now)
            if kind == "write" and read_back:
                self._on_done[op.index] = lambda: step(client, remaining - 1, reread=key)
            else:
                self._on_done[op.index] = lambda: self.network.schedule(
                    round(rng.expovariate(1 / think), 3) if think else 0.0,
                    lambda: step(client, remaining - 1),
                )
            (client.begin_write if kind == "write" else client.begin_read)(op)

        for client in self.coordinators:
            self.network.schedule(0.0, partial(step, client, ops_per_client))
        self.network.run()
        self.history.close(self.network.now)
        return self.history

    def run(self, until: float | None = None) -> History:
        self.network.run(until)
        return self.history

    def stale_read_rate(self) -> float:
        reads = self.history.ok("read")
        return len(self.history.stale_reads()) / len(reads) if reads else 0.0

    def latency_ms(self, kind: str) -> float | None:
        """Median latency of successful ``kind`` operations."""
        return percentile(self.history.latencies(kind), 50)


def stale_read_grid(
    n: int, seeds: range = range(3), ops_per_client: int = 30, faults: int = 3, read_repair: bool = False
) -> dict[tuple[int, int], float]:
    """Stale-read rate for every (W, R) with ``n`` replicas, averaged over ``seeds``.

    Each run suffers ``faults`` random crashes or partitions of replicas
    (:meth:`Nemesis.random <course_lib.netsim.Nemesis.random>`, from the same
    seed): a healthy network is rarely stale even with small quorums, but
    replicas that were down or cut off miss writes, and a read quorum that
    does not overlap the write quorum can land on exactly those.
    """
    grid = {}
    for w in range(1, n + 1):
        for r in range(1, n + 1):
            rates = []
            for seed in seeds:
                cluster = LeaderlessQuorum(n, w, r, read_repair=read_repair, seed=seed, timeout=20)
                Nemesis.random(seed, cluster.replica_names, duration=ops_per_client * 5, faults=faults).apply(
                    cluster.network
                )
                cluster.workload(ops_per_client=ops_per_client, keys=("x",))
                rates.append(cluster.stale_read_rate())
            grid[(w, r)] = round(sum(rates) / len(rates), 4)
    return grid
