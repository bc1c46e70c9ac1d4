"""course_lib.netsim: a seeded simulator replays exactly; faults do what they say.

Every assertion about a run names its seed, so a failure can be replayed.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.netsim import History, Latency, Message, Nemesis, Network, Node, Partition, percentile
from course_lib.replication import LeaderlessQuorum


class Recorder(Node):
    """Remembers what it received; replies 'pong' to 'ping'."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.got: list[tuple[float, str, object]] = []

    def on_message(self, msg: Message) -> None:
        self.got.append((self.net.now, msg.src, msg.payload))
        if msg.payload == "ping":
            self.send(msg.src, "pong")


def pair(seed: int = 1, **kwargs) -> tuple[Network, Recorder, Recorder]:
    net = Network(seed=seed, **kwargs)
    a, b = Recorder("a"), Recorder("b")
    net.add(a)
    net.add(b)
    return net, a, b


def busy_run(seed: int) -> str:
    """A quorum workload under a random nemesis, loss, duplication and reordering."""
    cluster = LeaderlessQuorum(n=3, w=2, r=2, seed=seed, clients=2, loss=0.05)
    cluster.network.duplicate, cluster.network.reorder = 0.05, 0.05
    Nemesis.random(seed, cluster.replica_names, duration=60).apply(cluster.network)
    cluster.workload(ops_per_client=10, keys=("x", "y"))
    return cluster.network.report()


@given(st.integers(min_value=0, max_value=2**32))
def test_the_same_seed_gives_the_same_history_and_statistics_byte_for_byte(seed):
    first, second = busy_run(seed), busy_run(seed)
    assert first == second, f"seed={seed}: two runs differ"
    report = json.loads(first)
    assert report["history"]["operations"], f"seed={seed}: nothing happened"
    assert set(report["stats"]) >= {"messages_per_op", "latency_ms", "sent", "dropped"}


def test_the_same_seed_gives_the_same_report_in_another_process_with_another_hash_seed():
    # Python randomises str hashes per process (PYTHONHASHSEED); the simulator must not depend on them.
    import os
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, 'tests'); from test_netsim import busy_run; "
            "sys.stdout.write(busy_run(5))")
    outputs = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             cwd=str(__import__("pathlib").Path(__file__).resolve().parent.parent), timeout=120)
        assert run.returncode == 0, run.stderr
        outputs.add(run.stdout)
    assert outputs == {busy_run(5)}, "seed=5: the report differs between processes"


def test_different_seeds_give_different_runs():
    assert busy_run(1) != busy_run(2)


def test_messages_arrive_after_their_latency_and_ping_gets_pong():
    net, a, b = pair(latency=Latency(5.0, 0.0, "none"))
    net.send("a", "b", "ping")
    net.run()
    assert b.got == [(5.0, "a", "ping")]
    assert a.got == [(10.0, "b", "pong")]
    assert net.stats.summary()["latency_ms"] == {"p50": 5.0, "p95": 5.0, "p99": 5.0}


def test_loss_drops_about_the_given_share_and_counts_it():
    seed = 3
    net, _a, b = pair(seed=seed, loss=0.3)
    for i in range(1000):
        net.send("a", "b", i)
    net.run()
    assert 250 < net.stats.dropped_loss < 350, f"seed={seed}"
    assert len(b.got) == 1000 - net.stats.dropped_loss


def test_duplication_delivers_twice_and_reordering_lets_later_messages_overtake():
    seed = 4
    net, _a, b = pair(seed=seed, latency=Latency(1.0, 0.0, "none"), duplicate=0.2, reorder=0.2)
    for i in range(200):
        net.send("a", "b", i)
        net.run(until=net.now + 0.5)
    net.run()
    received = [p for _t, _src, p in b.got]
    assert len(received) == 200 + net.stats.duplicated, f"seed={seed}"
    assert received != sorted(received), f"seed={seed}: nothing was reordered"


def test_a_partition_drops_messages_across_it_until_healed():
    net, a, b = pair()
    net.partition_nodes({"a"}, {"b"})
    net.send("a", "b", "lost")
    net.run()
    net.heal()
    net.send("a", "b", "found")
    net.run()
    assert [p for *_x, p in b.got] == ["found"]
    assert net.stats.dropped_partition == 1
    assert [f.action for f in net.history.faults] == ["partition", "heal"]


def test_partition_groups_unnamed_nodes_together_and_rejects_overlaps():
    p = Partition([{"a"}])
    assert p.blocks("a", "b") and not p.blocks("b", "c")
    with pytest.raises(ValueError, match="two groups"):
        Partition([{"a", "b"}, {"b"}])


def test_a_crashed_node_receives_nothing_sends_nothing_and_its_timers_never_fire():
    net, a, b = pair()
    fired = []
    b.set_timer(5, lambda: fired.append("timer"))
    net.crash("b")
    net.send("a", "b", "ping")
    net.send("b", "a", "from the grave")
    net.run()
    assert b.got == [] and a.got == [] and fired == []
    assert net.stats.dropped_down == 1


def test_restart_loses_memory_but_keeps_disk_unless_told_to_keep_memory():
    net, _a, b = pair()
    b.disk["log"], b.memory["cache"] = [1, 2], {"x": 1}
    net.crash("b")
    net.restart("b")
    assert b.disk == {"log": [1, 2]} and b.memory == {}
    b.memory["cache"] = 1
    net.crash("b")
    net.restart("b", keep_memory=True)
    assert b.memory == {"cache": 1} and b.up


def test_nemesis_applies_its_schedule_at_simulated_times():
    net, _a, b = pair(latency=Latency(1.0, 0.0, "none"))
    Nemesis().crash(10, "b").restart(20, "b").partition(30, {"a"}).heal(40).apply(net)
    for t in (5, 15, 25, 35, 45):
        net.at(t, lambda: net.send("a", "b", net.now))
    net.run()
    assert [p for *_x, p in b.got] == [5.0, 25.0, 45.0]
    assert [(f.time, f.action) for f in net.history.faults] == [
        (10.0, "crash"), (20.0, "restart"), (30.0, "partition"), (40.0, "heal")]


def test_history_records_invocations_and_completions_in_a_checker_shape():
    h = History()
    w = h.invoke("p1", "write", "x", 1, 0.0)
    r = h.invoke("p2", "read", "x", None, 1.0)
    c = h.invoke("p1", "cas", "x", [1, 2], 2.0)
    h.complete(w, "ok", 1.5)
    h.complete(r, "ok", 2.0, value=1)
    h.close(9.0)
    assert c.outcome == "info"
    assert [(e["type"], e["f"], e["value"], e["time"]) for e in h.events()] == [
        ("invoke", "write", 1, 0.0), ("invoke", "read", None, 1.0), ("ok", "write", 1, 1.5),
        ("ok", "read", 1, 2.0), ("invoke", "cas", [1, 2], 2.0), ("info", "cas", [1, 2], 9.0)]
    with pytest.raises(RuntimeError, match="already completed"):
        h.complete(w, "fail", 3.0)
    with pytest.raises(ValueError, match="kind"):
        h.invoke("p1", "delete", "x", None, 0.0)


def test_stale_reads_are_reads_of_a_value_already_overwritten():
    h = History()
    w1 = h.invoke("p1", "write", "x", "a", 0.0)
    h.complete(w1, "ok", 1.0)
    w2 = h.invoke("p1", "write", "x", "b", 2.0)
    h.complete(w2, "ok", 3.0)
    fresh = h.invoke("p2", "read", "x", None, 4.0)
    h.complete(fresh, "ok", 5.0, value="b")
    stale = h.invoke("p2", "read", "x", None, 6.0)
    h.complete(stale, "ok", 7.0, value="a")
    early = h.invoke("p3", "read", "x", None, 2.5)  # overlaps w2: either value is fine
    h.complete(early, "ok", 2.8, value="a")
    assert h.stale_reads() == [stale]


def test_percentile_is_nearest_rank():
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile([5, 1, 3, 2, 4], 99) == 5
    assert percentile([], 50) is None


def test_bad_settings_say_what_is_wrong():
    with pytest.raises(ValueError, match="loss"):
        Network(seed=1, loss=1.5)
    with pytest.raises(ValueError, match="jitter"):
        Latency(jitter="gaussian")
    net, _a, _b = pair()
    with pytest.raises(KeyError, match="nodes are"):
        net.send("a", "zz", "hi")


@pytest.mark.slow
def test_the_module_11_benchmark_runs_in_quick_mode():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "benchmarks/data_architecture.py", "--quick"], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for heading in ("ring lookups", "events/s", "explorer redraw"):
        assert heading in run.stdout


def test_nemesis_prints_its_schedule_in_time_order():
    nemesis = Nemesis().heal(40).partition(30, {"a"}, ["c", "b"]).crash(10, "b").restart(20, "b")
    assert str(nemesis).splitlines() == [
        "t=   10.00  crash ('b',)",
        "t=   20.00  restart ('b', False)",
        "t=   30.00  partition (('a',), ('b', 'c'))",
        "t=   40.00  heal",
    ]


def test_history_latencies_are_those_of_the_successful_operations():
    h = History()
    ok_write, failed_read, pending = (h.invoke("p", k, "x", None, 1.0) for k in ("write", "read", "read"))
    h.complete(ok_write, "ok", 3.5)
    h.complete(failed_read, "fail", 2.0)
    assert h.latencies() == h.latencies("write") == [2.5]
    assert h.latencies("read") == [] and pending.latency is None
