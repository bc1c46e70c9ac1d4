"""CAPExplorer and a space-time plot of a history: watch CP refuse, AP accept, and the checker decide.

The explorer keeps a list of the actions you clicked and replays them, from
the same seed, on a :class:`~course_lib.consistency.CPRegister` and an
:class:`~course_lib.consistency.APRegister` side by side; the same clicks
always give the same picture (and the same verdicts).
"""

from __future__ import annotations

from course_lib.consistency import (
    INF,
    APRegister,
    CheckOp,
    CPRegister,
    Verdict,
    as_check_ops,
    check_linearizable,
)
from course_lib.viz.explorer import ActionExplorer

ACTIONS = {
    "partition": "cut n1 (with client c1) off from n2, n3",
    "heal": "reconnect everybody",
    "write-minority": "c1 writes through n1 (the minority side)",
    "write-majority": "c2 writes through n2 (the majority side)",
    "read-minority": "c1 reads through n1",
    "read-majority": "c2 reads through n2",
}
STEP_MS = 100.0  # time between two actions: long enough for every request to finish or time out


def replay(system: str, actions: list[str], seed: int = 1) -> CPRegister | APRegister:
    """Play ``actions`` one every ``STEP_MS`` ms on a fresh CP or AP register; return the cluster."""
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown:
        raise ValueError(f"unknown action(s) {unknown}; choose from {sorted(ACTIONS)}")
    duration = (len(actions) + 1) * STEP_MS
    cluster = (
        CPRegister(seed=seed, duration=duration)
        if system == "cp"
        else APRegister(seed=seed, duration=duration)
    )
    net = cluster.network
    writes = 0
    for step, action in enumerate(actions, start=1):
        at = step * STEP_MS
        if action == "partition":
            net.at(at, lambda: net.partition_nodes(cluster.side_of("n1")))
        elif action == "heal":
            net.at(at, net.heal)
        else:
            kind, side = action.split("-")
            client = "c1" if side == "minority" else "c2"
            if kind == "write":
                writes += 1
            cluster.request(client, kind, "x", f"v{writes}" if kind == "write" else None, at=at)
    net.run(until=(len(actions) + 1) * STEP_MS)
    cluster.history.close(net.now)
    return cluster


class CAPExplorer(ActionExplorer):
    """Partition and heal buttons, writes and reads on either side; CP and AP answer side by side."""

    title = "CAP: during a partition, choose C or A"

    ACTIONS = ACTIONS

    def __init__(self, actions: list[str] | None = None, seed: int = 1) -> None:
        self.seed = seed  # before the base class draws the first screen
        super().__init__(actions)

    def static_text(self) -> str:
        if not self.actions:
            return "no actions yet: try write-majority, partition, write-minority, read-majority, heal"
        runs = {system: replay(system, self.actions, self.seed) for system in ("cp", "ap")}
        lines = [f"{'#':>2} {'action':<15} {'CP (majority quorum)':<34} AP (every replica answers)"]
        ops = {system: iter(run.history.operations) for system, run in runs.items()}
        for i, action in enumerate(self.actions, start=1):
            if action in ("partition", "heal"):
                lines.append(f"{i:>2} {action:<15} {'-- ' + ACTIONS[action]}")
                continue
            cells = []
            for system in ("cp", "ap"):
                op = next(ops[system])
                cells.append(_outcome(op))
            lines.append(f"{i:>2} {action:<15} {cells[0]:<34} {cells[1]}")
        lines.append("")
        for system, run in runs.items():
            history = run.history
            asked = len(history.operations)
            answered = sum(op.outcome == "ok" for op in history.operations)
            verdict = check_linearizable(history)
            values = " ".join(f"{n}={v!r}" for n, v in run.values("x").items())
            lines.append(f"{system.upper()}: answered {answered}/{asked}; replicas {values}")
            lines.append(
                f"    checker: {verdict.verdict}"
                + (f" -- {verdict.explanation.split(';')[0]}" if verdict.ok is False else "")
            )
        return "\n".join(lines)


def _outcome(op) -> str:
    if op.outcome == "ok":
        return f"ok {op.value!r}" if op.kind == "read" else f"ok (wrote {op.value!r})"
    if op.outcome == "fail":
        return "REFUSED (" + op.note + ")"
    return "no answer (" + op.note + ")"


def plot_history(
    history,
    verdict: Verdict | None = None,
    ax=None,
    title: str = "History",
    partition: tuple[float, float] | None = None,
):
    """A space-time diagram: one lane per process, a bar from invocation to completion per operation.

    An operation with an unknown outcome is drawn open-ended; the operation the
    checker could not place (``verdict``) is drawn in red; ``partition`` shades
    the time the network was cut.
    """
    import matplotlib.pyplot as plt

    ops: list[CheckOp] = as_check_ops(history)
    if ax is None:
        _fig, ax = plt.subplots(figsize=(8, 0.6 + 0.7 * len({op.process for op in ops})))
    stuck = None
    if verdict is not None and verdict.ok is False:
        stuck = next((r.stuck for r in verdict.keys.values() if r.stuck is not None), None)
    processes = sorted({op.process for op in ops})
    finite = [op.ret for op in ops if op.ret != INF] + [op.call for op in ops]
    left = min(finite, default=0)
    right = max(finite, default=1)
    right += 0.05 * (right - left) + 1
    for op in ops:
        lane = processes.index(op.process)
        end = right if op.ret == INF else op.ret
        colour = "#BF092F" if stuck is not None and op.index == stuck.index else "#3B9797"
        ax.plot(
            [op.call, end],
            [lane, lane],
            color=colour,
            linewidth=6,
            solid_capstyle="butt",
            linestyle="--" if op.ret == INF else "-",
        )
        label = (
            f"R {op.output}"
            if op.kind == "read"
            else f"W {op.value}"
            if op.kind == "write"
            else f"CAS {op.value[0]}->{op.value[1]}"
        )
        ax.text((op.call + end) / 2, lane + 0.18, label, ha="center", fontsize=8)
    ax.set_yticks(range(len(processes)), processes)
    ax.set_ylim(-0.6, len(processes) - 0.2)
    if partition is not None:
        ax.axvspan(
            max(partition[0], left),
            min(partition[1], right),
            color="#BF092F",
            alpha=0.08,
            label="network partitioned",
        )
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlim(left - 0.02 * (right - left), right)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("process")
    ax.set_title(title)
    return ax
