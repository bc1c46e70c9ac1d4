"""CAP and PACELC, measured: run a CP or an AP register with and without a partition.

* **CAP.** :func:`run_experiment` drives a register with a closed-loop
  workload and a partition nemesis and reports availability (overall and on
  each side of the cut), latency percentiles, stale reads and the
  linearizability checker's verdict.
* **PACELC.** :func:`pacelc_measure` runs the same workload with no partition
  at all and shows the other half of the trade-off: waiting for replicas costs
  latency, not waiting costs stale reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from course_lib.consistency.checker import Verdict, check_linearizable
from course_lib.consistency.registers import APRegister, CPRegister
from course_lib.netsim import History, Nemesis, Operation, percentile

SYSTEMS = ("cp", "ap", "pa-ec")


def make_register(system: str, seed: int = 0, **kwargs: Any) -> CPRegister | APRegister:
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
    ok = history.ok()
    by_side: dict[str, float] = {}
    if partition:
        # requests made while the network was cut; one that succeeded only after the heal was
        # served by a healed network, so it does not count for either side
        during = [op for op in ops if start <= op.invoke_time < end and not _ok_after(op, end)]
        sides = {
            "minority": [op for op in during if op.process in minority],
            "majority": [op for op in during if op.process not in minority],
        }
        for side, mine in sides.items():
            by_side[side] = (
                round(100 * sum(op.outcome == "ok" for op in mine) / len(mine), 1) if mine else 100.0
            )
    return ExperimentResult(
        system=system,
        seed=seed,
        partitioned=partition,
        operations=len(ops),
        availability=round(100 * len(ok) / len(ops), 1) if ops else 100.0,
        availability_by_side=by_side,
        latency_ms={f"p{p}": percentile(history.latencies(), p) for p in (50, 95, 99)},
        stale_reads=len(history.stale_reads()),
        verdict=check_linearizable(history, timeout=check_timeout),
        history=history,
    )


def _ok_after(op: Operation, time: float) -> bool:
    """Did ``op`` succeed, but only after ``time``?"""
    return op.outcome == "ok" and op.complete_time is not None and op.complete_time > time


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
        percentile(healthy.history.latencies("write"), 50),
        percentile(healthy.history.latencies("read"), 50),
        healthy.stale_reads,
        len(reads),
        healthy.verdict.verdict,
        cut.availability_by_side["minority"],
        cut.verdict.verdict,
    )
