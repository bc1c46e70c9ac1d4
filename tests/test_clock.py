"""course_lib.clock: one simulated clock, in whole milliseconds, for the log and JetStream."""

from __future__ import annotations

import pytest

from course_lib.clock import COURSE_EPOCH_MS, SimClock
from course_lib.exchanges import JetStream
from course_lib.log import Cluster


def test_the_clock_moves_only_when_advanced():
    clock = SimClock(1_000)
    assert clock() == 1_000
    clock.advance(250)
    clock.advance(0)
    assert clock() == clock.now_ms == 1_250


def test_time_does_not_go_backwards_and_counts_whole_milliseconds():
    clock = SimClock()
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    with pytest.raises(TypeError, match="whole milliseconds"):
        clock.advance(0.5)  # type: ignore[arg-type]  # the mistake under test: seconds as a float
    assert clock() == 0


def test_the_log_and_jetstream_share_the_clock_type_and_its_unit():
    cluster, js = Cluster(), JetStream()
    assert isinstance(cluster.clock, SimClock) and isinstance(js.clock, SimClock)
    assert cluster.now_ms() == COURSE_EPOCH_MS  # records carry realistic timestamps
    assert js.clock() == 0  # a new JetStream counts from zero: ack waits read as durations
