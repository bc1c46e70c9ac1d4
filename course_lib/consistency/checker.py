"""Linearizability: could a history of reads, writes and compare-and-sets have come from *one* copy?

:func:`check_linearizable` decides whether each operation in a history can be
given a single instant, between its invocation and its completion, at which it
took effect, so that the operations in that order obey the register's rules.
It is Wing and Gong's search with Lowe's just-in-time linearization, memoising
``(linearized set, state)`` pairs as the Porcupine checker does, and it checks
each key on its own (P-compositionality: a history is linearizable iff each
key's sub-history is).

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
import time as _time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from course_lib.netsim import History, Operation

INF = math.inf
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
        done = INF if op.complete_time is None else op.complete_time
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
                    done,
                )
            )
        elif op.kind == "write":
            if outcome == "fail":
                continue
            ret = done if outcome == "ok" else INF
            ops.append(
                CheckOp(op.index, op.process, "write", op.key, _freeze(op.value), None, op.invoke_time, ret)
            )
        elif op.kind == "cas":
            expected, new = op.value
            output = {"ok": True, "fail": False}.get(outcome)
            ret = INF if output is None else done
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


# -- models ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A sequential specification: the initial state and how one operation changes it.

    ``step(state, op)`` returns ``(legal, new_state)``: whether ``op`` with
    its observed output could happen in ``state``, and the state after it.
    """

    name: str
    init: Hashable  # states go into the search's cache, a set, so they must be hashable
    step: Callable[[Any, CheckOp], tuple[bool, Hashable]]
    explain_state: Callable[[Any], str] = repr


def register_step(state: Hashable, op: CheckOp) -> tuple[bool, Hashable]:
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
    state: Hashable = None  # the state after ``order``
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


def as_check_ops(history: History | Iterable[Operation] | Iterable[CheckOp]) -> list[CheckOp]:
    """A netsim History, a list of netsim Operations or a list of CheckOps, as CheckOps."""
    if isinstance(history, History):
        return from_operations(history.operations)
    recorded: list[Operation] = []
    checked: list[CheckOp] = []
    for item in history:
        if isinstance(item, Operation):
            recorded.append(item)
        elif isinstance(item, CheckOp):
            checked.append(item)
        else:
            raise TypeError(f"a history holds netsim Operations or CheckOps, not {type(item).__name__}")
    if recorded and checked:
        raise TypeError("a history holds netsim Operations or CheckOps, not a mix of both")
    return from_operations(recorded) if recorded else checked


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
    stack: list[tuple[int, Hashable]] = []  # (op id, state before it)
    cache: set[tuple[int, Hashable]] = {(0, state)}
    best: tuple[int, list[int], Hashable, int] = (-1, [], state, -1)  # (count, order, state, stuck op)
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
