"""Benchmarks for module 11: ring lookups (bisect vs a linear scan), simulator events per
second, and how long an explorer takes to redraw after one control change.

    .venv/bin/python benchmarks/data_architecture.py           # full run (well under 2 minutes)
    .venv/bin/python benchmarks/data_architecture.py --quick   # a small smoke run

Timings are wall-clock and vary by machine; the ratios are the point.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_lib.replication import LeaderFollower, LeaderlessQuorum  # noqa: E402
from course_lib.sharding import ConsistentHashRing, stable_hash  # noqa: E402

REDRAW_TARGET_MS = 50.0
T = TypeVar("T")


def rate(func: Callable[[T], object], items: Sequence[T]) -> float:
    """Calls of ``func`` per second over ``items``."""
    start = time.perf_counter()
    for item in items:
        func(item)
    return len(items) / (time.perf_counter() - start)


def bench_ring(lookups: int) -> None:
    ring = ConsistentHashRing([f"node-{i}" for i in range(10)], vnodes=100)  # 1,000 virtual nodes
    keys = [f"user:{i}" for i in range(lookups)]
    assert all(ring.shard_for(k) == ring.shard_for_linear(k) for k in keys[:200])
    fast = rate(ring.shard_for, keys)
    slow = rate(ring.shard_for_linear, keys[: max(200, lookups // 20)])
    print(f"ring lookups, 10 nodes x 100 vnodes = {len(ring.points)} points")
    print(f"  bisect      : {fast:>12,.0f} lookups/s")
    print(f"  linear scan : {slow:>12,.0f} lookups/s")
    print(f"  bisect is {fast / slow:.0f}x faster (both include hashing the key with md5)")
    hashes = [stable_hash(k) for k in keys]

    def linear_owner(h: int) -> str:
        for point, owner in zip(ring.points, ring.owners, strict=False):
            if point > h:
                return owner
        return ring.owners[0]

    fast = rate(ring.owner_of_hash, hashes)
    slow = rate(linear_owner, hashes[: max(200, lookups // 20)])
    print("  keys hashed in advance (the search alone):")
    print(f"  bisect      : {fast:>12,.0f} lookups/s")
    print(f"  linear scan : {slow:>12,.0f} lookups/s")
    print(f"  bisect is {fast / slow:.0f}x faster")


def bench_simulator(ops: int) -> None:
    print("simulator")
    for name, make in (
        ("leaderless quorum N=5 W=3 R=3", lambda: LeaderlessQuorum(5, 3, 3, seed=1, clients=4)),
        ("leaderless quorum N=3 W=1 R=1", lambda: LeaderlessQuorum(3, 1, 1, seed=1, clients=4)),
    ):
        cluster = make()
        start = time.perf_counter()
        cluster.workload(ops_per_client=ops)
        elapsed = time.perf_counter() - start
        events = cluster.network.events_processed
        print(f"  {name:<32}: {events:>8,} events in {elapsed:6.3f} s = {events / elapsed:>10,.0f} events/s")
    leader_follower = LeaderFollower("sync", followers=2, seed=1, lag=2.0)
    for i in range(ops * 4):
        leader_follower.write("k", i, at=i * 1.0)
    start = time.perf_counter()
    leader_follower.run()
    elapsed = time.perf_counter() - start
    events = leader_follower.network.events_processed
    print(
        f"  {'leader-follower sync, 2 followers':<32}: {events:>8,} events in {elapsed:6.3f} s = "
        f"{events / elapsed:>10,.0f} events/s"
    )


def redraw_ms(change: Callable[[int], object], repeats: int) -> float:
    """Median wall time of one control change (each change triggers a full redraw)."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        change(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_explorers(repeats: int) -> None:
    from course_lib.viz.replication import QuorumExplorer, ReplicationExplorer
    from course_lib.viz.sharding import RingExplorer

    replication, quorum, ring = ReplicationExplorer(), QuorumExplorer(), RingExplorer()
    cases = [
        ("ReplicationExplorer: lag slider", lambda i: setattr(replication.lag, "value", 5 * (i % 8 + 1))),
        ("QuorumExplorer: W slider", lambda i: setattr(quorum.w, "value", 1 + i % 3)),
        ("RingExplorer: vnodes slider", lambda i: setattr(ring.vnodes, "value", 50 + 10 * (i % 10) + 1)),
        ("RingExplorer: add a node", lambda i: ring.add.click()),
    ]
    print(f"explorer redraw after one change (median of {repeats}; target < {REDRAW_TARGET_MS:.0f} ms)")
    for name, change in cases:
        ms = redraw_ms(change, repeats)
        verdict = "ok" if ms < REDRAW_TARGET_MS else "SLOW"
        print(f"  {name:<32}: {ms:7.2f} ms  {verdict}  ({REDRAW_TARGET_MS / ms:.1f}x under the target)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(argv)
    bench_ring(lookups=2_000 if args.quick else 100_000)
    bench_simulator(ops=20 if args.quick else 500)
    bench_explorers(repeats=3 if args.quick else 15)


if __name__ == "__main__":
    main()
