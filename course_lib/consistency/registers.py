"""Registers on the simulated network that choose, during a partition, Consistency or Availability.

* :class:`CPRegister` (majority quorum, like etcd or ZooKeeper): every
  operation needs a majority of replicas, so the minority side of a partition
  refuses, and every history it produces is linearizable.
* :class:`APRegister` (like Dynamo-style stores at consistency level ONE):
  every replica answers from its own copy at once; during a partition the
  sides diverge, and after the heal they reconcile by last write wins.

Both run on :mod:`course_lib.netsim` with closed-loop clients
(:class:`RegisterClient`), and record a :class:`~course_lib.netsim.History`
that :func:`~course_lib.consistency.checker.check_linearizable` can judge.
Times are netsim's: milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from course_lib.netsim import History, Latency, Message, Nemesis, Network, Node, Operation

Stamp = tuple[float, str]  # (time or counter, node): a total order on versions


@dataclass(frozen=True)
class Workload:
    """What a closed-loop client does: which keys, how often it writes, how long it pauses."""

    duration: float = 300.0  # ms: no operation starts after this
    think: float = 5.0  # mean pause (ms, exponential) between one reply and the next request
    write_share: float = 0.5  # the probability that an operation is a write
    keys: tuple[str, ...] = ("x",)


class RegisterClient(Node):
    """A closed-loop client: one operation at a time against its ``home`` replica.

    A reply ``ok`` completes the operation; ``unavailable`` completes it as
    ``fail`` (the replica guarantees it did nothing); silence for ``timeout``
    ms completes it as ``info`` (it may or may not have happened).
    """

    def __init__(self, name: str, home: str, timeout: float, workload: Workload) -> None:
        super().__init__(name)
        self.home, self.timeout, self.workload = home, timeout, workload
        self.current: Operation | None = None
        self.count = 0
        self.looping = False  # True while running the closed-loop workload

    def next_op(self) -> None:
        """The closed loop's next operation: a random key, a write with a unique value or a read."""
        if self.net.now >= self.workload.duration:
            return
        rng = self.net.rng
        keys = self.workload.keys
        key = keys[rng.randrange(len(keys))]
        self.count += 1
        if rng.random() < self.workload.write_share:
            self.begin("write", key, f"{self.name}-{self.count}")
        else:
            self.begin("read", key)

    def begin(self, kind: str, key: str, value: Any = None) -> None:
        """Invoke one operation and send it to ``home``; give up on it after ``timeout`` ms."""
        op = self.net.history.invoke(self.name, kind, key, value, self.net.now)
        op.node = self.home
        self.current = op
        self.send(
            self.home,
            {"type": "request", "op": op.index, "kind": kind, "key": key, "value": value},
            op=op.index,
        )
        self.set_timer(self.timeout, partial(self.finish, op.index, "info", note="timed out"))

    def finish(self, index: int, outcome: str, value: Any = None, note: str = "") -> None:
        op = self.current
        if op is None or op.index != index:
            return  # a late reply to an operation already given up on
        self.current = None
        self.net.history.complete(op, outcome, self.net.now, value=value, node=self.home, note=note)
        if not self.looping:
            return
        think = self.workload.think
        self.set_timer(round(self.net.rng.expovariate(1 / think), 3) if think else 0.0, self.next_op)

    def on_message(self, msg: Message) -> None:
        p = msg.payload
        if p["type"] == "ok":
            self.finish(p["op"], "ok", value=p.get("value"))
        elif p["type"] == "unavailable":
            self.finish(p["op"], "fail", note=p["why"])


ReplicaT = TypeVar("ReplicaT", bound=Node)


class RegisterCluster(Generic[ReplicaT]):
    """What CP and AP registers share: replicas ``n1..nN``, clients ``c1..cM`` and a workload.

    Client ``ci`` talks to replica ``n((i-1) mod N + 1)``, the replica on its side of
    any partition (as a client in one data centre talks to the servers there).
    A subclass says which replicas it runs by defining :meth:`make_replica`.
    """

    system = "register"

    def __init__(
        self,
        replicas: int = 3,
        clients: int = 3,
        seed: int = 0,
        latency: Latency | None = None,
        timeout: float = 60.0,
        think: float = 5.0,
        write_share: float = 0.5,
        keys: tuple[str, ...] = ("x",),
        duration: float = 300.0,
    ) -> None:
        if replicas < 1 or clients < 1:
            raise ValueError(
                f"a register needs at least 1 replica and 1 client, got {replicas} and {clients}"
            )
        self.network = Network(seed, latency or Latency(1.0, 1.0))
        self.think, self.write_share, self.keys, self.duration = think, write_share, keys, duration
        self.replica_names = [f"n{i}" for i in range(1, replicas + 1)]
        self.replicas = [self.make_replica(name) for name in self.replica_names]
        for replica in self.replicas:
            self.network.add(replica)
        workload = Workload(duration, think, write_share, keys)
        self.clients = [
            RegisterClient(f"c{i}", self.replica_names[(i - 1) % replicas], timeout, workload)
            for i in range(1, clients + 1)
        ]
        for client in self.clients:
            self.network.add(client)

    def make_replica(self, name: str) -> ReplicaT:
        """The replica called ``name`` (``n1``, ``n2``, ...): a CP or an AP one."""
        raise NotImplementedError(f"{type(self).__name__} must say which replicas it runs")

    def client(self, name: str) -> RegisterClient:
        for c in self.clients:
            if c.name == name:
                return c
        raise KeyError(f"no client named {name!r}; clients are {[c.name for c in self.clients]}")

    @property
    def history(self) -> History:
        return self.network.history

    @property
    def majority(self) -> int:
        return len(self.replica_names) // 2 + 1

    def side_of(self, replica: str) -> list[str]:
        """``replica`` and the clients whose home it is: one side of a partition."""
        return [replica] + [c.name for c in self.clients if c.home == replica]

    def request(self, client: str, kind: str, key: str, value: Any = None, at: float | None = None) -> None:
        """Schedule one operation by ``client`` (for hand-made scenarios; the workload uses next_op)."""
        self.network.at(
            self.network.now if at is None else at, partial(self.client(client).begin, kind, key, value)
        )

    def workload(self, nemesis: Nemesis | None = None) -> History:
        """Run every client in a closed loop until ``duration`` ms under ``nemesis``; return the history."""
        if nemesis is not None:
            nemesis.apply(self.network)
        for client in self.clients:
            client.looping = True
            self.network.schedule(0.0, client.next_op)
        self.network.run()
        self.history.close(self.network.now)
        return self.history

    def run(self, until: float | None = None) -> History:
        self.network.run(until)
        return self.history

    def values(self, key: str) -> dict[str, Any]:
        """What each replica holds for ``key`` (diverged replicas disagree)."""
        return {replica.name: replica.disk.get(key, (None, None))[1] for replica in self.replicas}


class _Pending:
    """A request a CP coordinator is working on (two quorum round trips, ABD style)."""

    def __init__(self, client: str, op: int, kind: str, key: str, value: Any) -> None:
        self.client, self.op, self.kind, self.key, self.value = client, op, kind, key, value
        self.phase = "get"
        self.replies: dict[str, tuple[Stamp, Any]] = {}
        self.acks: set[str] = set()
        self.result: Any = None


class CPReplica(Node):
    """A CP replica and coordinator: the ABD majority-quorum register.

    A request takes two round trips to a majority. *Get*: ask every replica
    for its (stamp, value) and wait for a majority. *Put*: a write stores
    ``(highest stamp + 1, value)``; a read writes back the newest value it saw,
    so no later read can see anything older. Only then does the client hear
    ``ok``. Any two majorities overlap, which is what makes it linearizable.
    On the minority side of a partition no majority answers: after
    ``quorum_wait`` ms in the *get* phase the coordinator answers
    ``unavailable`` (nothing was stored, so the client may safely call it a
    failure); stuck in *put*, it stays silent and the client times out (``info``).
    """

    def __init__(self, name: str, cluster: CPRegister) -> None:
        super().__init__(name)
        self.cluster = cluster
        self.pending: dict[int, _Pending] = {}

    def on_message(self, msg: Message) -> None:
        p = msg.payload
        kind = p["type"]
        if kind == "request":
            self.start(msg.src, p)
        elif kind == "get":
            stamp, value = self.disk.get(p["key"], ((0, ""), None))
            self.send(msg.src, {"type": "got", "req": p["req"], "stamp": stamp, "value": value}, op=p["req"])
        elif kind == "put":
            if p["stamp"] > self.disk.get(p["key"], ((0, ""), None))[0]:
                self.disk[p["key"]] = (p["stamp"], p["value"])
            self.send(msg.src, {"type": "put-ok", "req": p["req"]}, op=p["req"])
        elif kind == "got":
            self.on_got(msg.src, p)
        elif kind == "put-ok":
            self.on_put_ok(msg.src, p)

    def start(self, client: str, p: dict[str, Any]) -> None:
        req = _Pending(client, p["op"], p["kind"], p["key"], p["value"])
        self.pending[p["op"]] = req
        for replica in self.cluster.replica_names:
            self.send(replica, {"type": "get", "req": p["op"], "key": p["key"]}, op=p["op"])
        self.set_timer(self.cluster.quorum_wait, lambda: self.give_up(p["op"]))

    def give_up(self, op: int) -> None:
        req = self.pending.get(op)
        if req is not None and req.phase == "get":
            del self.pending[op]
            self.send(
                req.client,
                {"type": "unavailable", "op": op, "why": f"no majority ({self.cluster.majority}) answered"},
                op=op,
            )

    def on_got(self, src: str, p: dict[str, Any]) -> None:
        req = self.pending.get(p["req"])
        if req is None or req.phase != "get":
            return
        req.replies[src] = (p["stamp"], p["value"])
        if len(req.replies) < self.cluster.majority:
            return
        stamp, value = max(req.replies.values(), key=lambda sv: sv[0])
        if req.kind == "write":
            stamp, value = (stamp[0] + 1, self.name), req.value
        req.phase, req.result = "put", value
        for replica in self.cluster.replica_names:
            self.send(
                replica,
                {"type": "put", "req": req.op, "key": req.key, "stamp": stamp, "value": value},
                op=req.op,
            )

    def on_put_ok(self, src: str, p: dict[str, Any]) -> None:
        req = self.pending.get(p["req"])
        if req is None or req.phase != "put":
            return
        req.acks.add(src)
        if len(req.acks) >= self.cluster.majority:
            del self.pending[req.op]
            reply: dict[str, Any] = {"type": "ok", "op": req.op}
            if req.kind == "read":
                reply["value"] = req.result
            self.send(req.client, reply, op=req.op)


class CPRegister(RegisterCluster[CPReplica]):
    """A register that chooses Consistency: every operation needs a majority of replicas.

    Like etcd or ZooKeeper, the minority side of a partition stops serving
    reads and writes rather than risk a stale answer; the majority side goes on.
    """

    system = "CP (majority quorum)"

    def __init__(self, *args: Any, quorum_wait: float = 20.0, **kwargs: Any) -> None:
        self.quorum_wait = quorum_wait
        super().__init__(*args, **kwargs)

    def make_replica(self, name: str) -> CPReplica:
        return CPReplica(name, self)


class APReplica(Node):
    """An AP replica: answers from its own copy, at once; replicates in the background.

    A write gets the stamp ``(local clock, node)`` and is stored and acknowledged
    immediately, then shipped to the other replicas ``cluster.lag`` ms later
    (replication lag: a batching sender, a busy link; lost if a partition is in
    the way). Every ``sync_every`` ms each replica also sends its whole copy to the
    others (anti-entropy), and everyone keeps the larger stamp per key: last
    write wins, so after a partition heals the replicas converge.
    With ``cluster.sync_writes`` a write first waits up to ``sync_wait`` ms for
    every replica's ack, then acknowledges anyway (PA/EC: consistent while the
    network is healthy, available when it is not).
    """

    def __init__(self, name: str, cluster: APRegister) -> None:
        super().__init__(name)
        self.cluster = cluster
        self.waiting: dict[int, tuple[str, set[str]]] = {}

    def on_restart(self) -> None:
        self.start_sync()

    def start_sync(self) -> None:
        self.set_timer(self.cluster.sync_every, self.sync)

    def sync(self) -> None:
        if self.net.now > self.cluster.duration + 10 * self.cluster.sync_every:
            return  # the run is over: stop gossiping so the simulation ends
        for other in self.cluster.replica_names:
            if other != self.name:
                self.send(other, {"type": "state", "data": dict(self.disk)})
        self.start_sync()

    def keep(self, key: str, stamp: Stamp, value: Any) -> None:
        if stamp > self.disk.get(key, ((0.0, ""), None))[0]:
            self.disk[key] = (stamp, value)

    def on_message(self, msg: Message) -> None:
        p = msg.payload
        if p["type"] == "request":
            if p["kind"] == "read":
                self.send(
                    msg.src,
                    {"type": "ok", "op": p["op"], "value": self.disk.get(p["key"], (None, None))[1]},
                    op=p["op"],
                )
                return
            stamp = (round(self.net.now, 3), self.name)
            self.keep(p["key"], stamp, p["value"])
            self.set_timer(self.cluster.lag, lambda: self.ship(p["key"], stamp, p["value"], p["op"]))
            if self.cluster.sync_writes and len(self.cluster.replica_names) > 1:
                self.waiting[p["op"]] = (msg.src, set())
                self.set_timer(self.cluster.sync_wait, lambda: self.ack(p["op"]))
            else:
                self.send(msg.src, {"type": "ok", "op": p["op"]}, op=p["op"])
        elif p["type"] == "replicate":
            self.keep(p["key"], p["stamp"], p["value"])
            self.send(msg.src, {"type": "replicated", "op": p["op"]}, op=p["op"])
        elif p["type"] == "replicated":
            waiting = self.waiting.get(p["op"])
            if waiting is not None:
                waiting[1].add(msg.src)
                if len(waiting[1]) == len(self.cluster.replica_names) - 1:
                    self.ack(p["op"])
        elif p["type"] == "state":
            for key, (stamp, value) in p["data"].items():
                self.keep(key, stamp, value)

    def ship(self, key: str, stamp: Stamp, value: Any, op: int) -> None:
        for other in self.cluster.replica_names:
            if other != self.name:
                self.send(
                    other, {"type": "replicate", "key": key, "stamp": stamp, "value": value, "op": op}, op=op
                )

    def ack(self, op: int) -> None:
        waiting = self.waiting.pop(op, None)
        if waiting is not None:
            self.send(waiting[0], {"type": "ok", "op": op}, op=op)


class APRegister(RegisterCluster[APReplica]):
    """A register that chooses Availability: every replica answers from its own copy.

    Like Dynamo-style stores at consistency level ONE: nothing ever waits for
    another replica, so every request on either side of a partition is
    answered, and the sides diverge until the heal (then last write wins).
    ``sync_writes=True`` makes writes wait for every replica while they can
    (up to ``sync_wait`` ms): the rare PA/EC combination.
    """

    system = "AP (every replica answers)"

    def __init__(
        self,
        *args: Any,
        lag: float = 0.0,
        sync_every: float = 25.0,
        sync_writes: bool = False,
        sync_wait: float = 20.0,
        **kwargs: Any,
    ) -> None:
        self.lag, self.sync_every, self.sync_writes, self.sync_wait = lag, sync_every, sync_writes, sync_wait
        super().__init__(*args, **kwargs)
        for replica in self.replicas:
            replica.start_sync()

    def make_replica(self, name: str) -> APReplica:
        return APReplica(name, self)

    def converged(self) -> bool:
        return all(len(set(map(repr, self.values(key).values()))) == 1 for key in self.keys)
