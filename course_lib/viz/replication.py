"""ReplicationExplorer and QuorumExplorer: change the knobs, re-run the seeded simulation, read the counts.

Each redraw replays a whole scenario from its seed, so the same settings
always show the same numbers (and a surprising picture can be reproduced with
:class:`~course_lib.replication.LeaderFollower` or
:class:`~course_lib.replication.LeaderlessQuorum` directly).
"""

from __future__ import annotations

import ipywidgets as widgets

from course_lib.netsim import Nemesis, percentile
from course_lib.replication import MODES, LeaderFollower, LeaderlessQuorum
from course_lib.viz.explorer import Explorer


class ReplicationExplorer(Explorer):
    """Leader-follower: pick a mode and a replication lag, write orders, then crash the leader."""

    title = "Leader-follower replication: when is a write safe?"

    def __init__(self, mode: str = "async", lag: int = 10, writes: int = 10, seed: int = 7) -> None:
        self.seed = seed
        self.crashed = False
        self.mode = widgets.ToggleButtons(
            options=list(MODES),
            value=mode,
            description="mode:",
            tooltips=["ack after every follower has it", "ack after one follower", "ack at once"],
        )
        self.lag = widgets.IntSlider(value=lag, min=0, max=40, step=5, description="lag (ms):")
        self.writes = widgets.IntSlider(value=writes, min=1, max=30, description="writes:")
        self.failover = widgets.Button(
            description="crash the leader", tooltip="crash n1 right after the last write"
        )
        self.reset = widgets.Button(description="restore", tooltip="run again without the crash")
        for control in (self.mode, self.lag, self.writes):
            control.observe(lambda _change: self.refresh(), names="value")
        self.failover.on_click(lambda _button: self.crash_leader())
        self.reset.on_click(lambda _button: self.restore())
        super().__init__([self.mode, self.lag, self.writes, self.failover, self.reset])

    def crash_leader(self) -> None:
        self.crashed = True
        self.refresh()

    def restore(self) -> None:
        self.crashed = False
        self.refresh()

    def simulate(self) -> LeaderFollower:
        """Writes every 3 ms; a read from follower n2 right after; maybe a crash of n1."""
        cluster = LeaderFollower(self.mode.value, followers=2, seed=self.seed, lag=float(self.lag.value))
        last = 3.0 * (self.writes.value - 1)
        for i in range(self.writes.value):
            cluster.write("orders", f"order-{i + 1}", at=3.0 * i)
        cluster.read("orders", at=last + 6.0, node="n2", process="reader")
        if self.crashed:
            cluster.failover(at=last + 5.0)
        cluster.run()
        return cluster

    def static_text(self) -> str:
        cluster = self.simulate()
        writes = [op for op in cluster.history.operations if op.kind == "write"]
        acked = [op for op in writes if op.outcome == "ok"]
        ack_ms = percentile(cluster.history.latencies("write"), 50)
        read = next(op for op in cluster.history.operations if op.kind == "read")
        lost = cluster.lost_writes()
        lines = [
            f"mode={self.mode.value}  lag={self.lag.value} ms  writes={len(writes)}  seed={self.seed}",
            f"acknowledged: {len(acked)}/{len(writes)}   median time to ack: {ack_ms} ms",
            f"read from follower n2 right after the last write: {read.value!r}"
            + (
                f"  (STALE: the last acked write was {acked[-1].value!r})"
                if read in cluster.history.stale_reads()
                else ""
            ),
        ]
        if self.crashed:
            moment, old, new = cluster.failovers[0] if cluster.failovers else (None, "n1", "?")
            lines.append(f"leader {old} crashed; {new} promoted at t={moment} ms")
            lines.append(
                f"LOST acknowledged writes: {len(lost)}"
                + (f"  {[op.value for op in lost]}" if lost else "  (none)")
            )
        else:
            lines.append("leader n1 is up (press 'crash the leader')")
        lines.append("")
        for name, log in cluster.state().items():
            lines.append(f"{name:<14} {len(log):>2} entries, last: {log[-1] if log else '-'}")
        return "\n".join(lines)


class QuorumExplorer(Explorer):
    """Leaderless quorums: choose N, W and R; see the overlap, the stale-read rate and the latency."""

    title = "Leaderless quorums: W + R > N?"

    def __init__(self, n: int = 3, w: int = 1, r: int = 1, seeds: int = 4, ops_per_client: int = 15) -> None:
        self.seeds, self.ops_per_client = seeds, ops_per_client
        self.n = widgets.IntSlider(value=n, min=1, max=7, description="N:")
        self.w = widgets.IntSlider(value=w, min=1, max=n, description="W:")
        self.r = widgets.IntSlider(value=r, min=1, max=n, description="R:")
        self._clamping = False
        self.n.observe(self._on_n, names="value")
        self.w.observe(self._on_quorum, names="value")
        self.r.observe(self._on_quorum, names="value")
        super().__init__([self.n, self.w, self.r])

    def _on_n(self, change) -> None:
        # Lowering a slider's max clamps its value, which would redraw once per slider: redraw once.
        self._clamping = True
        self.w.max = self.r.max = change["new"]
        self._clamping = False
        self.refresh()

    def _on_quorum(self, _change) -> None:
        if not self._clamping:
            self.refresh()

    def measure(self) -> tuple[float, float | None, float | None]:
        """Stale-read rate, median write and read latency over the seeds, with random faults."""
        n, w, r = self.n.value, min(self.w.value, self.n.value), min(self.r.value, self.n.value)
        stale = reads = 0
        write_ms: list[float] = []
        read_ms: list[float] = []
        for seed in range(self.seeds):
            cluster = LeaderlessQuorum(n, w, r, read_repair=False, seed=seed, timeout=20)
            Nemesis.random(seed, cluster.replica_names, duration=self.ops_per_client * 5).apply(
                cluster.network
            )
            cluster.workload(ops_per_client=self.ops_per_client)
            stale += len(cluster.history.stale_reads())
            reads += len(cluster.history.ok("read"))
            write_ms += cluster.history.latencies("write")
            read_ms += cluster.history.latencies("read")
        return (stale / reads if reads else 0.0), percentile(write_ms, 50), percentile(read_ms, 50)

    def static_text(self) -> str:
        n, w, r = self.n.value, min(self.w.value, self.n.value), min(self.r.value, self.n.value)
        rate, write_ms, read_ms = self.measure()
        # the worst case: the write lands on the first W replicas, the read asks the last R
        row = "".join(
            "B" if i < w and i >= n - r else "W" if i < w else "R" if i >= n - r else "." for i in range(n)
        )
        verdict = (
            "W + R > N: every read quorum overlaps every write quorum"
            if w + r > n
            else "W + R <= N: a read quorum can miss every replica that has the write"
        )
        return "\n".join(
            [
                f"N={n} W={w} R={r}  ->  {verdict}",
                f"worst case  [{row}]   W=has the write, R=asked by the read, B=both",
                f"stale reads: {rate:.1%} of successful reads ({self.seeds} seeded runs with random faults)",
                f"median latency: write {write_ms} ms, read {read_ms} ms",
            ]
        )
