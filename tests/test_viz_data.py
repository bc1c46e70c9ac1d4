"""The module-11 explorers respond to one interaction and read the same without a widget frontend."""

from __future__ import annotations

from course_lib.viz.replication import QuorumExplorer, ReplicationExplorer
from course_lib.viz.sharding import RingExplorer


def text(explorer) -> str:
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith(explorer.title)
    assert bundle["text/plain"].endswith(explorer.static_text())
    return bundle["text/plain"]


def test_replication_explorer_counts_lost_writes_after_the_failover_button():
    ex = ReplicationExplorer(mode="async", lag=10, writes=10, seed=7)
    assert "leader n1 is up" in text(ex)
    ex.failover.click()
    shown = text(ex)
    assert "LOST acknowledged writes: 3  ['order-8', 'order-9', 'order-10']" in shown
    assert "n2 (leader)" in shown and "n1 (down)" in shown
    assert "LOST acknowledged writes: 3" in ex.screen.value  # the live view says the same
    ex.mode.value = "sync"
    assert "LOST acknowledged writes: 0  (none)" in text(ex)
    ex.reset.click()
    assert "leader n1 is up" in text(ex)


def test_replication_explorer_shows_a_stale_follower_read_in_async_mode():
    ex = ReplicationExplorer(mode="async", lag=10, seed=7)
    assert "STALE" in ex.static_text()
    ex.lag.value = 0
    assert "acknowledged: 10/10" in ex.static_text()


def test_quorum_explorer_reports_overlap_and_staleness():
    ex = QuorumExplorer(n=3, w=1, r=1)
    first = text(ex)
    assert "W + R <= N" in first and "[W.R]" in first
    assert "stale reads: 0.0%" not in first
    ex.w.value = 2
    ex.r.value = 2
    shown = text(ex)
    assert "W + R > N" in shown and "stale reads: 0.0%" in shown and "[WBR]" in shown


def test_quorum_explorer_clamps_w_and_r_when_n_shrinks():
    ex = QuorumExplorer(n=5, w=5, r=5)
    ex.n.value = 3
    assert ex.w.value == 3 and ex.r.value == 3
    assert ex.static_text().startswith("N=3 W=3 R=3")


def test_ring_explorer_counts_moved_keys_when_a_node_is_added_and_removed():
    ex = RingExplorer(nodes=4, vnodes=100, keys=5_000)
    assert "press 'add a node'" in text(ex)
    ex.add.click()
    shown = text(ex)
    assert "added node-4: 938 keys moved (18.8%); ideal: 1/5 = 20.0%" in shown
    assert "node-4" in ex.screen.value
    ex.remove.click()
    assert "removed node-4: 938 keys moved" in ex.static_text()  # exactly the same keys come back


def test_ring_explorer_spread_worsens_with_few_virtual_nodes():
    ex = RingExplorer(nodes=5, vnodes=200, keys=5_000)
    even = float(ex.static_text().split("busiest node holds ")[1].split("x")[0])
    ex.vnodes.value = 2
    uneven = float(ex.static_text().split("busiest node holds ")[1].split("x")[0])
    assert uneven > even
    assert "vnodes 200 -> 2" in ex.static_text()
