"""course_lib.viz.cap and course_lib.viz.dynamo: the explorers react to clicks and render as text."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from course_lib.consistency import check_linearizable, run_experiment  # noqa: E402
from course_lib.viz.cap import CAPExplorer, plot_history, replay  # noqa: E402
from course_lib.viz.dynamo import CartExplorer  # noqa: E402


def test_cap_explorer_shows_cp_refusing_and_ap_accepting_with_the_verdicts():
    ex = CAPExplorer()
    assert "no actions yet" in ex._repr_mimebundle_()["text/plain"]
    for action in ("write-majority", "partition", "write-minority", "read-majority"):
        ex.act(action)
    text = ex.static_text()
    assert "REFUSED (no majority (2) answered)" in text
    assert "ok (wrote 'v2')" in text            # AP accepts the minority's write
    assert "CP: answered 2/3" in text and "AP: answered 3/3" in text
    assert "checker: linearizable" in text and "checker: not linearizable" in text
    assert "REFUSED" in ex.screen.value
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("CAP: during a partition")


def test_cap_explorer_buttons_and_reset():
    ex = CAPExplorer(actions=["write-majority"])
    partition = next(b for b in ex.children[1].children if b.description == "partition")
    partition.click()
    assert ex.actions == ["write-majority", "partition"]
    reset = next(b for b in ex.children[1].children if b.description == "reset")
    reset.click()
    assert ex.actions == [] and "no actions yet" in ex.static_text()
    with pytest.raises(ValueError, match="unknown action"):
        ex.act("split-brain")


def test_after_the_heal_both_registers_agree_again():
    for system in ("cp", "ap"):
        cluster = replay(system, ["write-majority", "partition", "write-minority", "write-majority", "heal",
                                  "read-minority"])
        assert set(cluster.values("x").values()) == {"v3"}, system


def test_plot_history_marks_the_operation_that_cannot_be_placed():
    result = run_experiment("ap", seed=0)
    verdict = check_linearizable(result.history)
    ax = plot_history(result.history, verdict, title="AP under a partition")
    colours = {line.get_color() for line in ax.get_lines()}
    assert "#BF092F" in colours and ax.get_title() == "AP under a partition"
    assert ax.get_xlabel() == "time (ms)"


def test_cart_explorer_survives_a_crash_and_a_partition():
    ex = CartExplorer(["add-left", "crash-home", "add-right", "recover-home", "handoff"])
    text = ex.static_text()
    assert "hints {'C': 'D'}" in text and "handed back 1" in text
    assert "home replicas agree: True" in text
    ex.act("partition")
    ex.act("add-left")
    ex.act("add-right")
    ex.act("heal")
    ex.act("add-right")
    assert "(merged 2 siblings)" in ex.static_text()
    assert ex._repr_mimebundle_()["text/plain"].startswith("Dynamo: add to cart")
