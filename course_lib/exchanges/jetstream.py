"""JetStream: NATS with storage, durable consumers, acks and redelivery.

Core NATS (:mod:`course_lib.exchanges.nats`) forgets a message once it has handed
it to whoever listens. JetStream adds what it lacks: a **stream** captures some
subjects and stores their messages; a **durable consumer** remembers what it has
acknowledged, so it can stop and resume; a message delivered but not acked
within the consumer's **ack wait** is delivered again (at-least-once), and
``nak`` asks for it again at once.

Time is a :class:`~course_lib.clock.SimClock` in milliseconds, so an ack wait runs
out when a notebook calls ``js.clock.advance(30_000)``, not when the wall clock
says. (nats-py's ``ConsumerConfig`` takes ``ack_wait`` in seconds and the server
counts nanoseconds; here, as everywhere in the course, durations are milliseconds
and say so in their names: ``ack_wait_ms``, ``max_age_ms``.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from course_lib.clock import SimClock
from course_lib.exchanges.nats import nats_subject_matches, validate_nats_subject


class NoStreamError(LookupError):
    """Publishing to a subject no stream captures: JetStream answers 'no responders'."""


@dataclass(frozen=True)
class StreamMessage:
    seq: int
    subject: str
    data: Any
    time_ms: int  # when it was stored, on the JetStream's clock


RETENTIONS = ("limits", "interest", "workqueue")


@dataclass
class Stream:
    """Stored messages for some subjects, removed only by the retention policy.

    * ``limits``: kept until ``max_msgs`` or ``max_age_ms`` pushes them out, acked or not.
    * ``interest``: kept while some consumer has not acked them (none: not kept).
    * ``workqueue``: removed once any consumer acks them; consumers may not overlap.
    """

    name: str
    subjects: tuple[str, ...]
    retention: str = "limits"
    max_msgs: int | None = None
    max_age_ms: int | None = None
    messages: dict[int, StreamMessage] = field(default_factory=dict, repr=False)
    last_seq: int = 0

    def captures(self, subject: str) -> bool:
        return any(nats_subject_matches(p, subject) for p in self.subjects)


@dataclass
class JsMessage:
    """A delivery from a consumer: ack it, nak it, or let the ack wait run out."""

    consumer: JsConsumer = field(repr=False)
    seq: int
    subject: str
    data: Any
    num_delivered: int

    def ack(self) -> None:
        self.consumer._ack(self.seq)

    def nak(self) -> None:
        """Ask for redelivery now instead of after the ack wait."""
        self.consumer._nak(self.seq)


@dataclass
class JsConsumer:
    """A durable pull consumer: it remembers what it acked across reconnects.

    ``fetch`` returns naked messages and those whose ack wait expired first, then
    new ones in stream order. After ``max_deliver`` deliveries a message is given up.
    """

    js: JetStream = field(repr=False)
    stream: Stream = field(repr=False)
    durable: str
    filter_subject: str | None = None
    ack_wait_ms: int = 30_000
    max_deliver: int | None = None
    next_seq: int = 1
    pending: dict[int, int] = field(default_factory=dict)  # seq -> ack deadline (ms)
    deliveries: dict[int, int] = field(default_factory=dict)  # seq -> times delivered
    acked: set[int] = field(default_factory=set)
    redelivered: int = 0

    def _wants(self, message: StreamMessage) -> bool:
        return self.filter_subject is None or nats_subject_matches(self.filter_subject, message.subject)

    def fetch(self, batch: int = 1) -> list[JsMessage]:
        now = self.js.clock()
        self.js._enforce_limits()
        out: list[JsMessage] = []
        for seq, deadline in sorted(self.pending.items()):
            if len(out) == batch:
                break
            if seq not in self.stream.messages:  # removed by the stream's limits meanwhile
                del self.pending[seq]
                continue
            if deadline <= now:
                if self.max_deliver is not None and self.deliveries[seq] >= self.max_deliver:
                    del self.pending[seq]
                    continue
                self.redelivered += 1
                out.append(self._deliver(self.stream.messages[seq], now))
        while len(out) < batch and self.next_seq <= self.stream.last_seq:
            message = self.stream.messages.get(self.next_seq)
            self.next_seq += 1
            if message is not None and self._wants(message):
                out.append(self._deliver(message, now))
        return out

    def _deliver(self, message: StreamMessage, now: int) -> JsMessage:
        self.pending[message.seq] = now + self.ack_wait_ms
        self.deliveries[message.seq] = self.deliveries.get(message.seq, 0) + 1
        return JsMessage(self, message.seq, message.subject, message.data, self.deliveries[message.seq])

    def _ack(self, seq: int) -> None:
        if self.pending.pop(seq, None) is None:
            return  # a late ack of something already acked or given up: harmless
        self.acked.add(seq)
        self.js._acked(self.stream, seq)

    def _nak(self, seq: int) -> None:
        if seq in self.pending:
            self.pending[seq] = self.js.clock()

    @property
    def num_pending(self) -> int:
        """Messages not yet delivered to this consumer."""
        return sum(1 for seq, m in self.stream.messages.items() if seq >= self.next_seq and self._wants(m))

    @property
    def num_ack_pending(self) -> int:
        return len(self.pending)


class JetStream:
    """NATS persistence: streams store what core NATS would drop.

    The clock is a :class:`SimClock` (milliseconds; a new one at 0 unless given),
    so ack waits and ``max_age_ms`` expire when a test or notebook moves it, not
    when the wall clock does.
    """

    def __init__(self, clock: SimClock | None = None) -> None:
        self.clock = SimClock() if clock is None else clock
        self.streams: dict[str, Stream] = {}
        self.consumers: dict[tuple[str, str], JsConsumer] = {}

    def add_stream(
        self,
        name: str,
        subjects: Iterable[str],
        retention: str = "limits",
        max_msgs: int | None = None,
        max_age_ms: int | None = None,
    ) -> Stream:
        if retention not in RETENTIONS:
            raise ValueError(f"retention must be one of {', '.join(RETENTIONS)}; got {retention!r}")
        subjects = tuple(subjects)
        for subject in subjects:
            validate_nats_subject(subject, wildcards=True)
        stream = Stream(name, subjects, retention, max_msgs, max_age_ms)
        self.streams[name] = stream
        return stream

    def publish(self, subject: str, data: Any = None) -> int:
        """Store the message in the stream that captures ``subject``; return its sequence."""
        validate_nats_subject(subject, wildcards=False)
        for stream in self.streams.values():
            if stream.captures(subject):
                stream.last_seq += 1
                if stream.retention == "interest" and not self._consumers_of(stream):
                    return stream.last_seq  # no one is interested: acknowledged, not kept
                stream.messages[stream.last_seq] = StreamMessage(stream.last_seq, subject, data, self.clock())
                self._enforce_limits()
                return stream.last_seq
        raise NoStreamError(f"no stream captures subject {subject!r}; add_stream(..., subjects=[...]) first")

    def add_consumer(
        self,
        stream: str,
        durable: str,
        filter_subject: str | None = None,
        ack_wait_ms: int = 30_000,
        max_deliver: int | None = None,
    ) -> JsConsumer:
        """Create a durable consumer, or return the existing one of that name (durable!)."""
        if (stream, durable) in self.consumers:
            return self.consumers[(stream, durable)]
        target = self.streams[stream]
        if target.retention == "workqueue":
            # The server refuses any overlap; comparing filters for equality is the simple case.
            for other in self._consumers_of(target):
                if (
                    other.filter_subject is None
                    or filter_subject is None
                    or other.filter_subject == filter_subject
                ):
                    raise ValueError(
                        f"workqueue stream {stream!r}: consumer {other.durable!r} already takes "
                        "these subjects; each message goes to one consumer only"
                    )
        # Deliver policy "all": start at the oldest message the stream still holds.
        first = min(target.messages) if target.messages else target.last_seq + 1
        consumer = JsConsumer(self, target, durable, filter_subject, ack_wait_ms, max_deliver, next_seq=first)
        self.consumers[(stream, durable)] = consumer
        return consumer

    def _consumers_of(self, stream: Stream) -> list[JsConsumer]:
        return [c for c in self.consumers.values() if c.stream is stream]

    def _acked(self, stream: Stream, seq: int) -> None:
        if stream.retention == "workqueue":
            stream.messages.pop(seq, None)
        elif stream.retention == "interest":
            interested = (
                [c for c in self._consumers_of(stream) if c._wants(stream.messages[seq])]
                if seq in stream.messages
                else []
            )
            if all(seq in c.acked for c in interested):
                stream.messages.pop(seq, None)

    def _enforce_limits(self) -> None:
        now = self.clock()
        for stream in self.streams.values():
            if stream.max_age_ms is not None:
                expired = [s for s, m in stream.messages.items() if now - m.time_ms >= stream.max_age_ms]
                for seq in expired:
                    del stream.messages[seq]
            if stream.max_msgs is not None:
                while len(stream.messages) > stream.max_msgs:
                    del stream.messages[min(stream.messages)]
