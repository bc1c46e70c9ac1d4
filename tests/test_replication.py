"""course_lib.replication: what each strategy promises, checked on seeded simulations.

A failing property prints the seed (and hypothesis prints the shrunk example),
so the run can be replayed with the same arguments.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.netsim import Latency, Nemesis
from course_lib.replication import LeaderFollower, LeaderlessQuorum, MultiLeader, dominates, stale_read_grid

OVERLAPPING = [(n, w, r) for n in range(1, 6) for w in range(1, n + 1) for r in range(1, n + 1) if w + r > n]
DISJOINT = [(n, w, r) for n in range(2, 6) for w in range(1, n + 1) for r in range(1, n + 1) if w + r <= n]


# -- leaderless quorums ---------------------------------------------------------------------

@given(st.sampled_from(OVERLAPPING), st.integers(0, 10_000), st.booleans())
def test_with_no_failures_and_w_plus_r_above_n_every_read_sees_the_latest_acknowledged_write(nwr, seed, repair):
    n, w, r = nwr
    cluster = LeaderlessQuorum(n, w, r, read_repair=repair, seed=seed, clients=3)
    history = cluster.workload(ops_per_client=8, keys=("x", "y"))
    assert history.ok("read"), f"seed={seed}: no read completed"
    stale = history.stale_reads()
    assert stale == [], f"seed={seed} n={n} w={w} r={r}: stale reads {[(op.index, op.value) for op in stale]}"


@given(st.sampled_from(OVERLAPPING), st.integers(0, 10_000))
def test_w_plus_r_above_n_stays_fresh_even_under_crashes_and_partitions(nwr, seed):
    n, w, r = nwr
    cluster = LeaderlessQuorum(n, w, r, read_repair=False, seed=seed, clients=2, timeout=20)
    Nemesis.random(seed, cluster.replica_names, duration=100, faults=3).apply(cluster.network)
    stale = cluster.workload(ops_per_client=10, keys=("x",)).stale_reads()
    assert stale == [], f"seed={seed} n={n} w={w} r={r}: stale reads {[(op.index, op.value) for op in stale]}"


@settings(max_examples=len(DISJOINT))
@given(st.sampled_from(DISJOINT))
def test_with_w_plus_r_at_most_n_some_seed_gives_a_stale_read(nwr):
    n, w, r = nwr
    # Each seed drives both the network and a random nemesis (crashes and partitions).
    for seed in range(200):
        cluster = LeaderlessQuorum(n, w, r, read_repair=False, seed=seed, clients=2, timeout=20)
        Nemesis.random(seed, cluster.replica_names, duration=100, faults=3).apply(cluster.network)
        cluster.workload(ops_per_client=10, keys=("x",))
        if cluster.history.stale_reads():
            return
    pytest.fail(f"n={n} w={w} r={r}: no stale read in seeds 0..199")


def test_read_repair_fixes_a_replica_that_missed_a_write():
    for repair, expected in ((True, (1, "new")), (False, (0, None))):
        cluster = LeaderlessQuorum(3, 2, 3, read_repair=repair, seed=5)
        net = cluster.network
        net.at(0, lambda: net.crash("n3"))
        cluster.write("x", "new", at=1)
        net.at(50, lambda: net.restart("n3"))
        cluster.read("x", at=60)
        cluster.run()
        assert net.node("n3").get("x") == expected, f"seed=5 read_repair={repair}"
        assert cluster.history.ok("read")[0].value == "new"
        assert cluster.repairs == (1 if repair else 0)


def test_bigger_quorums_cost_latency():
    fast = LeaderlessQuorum(5, 1, 1, seed=2)
    slow = LeaderlessQuorum(5, 5, 5, seed=2)
    fast.workload(20)
    slow.workload(20)
    assert fast.latency_ms("write") < slow.latency_ms("write")
    assert fast.latency_ms("read") < slow.latency_ms("read")


def test_stale_read_grid_is_zero_wherever_quorums_overlap():
    grid = stale_read_grid(3, seeds=range(2), ops_per_client=10)
    assert set(grid) == {(w, r) for w in range(1, 4) for r in range(1, 4)}
    assert all(rate == 0 for (w, r), rate in grid.items() if w + r > 3)
    assert grid[(1, 1)] > 0


def test_quorum_sizes_are_checked():
    with pytest.raises(ValueError, match="w must be between 1 and n=3"):
        LeaderlessQuorum(3, 4, 1)


# -- leader-follower -----------------------------------------------------------------------

def failover_run(mode: str, seed: int, writes: list[float], crash_at: float, lag: float, followers: int = 2):
    cluster = LeaderFollower(mode, followers=followers, seed=seed, lag=lag)
    for i, at in enumerate(sorted(writes)):
        cluster.write("k", f"v{i}", at=at)
    cluster.failover(at=crash_at)
    cluster.write("k", "after-failover", at=crash_at + 50)
    cluster.run()
    return cluster


@given(st.sampled_from(["sync", "semi-sync"]), st.integers(0, 10_000),
       st.lists(st.floats(0, 60, allow_nan=False).map(lambda t: round(t, 1)), min_size=1, max_size=12),
       st.floats(0, 60).map(lambda t: round(t, 1)), st.floats(0, 20).map(lambda t: round(t, 1)),
       st.integers(1, 3))
def test_sync_replication_never_loses_an_acknowledged_write_on_failover(mode, seed, writes, crash_at, lag, followers):
    cluster = failover_run(mode, seed, writes, crash_at, lag, followers)
    lost = cluster.lost_writes()
    assert lost == [], f"seed={seed} mode={mode}: lost {[op.value for op in lost]}"
    assert cluster.failovers, f"seed={seed}: no follower was promoted"


def test_async_replication_loses_acknowledged_writes_on_failover_and_counts_them():
    losses = {}
    for seed in range(20):
        cluster = failover_run("async", seed, [float(t) for t in range(0, 30, 2)], crash_at=29.0, lag=5.0)
        losses[seed] = len(cluster.lost_writes())
        new_leader = cluster.replica(cluster.leader)
        for op in cluster.lost_writes():
            assert op.outcome == "ok" and op.index not in {e.op for e in new_leader.log}, f"seed={seed}"
    assert sum(losses.values()) > 0, f"no async loss in seeds 0..19: {losses}"
    assert losses[0] > 0, f"seed=0 lost nothing: {losses}"


def test_the_client_waits_longer_for_sync_than_for_async():
    medians = {}
    for mode in ("async", "semi-sync", "sync"):
        cluster = LeaderFollower(mode, seed=3, lag=4.0)
        for i in range(20):
            cluster.write("k", i, at=i * 10.0)
        cluster.run()
        latencies = sorted(op.latency for op in cluster.history.ok("write"))
        medians[mode] = latencies[len(latencies) // 2]
    assert medians["async"] < medians["semi-sync"] <= medians["sync"], f"seed=3: {medians}"


def test_reading_from_a_lagging_follower_breaks_read_your_writes():
    cluster = LeaderFollower("async", seed=1, lag=20.0)
    cluster.write("profile", "old", at=0)
    cluster.write("profile", "new", at=100)
    cluster.read("profile", at=110, node="n2")   # right after the ack, from a follower
    cluster.read("profile", at=110, node="n1")   # the leader has it
    cluster.read("profile", at=200, node="n2")   # later the follower has caught up
    cluster.run()
    reads = cluster.history.ok("read")
    assert [op.value for op in reads] == ["old", "new", "new"], "seed=1"
    assert cluster.history.stale_reads() == [reads[0]]
    assert cluster.lag_ms()["n2"] >= 20.0


def test_leader_follower_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        LeaderFollower("eventually")


# -- multi-leader --------------------------------------------------------------------------

def concurrent_cart(conflict: str, seed: int = 0, gap: float = 5.0) -> MultiLeader:
    cluster = MultiLeader(conflict, seed=seed)
    cluster.write("cart", "book", at=0, dc="dc1")
    cluster.write("cart", "lamp", at=gap, dc="dc2")
    cluster.run()
    return cluster


@given(st.integers(0, 10_000), st.floats(0, 20).map(lambda t: round(t, 1)))
def test_lww_silently_drops_one_of_two_concurrent_writes(seed, gap):
    cluster = concurrent_cart("lww", seed, gap)
    assert [op.outcome for op in cluster.history.operations] == ["ok", "ok"], f"seed={seed}"
    assert cluster.converged(), f"seed={seed}"
    assert len(cluster.lost_writes()) == 1, f"seed={seed}"
    survivor = cluster.values("cart", "dc1")
    assert survivor != [cluster.lost_writes()[0].value], f"seed={seed}"


def test_siblings_keep_both_concurrent_writes_until_the_application_merges_them():
    cluster = concurrent_cart("siblings")
    assert cluster.values("cart", "dc1") == cluster.values("cart", "dc2") == ["book", "lamp"]
    assert cluster.lost_writes() == []
    cluster.read("cart", at=200, dc="dc2")
    cluster.write("cart", "book+lamp", at=300, dc="dc2")  # the merge, written with both in context
    cluster.run()
    assert cluster.history.ok("read")[0].value == ["book", "lamp"]
    assert cluster.values("cart", "dc1") == ["book+lamp"] and cluster.converged()


def test_writes_far_enough_apart_do_not_conflict():
    cluster = concurrent_cart("lww", gap=500.0)
    assert cluster.lost_writes() == [] and not cluster.conflicts
    assert cluster.values("cart", "dc1") == ["lamp"]


def test_with_clock_skew_lww_can_keep_the_earlier_write():
    cluster = MultiLeader("lww", seed=0, clock_skew={"dc1": 50.0})
    cluster.write("cart", "early", at=0, dc="dc1")
    cluster.write("cart", "late", at=10, dc="dc2")
    cluster.run()
    assert cluster.values("cart", "dc2") == ["early"]
    assert [op.value for op in cluster.lost_writes()] == ["late"]


def test_version_vectors_compare():
    assert dominates({"a": 2, "b": 1}, {"a": 1})
    assert not dominates({"a": 1}, {"b": 1}) and not dominates({"b": 1}, {"a": 1})


def test_multi_leader_rejects_an_unknown_conflict_policy():
    with pytest.raises(ValueError, match="'lww' or 'siblings'"):
        MultiLeader("merge")


def test_latency_model_is_used_per_link():
    cluster = MultiLeader("lww", seed=0, cross=Latency(100.0, 0.0, "none"))
    cluster.write("k", 1, at=0, dc="dc1")
    cluster.run()
    assert cluster.network.now >= 100.0
