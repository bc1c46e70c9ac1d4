"""Consistency under partitions: a linearizability checker, CP and AP registers, CAP and PACELC measured.

Three ideas, one module:

* **Checking.** :func:`check_linearizable` decides whether a history of
  reads, writes and compare-and-sets could have come from *one* copy of the
  data, each operation taking effect at a single instant between its
  invocation and its completion. It is Wing and Gong's search with Lowe's
  just-in-time linearization, memoising ``(linearized set, state)`` pairs as
  the Porcupine checker does, and it checks each key on its own
  (P-compositionality: a history is linearizable iff each key's sub-history is).
  :func:`parse_jepsen_log` reads the logs Jepsen wrote while testing etcd.
* **Choosing.** :class:`CPRegister` (majority quorum: the minority side of a
  partition refuses) and :class:`APRegister` (every node answers; replicas
  diverge and reconcile by last-write-wins after the heal) run on
  :mod:`course_lib.netsim`. :func:`run_experiment` drives either with a
  workload and a partition nemesis and reports availability, latency
  percentiles and the checker's verdict: CAP, measured.
* **Paying.** :func:`pacelc_measure` runs the same workload with no partition
  at all and shows the other half of PACELC: waiting for replicas costs
  latency, not waiting costs stale reads.

How unknown outcomes are treated (as Jepsen and Porcupine do): an operation
whose fate the client never learned (``info``, or still pending at the end)
may have taken effect at any instant after its invocation, or never; it is
given a completion time of +infinity, and placing it after everything else is
the same as its never having happened. A read that failed or timed out tells
us nothing and is dropped; so is a write that certainly failed. A compare-and-
set that failed is kept as what it is, an observation: at some instant the
value was *not* the expected one.
"""

from __future__ import annotations

import math
import re
import time as _time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_lib.netsim import History, Latency, Message, Nemesis, Network, Node, Operation, percentile

INF = math.inf
# Jepsen's etcd histories ship beside the project (../shared), never inside it.
JEPSEN_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "linearizability"
NIL = None  # the register's initial value: "no value"


# -- the operations a checker sees ---------------------------------------------------------------


@dataclass(frozen=True)
class CheckOp:
    """One operation as the checker sees it.

    ``value`` is the input (a write's value, a cas's ``(expected, new)``);
    ``output`` is what came back (a read's value; for a cas ``True``, ``False``
    or ``None`` when unknown). ``ret`` is ``inf`` when the outcome is unknown.
    """

    index: int
    process: str
    kind: str
    key: str
    value: Any
    output: Any
    call: float
    ret: float

    def describe(self) -> str:
        when = f"t={_num(self.call)}..{'?' if self.ret == INF else _num(self.ret)}"
        if self.kind == "read":
            what = f"read -> {self.output!r}"
        elif self.kind == "write":
            what = f"write {self.value!r}"
        else:
            verdict = {True: "ok", False: "failed", None: "unknown"}[self.output]
            what = f"cas {self.value[0]!r}->{self.value[1]!r} ({verdict})"
        key = "" if self.key == "" else f" [{self.key}]"
        return f"#{self.index} (process {self.process}) {what}{key} at {when}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def from_operations(operations: Iterable[Operation]) -> list[CheckOp]:
    """Turn netsim :class:`~course_lib.netsim.Operation` records into checker operations.

    Failed or timed-out reads and failed writes are dropped (they constrain
    nothing); ``info`` and pending writes and cas get ``ret = inf``.
    """
    ops = []
    for op in operations:
        outcome = op.outcome or "info"
        if op.kind == "read":
            if outcome != "ok":
                continue
            ops.append(
                CheckOp(
                    op.index,
                    op.process,
                    "read",
                    op.key,
                    None,
                    _freeze(op.value),
                    op.invoke_time,
                    op.complete_time,
                )
            )
        elif op.kind == "write":
            if outcome == "fail":
                continue
            ret = op.complete_time if outcome == "ok" else INF
            ops.append(
                CheckOp(op.index, op.process, "write", op.key, _freeze(op.value), None, op.invoke_time, ret)
            )
        elif op.kind == "cas":
            expected, new = op.value
            output = {"ok": True, "fail": False}.get(outcome)
            ret = INF if output is None else op.complete_time
            ops.append(
                CheckOp(op.index, op.process, "cas", op.key, (expected, new), output, op.invoke_time, ret)
            )
        else:
            raise ValueError(
                f"operation #{op.index} has kind {op.kind!r}; the checker knows read, write and cas"
            )
    return ops


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# -- the Jepsen log format -------------------------------------------------------------------------

_LINE = re.compile(r"jepsen\.util - (\S+)\t:(invoke|ok|fail|info)\t:(read|write|cas)\t(.*)$")


def _parse_value(text: str) -> Any:
    text = text.strip()
    if text == "nil":
        return None
    if text.startswith(":"):
        return text  # a keyword such as :timed-out
    if text.startswith("["):
        return tuple(_parse_value(part) for part in text.strip("[]").split())
    try:
        return int(text)
    except ValueError:
        return text


def parse_jepsen_log(source: str | Path) -> list[CheckOp]:
    """Parse a Jepsen ``jepsen.util`` log of a single register into checker operations.

    ``source`` is a path or the log's text (anything containing ``jepsen.util``).
    Times are line numbers (the log is in real-time order). Lines that are not
    operations (setup, nemesis) are skipped.
    """
    text = str(source) if isinstance(source, str) and "jepsen.util" in source else Path(source).read_text()
    ops: list[CheckOp] = []
    open_calls: dict[str, tuple[int, str, Any]] = {}  # process -> (line, f, invoked value)
    completed: list[tuple[int, str, str, Any, int, str, Any]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        match = _LINE.search(line)
        if match is None:
            continue
        process, kind, f, raw = match.groups()
        value = _parse_value(raw)
        if kind == "invoke":
            if process in open_calls:
                raise ValueError(f"line {line_no}: process {process} invokes while its previous call is open")
            open_calls[process] = (line_no, f, value)
            continue
        if process not in open_calls:
            raise ValueError(f"line {line_no}: process {process} completes a call it never invoked")
        call_line, call_f, invoked = open_calls.pop(process)
        completed.append((call_line, process, call_f, invoked, line_no, kind, value))
    for process, (call_line, f, invoked) in open_calls.items():
        completed.append((call_line, process, f, invoked, INF, "info", None))  # pending at the end
    for call_line, process, f, invoked, ret, kind, value in sorted(completed, key=lambda c: c[0]):
        if f == "read":
            if kind != "ok":
                continue  # a failed or unknown read constrains nothing
            ops.append(CheckOp(call_line, process, "read", "", None, value, call_line, ret))
        elif f == "write":
            if kind == "fail":
                continue
            ops.append(
                CheckOp(
                    call_line, process, "write", "", invoked, None, call_line, ret if kind == "ok" else INF
                )
            )
        else:
            output = {"ok": True, "fail": False}.get(kind)
            ops.append(
                CheckOp(
                    call_line,
                    process,
                    "cas",
                    "",
                    tuple(invoked),
                    output,
                    call_line,
                    INF if output is None else ret,
                )
            )
    return ops


# -- models ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A sequential specification: the initial state and how one operation changes it.

    ``step(state, op)`` returns ``(legal, new_state)``: whether ``op`` with
    its observed output could happen in ``state``, and the state after it.
    """

    name: str
    init: Any
    step: Callable[[Any, CheckOp], tuple[bool, Any]]
    explain_state: Callable[[Any], str] = repr


def register_step(state: Any, op: CheckOp) -> tuple[bool, Any]:
    """A read/write/cas register."""
    if op.kind == "read":
        return op.output == state, state
    if op.kind == "write":
        return True, op.value
    expected, new = op.value
    if state == expected:
        return op.output is not False, new  # it swapped: a cas reported failed could not have
    return op.output is not True, state  # it could not swap: a cas reported ok is impossible


REGISTER = Model("register", NIL, register_step)
# A key-value store is one register per key: P-compositionality lets the checker split the
# history by key and check each part against REGISTER.
KEY_VALUE = Model("key-value", NIL, register_step)


# -- the checker ----------------------------------------------------------------------------------------


@dataclass
class KeyResult:
    """The verdict for one key."""

    key: str
    verdict: str
    operations: int
    order: list[CheckOp] = field(default_factory=list)  # a linearization, or the longest prefix found
    stuck: CheckOp | None = None  # the operation no order could place
    state: Any = None  # the state after ``order``
    explored: int = 0


@dataclass
class Verdict:
    """What :func:`check_linearizable` found: ``linearizable``, ``not linearizable`` or ``unknown``."""

    verdict: str
    keys: dict[str, KeyResult]
    explanation: str
    explored: int

    @property
    def ok(self) -> bool | None:
        return {"linearizable": True, "not linearizable": False}.get(self.verdict)

    def __str__(self) -> str:
        return f"{self.verdict}: {self.explanation}"


def check_linearizable(
    history: History | Iterable[Operation] | Iterable[CheckOp],
    model: Model = KEY_VALUE,
    timeout: float = 10.0,
    cache: bool = True,
) -> Verdict:
    """Is ``history`` linearizable with respect to ``model``?

    Each key is checked separately; the history is linearizable only if every
    key's is. Operation *a* must precede *b* only when *a* completed strictly
    before *b* was invoked: equal times count as overlapping (as in Porcupine).
    ``timeout`` (seconds, checked as the search runs) bounds the search; when it
    runs out the verdict is ``unknown``. ``cache=False``
    turns off the memo of (linearized set, state) pairs, to measure what it buys.
    """
    ops = as_check_ops(history)
    by_key: dict[str, list[CheckOp]] = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    deadline = _time.perf_counter() + timeout
    results = {key: _check_key(key, by_key[key], model, deadline, cache) for key in sorted(by_key, key=str)}
    explored = sum(r.explored for r in results.values())
    bad = [r for r in results.values() if r.verdict == "not linearizable"]
    if bad:
        return Verdict("not linearizable", results, _explain(bad[0], model), explored)
    if any(r.verdict == "unknown" for r in results.values()):
        return Verdict("unknown", results, f"the search ran out of its {timeout} s budget", explored)
    return Verdict(
        "linearizable",
        results,
        f"every operation fits one order ({len(ops)} operations, {len(results)} key(s))",
        explored,
    )


def as_check_ops(history: Any) -> list[CheckOp]:
    """A netsim History, a list of netsim Operations or a list of CheckOps, as CheckOps."""
    if isinstance(history, History):
        return from_operations(history.operations)
    items = list(history)
    if items and isinstance(items[0], Operation):
        return from_operations(items)
    return items


def _explain(result: KeyResult, model: Model) -> str:
    """Say which operation the search could not place, and after how much."""
    op = result.stuck
    shown = result.order[-6:]
    placed = ", ".join(f"#{o.index}" for o in shown) or "nothing"
    if len(result.order) > len(shown):
        placed = "..., " + placed
    prefix = (
        f"the longest linearizable prefix found places {len(result.order)} of {result.operations} "
        f"operations ({placed}) and leaves the register at {result.state!r}"
    )
    key = f"key {result.key!r}: " if result.key != "" else ""
    if op is None:
        return key + prefix
    if op.kind == "read":
        need = (
            "no operation that could still take effect before it completed makes the register hold "
            f"{op.output!r}"
        )
    elif op.kind == "cas":
        need = (
            f"no operation that could still take effect before it completed makes the value "
            f"{'equal to' if op.output else 'different from'} {op.value[0]!r}"
        )
    else:
        need = "it could not take effect before it completed"
    return (
        f"{key}{op.describe()} cannot be placed: {prefix}; from there {need}, and no other order gets further"
    )


def _check_key(
    key: str, ops: list[CheckOp], model: Model, deadline: float, use_cache: bool = True
) -> KeyResult:
    """Wing & Gong / Lowe search with Porcupine's (bitset, state) cache over one key's operations.

    The history is a doubly linked list of call and return entries in time
    order (calls before returns at equal times). The search walks it: at a
    call, try to linearize that operation now (its step must be legal and the
    resulting (set, state) new), and if so *lift* its call and return out of
    the list and restart from the head; at a return whose call was not
    linearized, nothing can be placed in time, so backtrack: undo the most
    recent linearization and try the next candidate after it.
    """
    n = len(ops)
    if n == 0:
        return KeyResult(key, "linearizable", 0)
    # entries: 0..n-1 are calls, n..2n-1 returns; node 2n is the head sentinel
    order = sorted(range(2 * n), key=lambda e: (ops[e % n].call, 0, e) if e < n else (ops[e - n].ret, 1, e))
    head = 2 * n
    nxt = [-1] * (2 * n + 1)
    prv = [-1] * (2 * n + 1)
    last = head
    for e in order:
        nxt[last], prv[e] = e, last
        last = e
    step = model.step
    state = model.init
    linearized = 0
    stack: list[tuple[int, Any]] = []  # (op id, state before it)
    cache: set[tuple[int, Any]] = {(0, state)}
    best: tuple[int, list[int], Any, int] = (-1, [], state, -1)  # (count, order, state, stuck op)
    explored = 0
    entry = nxt[head]
    while nxt[head] != -1:
        explored += 1
        if explored & 0x3FF == 0 and _time.perf_counter() > deadline:
            return KeyResult(key, "unknown", n, explored=explored)
        if entry < n:  # a call: try to linearize it here
            ok, new_state = step(state, ops[entry])
            if ok:
                new_set = linearized | (1 << entry)
                if not use_cache or (new_set, new_state) not in cache:
                    if use_cache:
                        cache.add((new_set, new_state))
                    stack.append((entry, state))
                    state, linearized = new_state, new_set
                    ret = entry + n  # lift the call and its return out of the list
                    nxt[prv[entry]], prv[nxt[entry]] = nxt[entry], prv[entry]
                    nxt[prv[ret]] = nxt[ret]
                    if nxt[ret] != -1:
                        prv[nxt[ret]] = prv[ret]
                    entry = nxt[head]
                    continue
            entry = nxt[entry]
        else:  # a return whose call is not linearized yet: dead end
            if len(stack) > best[0]:
                best = (len(stack), [i for i, _ in stack], state, entry - n)
            if not stack:
                count, placed, at_state, stuck = best
                return KeyResult(
                    key, "not linearizable", n, [ops[i] for i in placed], ops[stuck], at_state, explored
                )
            top, state = stack.pop()
            linearized &= ~(1 << top)
            ret = top + n  # unlift: put the return back, then the call
            if nxt[ret] != -1:
                prv[nxt[ret]] = ret
            nxt[prv[ret]] = ret
            nxt[prv[top]] = top
            prv[nxt[top]] = top
            entry = nxt[top]
    return KeyResult(key, "linearizable", n, [ops[i] for i, _ in stack], None, state, explored)


# -- registers on the simulated network -------------------------------------------------------------

Stamp = tuple[float, str]  # (time or counter, node): a total order on versions


class RegisterClient(Node):
    """A closed-loop client: one operation at a time against its ``home`` replica.

    A reply ``ok`` completes the operation; ``unavailable`` completes it as
    ``fail`` (the replica guarantees it did nothing); silence for ``timeout``
    ms completes it as ``info`` (it may or may not have happened).
    """

    def __init__(self, name: str, home: str, cluster: RegisterCluster, timeout: float) -> None:
        super().__init__(name)
        self.home, self.cluster, self.timeout = home, cluster, timeout
        self.current: Operation | None = None
        self.count = 0
        self.looping = False  # True while running the closed-loop workload

    def next_op(self) -> None:
        c = self.cluster
        if self.net.now >= c.duration:
            return
        rng = c.network.rng
        key = c.keys[rng.randrange(len(c.keys))]
        self.count += 1
        if rng.random() < c.write_share:
            op = c.history.invoke(self.name, "write", key, f"{self.name}-{self.count}", self.net.now)
        else:
            op = c.history.invoke(self.name, "read", key, None, self.net.now)
        op.node = self.home
        self.current = op
        self.send(
            self.home,
            {"type": "request", "op": op.index, "kind": op.kind, "key": key, "value": op.value},
            op=op.index,
        )
        self.set_timer(self.timeout, lambda index=op.index: self.finish(index, "info", note="timed out"))

    def finish(self, index: int, outcome: str, value: Any = None, note: str = "") -> None:
        op = self.current
        if op is None or op.index != index:
            return  # a late reply to an operation already given up on
        self.current = None
        self.cluster.history.complete(op, outcome, self.net.now, value=value, node=self.home, note=note)
        if not self.looping:
            return
        think = self.cluster.think
        self.set_timer(round(self.net.rng.expovariate(1 / think), 3) if think else 0.0, self.next_op)

    def on_message(self, msg: Message) -> None:
        p = msg.payload
        if p["type"] == "ok":
            self.finish(p["op"], "ok", value=p.get("value"))
        elif p["type"] == "unavailable":
            self.finish(p["op"], "fail", note=p["why"])


class RegisterCluster:
    """What CP and AP registers share: replicas ``n1..nN``, clients ``c1..cM`` and a workload.

    Client ``ci`` talks to replica ``n((i-1) mod N + 1)``, the replica on its side of
    any partition (as a client in one data centre talks to the servers there).
    """

    system = "register"
    replica_class: type[Node] = Node

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
        self.replica_names = [f"n{i}" for i in range(1, replicas + 1)]
        for name in self.replica_names:
            self.network.add(self.replica_class(name, self))
        self.clients = [
            RegisterClient(f"c{i}", self.replica_names[(i - 1) % replicas], self, timeout)
            for i in range(1, clients + 1)
        ]
        for client in self.clients:
            self.network.add(client)
        self.think, self.write_share, self.keys, self.duration = think, write_share, keys, duration

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
        c: RegisterClient = self.network.node(client)  # type: ignore[assignment]

        def go() -> None:
            op = self.history.invoke(client, kind, key, value, self.network.now)
            op.node = c.home
            c.current = op
            c.send(
                c.home,
                {"type": "request", "op": op.index, "kind": kind, "key": key, "value": value},
                op=op.index,
            )
            c.set_timer(c.timeout, lambda: c.finish(op.index, "info", note="timed out"))

        self.network.at(self.network.now if at is None else at, go)

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
        return {name: self.network.node(name).disk.get(key, (None, None))[1] for name in self.replica_names}


class _Pending:
    """A request a CP coordinator is working on (two quorum round trips, ABD style)."""

    def __init__(self, client: str, op: int, kind: str, key: str, value: Any) -> None:
        self.client, self.op, self.kind, self.key, self.value = client, op, kind, key, value
        self.phase = "get"
        self.replies: dict[str, tuple[Stamp, Any]] = {}
        self.acks: set[str] = set()
        self.result: Any = None


class QuorumReplica(Node):
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

    def start(self, client: str, p: dict) -> None:
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

    def on_got(self, src: str, p: dict) -> None:
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

    def on_put_ok(self, src: str, p: dict) -> None:
        req = self.pending.get(p["req"])
        if req is None or req.phase != "put":
            return
        req.acks.add(src)
        if len(req.acks) >= self.cluster.majority:
            del self.pending[req.op]
            reply = {"type": "ok", "op": req.op}
            if req.kind == "read":
                reply["value"] = req.result
            self.send(req.client, reply, op=req.op)


class CPRegister(RegisterCluster):
    """A register that chooses Consistency: every operation needs a majority of replicas.

    Like etcd or ZooKeeper, the minority side of a partition stops serving
    reads and writes rather than risk a stale answer; the majority side goes on.
    """

    system = "CP (majority quorum)"
    replica_class = QuorumReplica

    def __init__(self, *args: Any, quorum_wait: float = 20.0, **kwargs: Any) -> None:
        self.quorum_wait = quorum_wait
        super().__init__(*args, **kwargs)


class LocalReplica(Node):
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


class APRegister(RegisterCluster):
    """A register that chooses Availability: every replica answers from its own copy.

    Like Dynamo-style stores at consistency level ONE: nothing ever waits for
    another replica, so every request on either side of a partition is
    answered, and the sides diverge until the heal (then last write wins).
    ``sync_writes=True`` makes writes wait for every replica while they can
    (up to ``sync_wait`` ms): the rare PA/EC combination.
    """

    system = "AP (every replica answers)"
    replica_class = LocalReplica

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
        for name in self.replica_names:
            self.network.node(name).start_sync()  # type: ignore[attr-defined]

    def converged(self) -> bool:
        return all(len(set(map(repr, self.values(key).values()))) == 1 for key in self.keys)


# -- experiments: CAP and PACELC, measured ------------------------------------------------------------

SYSTEMS = ("cp", "ap", "pa-ec")


def make_register(system: str, seed: int = 0, **kwargs: Any) -> RegisterCluster:
    """``cp``: :class:`CPRegister`; ``ap``: :class:`APRegister`; ``pa-ec``: APRegister with sync writes."""
    if system == "cp":
        return CPRegister(seed=seed, **kwargs)
    if system == "ap":
        return APRegister(seed=seed, **kwargs)
    if system == "pa-ec":
        return APRegister(seed=seed, sync_writes=True, **kwargs)
    raise ValueError(f"system must be one of {SYSTEMS}, got {system!r}")


@dataclass
class ExperimentResult:
    """What one run measured: availability, latency percentiles, stale reads and the verdict."""

    system: str
    seed: int
    partitioned: bool
    operations: int
    availability: float  # % of requests answered ok, over the whole run
    availability_by_side: dict[str, float]  # during the partition: % ok on each side
    latency_ms: dict[str, float | None]  # p50 / p95 / p99 of ok operations
    stale_reads: int
    verdict: Verdict
    history: History = field(repr=False)

    def row(self) -> str:
        sides = "  ".join(f"{side}: {pct:5.1f}%" for side, pct in self.availability_by_side.items())
        lat = self.latency_ms
        return (
            f"{self.system:<5} seed={self.seed:<3} ops={self.operations:<4} "
            f"available={self.availability:5.1f}%  "
            f"{sides}  p50={lat['p50']} p99={lat['p99']} ms  stale reads={self.stale_reads:<3} "
            f"-> {self.verdict.verdict}"
        )


def run_experiment(
    system: str,
    seed: int = 0,
    partition: bool = True,
    duration: float = 300.0,
    start: float | None = None,
    end: float | None = None,
    check_timeout: float = 10.0,
    **kwargs: Any,
) -> ExperimentResult:
    """Run a register under a closed-loop workload, optionally cutting ``n1`` (and its client) off.

    The partition isolates replica ``n1`` and client ``c1`` (the minority) from
    the rest between ``start`` and ``end`` ms (default: the middle 40% of the run).
    """
    cluster = make_register(system, seed=seed, duration=duration, **kwargs)
    start = duration * 0.3 if start is None else start
    end = duration * 0.7 if end is None else end
    nemesis = None
    minority = cluster.side_of(cluster.replica_names[0])
    if partition:
        nemesis = Nemesis().partition(start, minority).heal(end)
    history = cluster.workload(nemesis)
    ops = history.operations
    ok = [op for op in ops if op.outcome == "ok"]
    by_side: dict[str, float] = {}
    if partition:
        # requests made while the network was cut; one that succeeded only after the heal was
        # served by a healed network, so it does not count for either side
        during = [
            op
            for op in ops
            if start <= op.invoke_time < end and not (op.outcome == "ok" and op.complete_time > end)
        ]
        for side, members in (("minority", set(minority)), ("majority", None)):
            mine = (
                [op for op in during if (op.process in members) == (side == "minority")]
                if members
                else [op for op in during if op.process not in minority]
            )
            by_side[side] = (
                round(100 * sum(op.outcome == "ok" for op in mine) / len(mine), 1) if mine else 100.0
            )
    latencies = [op.latency for op in ok]
    return ExperimentResult(
        system=system,
        seed=seed,
        partitioned=partition,
        operations=len(ops),
        availability=round(100 * len(ok) / len(ops), 1) if ops else 100.0,
        availability_by_side=by_side,
        latency_ms={f"p{p}": percentile(latencies, p) for p in (50, 95, 99)},
        stale_reads=len(history.stale_reads()),
        verdict=check_linearizable(history, timeout=check_timeout),
        history=history,
    )


PACELC_CLASSES = {
    "cp": ("PC/EC", "etcd, ZooKeeper"),
    "ap": ("PA/EL", "DynamoDB, Cassandra at ONE"),
    "pa-ec": ("PA/EC", "sync replication that fails over to async"),
}


@dataclass
class PacelcRow:
    """One configuration, run twice: with no partition (the E of PACELC) and with one (the P)."""

    system: str
    label: str
    like: str
    write_p50: float | None
    read_p50: float | None
    stale_reads: int
    reads: int
    healthy_verdict: str
    minority_availability: float
    partition_verdict: str

    def __str__(self) -> str:
        return (
            f"{self.label:<6} {self.system:<6} ({self.like}) | no partition: write p50={self.write_p50} ms, "
            f"read p50={self.read_p50} ms, stale reads {self.stale_reads}/{self.reads}, "
            f"{self.healthy_verdict} "
            f"| partition: minority side {self.minority_availability:.0f}% available, "
            f"{self.partition_verdict}"
        )


def pacelc_measure(
    system: str, seed: int = 0, duration: float = 300.0, lag: float = 3.0, **kwargs: Any
) -> PacelcRow:
    """Measure one configuration's PACELC class: latency and stale reads when healthy, availability when cut.

    ``lag`` is the AP replicas' replication lag in ms (how long a write waits before it is
    shipped: a batching sender, a busy link); the CP register has no background shipping.
    """
    if system != "cp":
        kwargs["lag"] = lag
    healthy = run_experiment(system, seed=seed, partition=False, duration=duration, **kwargs)
    cut = run_experiment(system, seed=seed, partition=True, duration=duration, **kwargs)
    reads = healthy.history.ok("read")
    label, like = PACELC_CLASSES[system]
    return PacelcRow(
        system,
        label,
        like,
        percentile([op.latency for op in healthy.history.ok("write")], 50),
        percentile([op.latency for op in reads], 50),
        healthy.stale_reads,
        len(reads),
        healthy.verdict.verdict,
        cut.availability_by_side["minority"],
        cut.verdict.verdict,
    )


def check_corpus(
    folder: Path | None = None, names: Iterable[str] | None = None, timeout: float = 10.0
) -> list[tuple[str, str, str, float]]:
    """Check Jepsen's etcd histories against their known verdicts: ``(file, expected, got, seconds)`` rows.

    ``folder`` defaults to ``JEPSEN_CORPUS / "jepsen-etcd"``; raises FileNotFoundError (naming the
    folder) when the corpus is not there.
    """
    folder = folder or JEPSEN_CORPUS / "jepsen-etcd"
    verdicts_file = folder / "VERDICTS.txt"
    if not verdicts_file.is_file():
        raise FileNotFoundError(
            f"no VERDICTS.txt in {folder}: the Jepsen corpus lives in ../shared beside the project"
        )
    expected = dict(line.split() for line in verdicts_file.read_text().splitlines() if line.strip())
    rows = []
    for name in sorted(expected) if names is None else names:
        started = _time.perf_counter()
        verdict = check_linearizable(parse_jepsen_log(folder / name), REGISTER, timeout=timeout)
        rows.append((name, expected[name], verdict.verdict.replace(" ", "-"), _time.perf_counter() - started))
    return rows
