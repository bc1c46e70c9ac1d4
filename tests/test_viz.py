"""course_lib.viz: explorers respond to their controls and render as text without a frontend."""

from course_lib.viz import CouplingExplorer


def test_coupling_explorer_reacts_to_its_controls_and_shows_the_same_text_statically():
    ex = CouplingExplorer()
    assert "no orders yet" in ex._repr_mimebundle_()["text/plain"]
    ex.inventory.value = False
    ex.place.click()
    ex.inventory.value = True
    ex.deliver.click()
    text = ex.static_text()
    assert "direct call : order_001: FAILED" in text
    assert "inventory caught up on offsets []" not in text
    assert "synchronous: 0 reserved, 1 lost to failed calls" in text
    assert "event-driven: 1 reserved, 0 waiting in the broker" in text
    assert "order_001" in ex.screen.value
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("Temporal coupling")
