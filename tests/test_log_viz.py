"""PartitionExplorer: real joins and leaves, shown the same live and as static text."""

from __future__ import annotations

from course_lib.log import partition_for
from course_lib.viz.kafka import PartitionExplorer


def test_adding_a_fourth_consumer_to_three_partitions_shows_it_idle():
    explorer = PartitionExplorer(partitions=3, consumers=3)
    assert "idle: none" in explorer.static_text()
    explorer.add_consumer()
    assert "idle: consumer-4 (more consumers than partitions)" in explorer.static_text()
    assert "idle: consumer-4" in explorer.screen.value  # the live view says the same


def test_removing_consumers_rebalances_their_partitions_to_the_rest():
    explorer = PartitionExplorer(partitions=3, consumers=3)
    explorer.remove_consumer()
    explorer.remove_consumer()
    assert set(explorer.owner_of().values()) == {"consumer-1"}
    assert explorer.cluster.group("fulfillment").generation == 5


def test_keys_are_listed_under_the_partition_murmur2_picks():
    explorer = PartitionExplorer(partitions=3, keys=["order_12345"])
    line = next(l for l in explorer.static_text().splitlines() if "order_12345" in l)
    assert line.startswith(f"partition {partition_for('order_12345', 3)}:")


def test_without_a_widget_frontend_the_text_fallback_is_the_static_picture():
    explorer = PartitionExplorer()
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/plain"].startswith("Keys -> partitions -> consumers\n")
