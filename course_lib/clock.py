"""Simulated time: a clock that moves only when you move it, in whole milliseconds.

Timeouts are half of what the course is about: a consumer's session times out, a
JetStream ack wait runs out, retention deletes a segment. On the wall clock those
would happen when the machine gets round to them, so a notebook would print
something different on every run, and a test would have to sleep. On a
:class:`SimClock` they happen exactly when the notebook calls :meth:`SimClock.advance`:
every run prints the same thing, and a test of a one-week retention takes no time.

One unit everywhere: integer milliseconds, as Kafka's settings (``retention.ms``,
``session.timeout.ms``) and record timestamps count them. Parameters that take a
duration say so in their name (``ack_wait_ms``, ``max_age_ms``).
"""

from __future__ import annotations

from dataclasses import dataclass

COURSE_EPOCH_MS = 1_778_855_400_000  # 2026-05-15T14:30:00Z, the source text's example time


@dataclass
class SimClock:
    """Milliseconds since some start (0 unless you say), moved only by :meth:`advance`.

    Call it to read the time: anything that takes a ``clock`` takes a
    zero-argument function returning milliseconds, and this is one.
    """

    now_ms: int = 0

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        """Move forward ``ms`` milliseconds (a whole number; time never goes backwards)."""
        if isinstance(ms, bool) or not isinstance(ms, int):
            raise TypeError(f"advance() takes whole milliseconds (an int); got {ms!r}")
        if ms < 0:
            raise ValueError(f"time only moves forward; advance({ms}) would go back")
        self.now_ms += ms
