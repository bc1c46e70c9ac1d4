"""At-least-once delivery, and consumers that survive it: duplicates, crashes, ordering.

Every broker in this course redelivers. A consumer that crashes after doing the work
but before committing its offset (Kafka) or acking (RabbitMQ, JetStream) gets the same
message again; a producer whose ack got lost sends it again. So a consumer must make
a second delivery harmless. The source text's recipe is a Redis mark::

    SET processed:<eventId> 1 NX EX 86400   # 1 reply: first time, go; nil: duplicate, skip

:class:`IdempotentConsumer` is exactly that. It has two crash windows, which
:class:`CrashPlan` opens on purpose:

* mark first, then the effect (the source text's order): a crash in between leaves
  the mark without the effect; the redelivery is skipped and the effect is **lost**;
* effect first, then the mark: a crash in between leaves the effect without the mark;
  the redelivery does it **twice**.

:class:`AtomicIdempotentConsumer` closes both windows by making the mark and the
effect one step: a Redis ``MULTI``/``EXEC`` transaction guarded by ``WATCH``.
Either both happened or neither did. :class:`ExactlyOnceChecker` counts each effect
under injected crashes and says which events were lost or duplicated.

The mark is only as good as its TTL: once ``processed:<eventId>`` expires, a
redelivery is processed again. Choose a TTL longer than any redelivery can arrive.

The second half is ordering: per-partition order versus interleaving across
partitions (:func:`partition_events`, :func:`interleave`), and what producer retries
with several requests in flight do to order without idempotence
(:func:`produce_with_retries`).
"""

from __future__ import annotations

import random
import zlib
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis as redis_lib

from course_lib.exchanges import DirectExchange, JetStream, Message, NatsBus, Queue

__all__ = [
    "Crash",
    "CrashPlan",
    "IdempotentConsumer",
    "AtomicIdempotentConsumer",
    "ExactlyOnceChecker",
    "ExactlyOnceVerdict",
    "Delivery",
    "redeliver",
    "redeliver_jetstream",
    "stable_partition",
    "partition_events",
    "interleave",
    "out_of_order",
    "produce_with_retries",
    "ProduceResult",
    "DEDUP_PREFIX",
    "measure_brokers",
]

DEDUP_PREFIX = "processed:"
DAY = 86400


class Crash(Exception):
    """The consumer process died at ``point`` while handling ``event_id``."""

    def __init__(self, point: str, event_id: str) -> None:
        super().__init__(f"crashed at {point!r} while handling {event_id}")
        self.point = point
        self.event_id = event_id


class CrashPlan:
    """Where the consumer dies: chosen points, random points (seeded), or never.

    A consumer calls :meth:`point` at each step where a real process could die.
    ``at`` lists (event_id, point) pairs that crash once each, so a test can open one
    exact window; ``rate`` crashes at any point with that probability.
    """

    def __init__(self, at: Iterable[tuple[str, str]] = (), rate: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(
                f"rate must be in [0, 1): a consumer that always crashes never finishes; got {rate}"
            )
        self.at = set(at)
        self.rate = rate
        self.seed = seed
        self._rng = random.Random(seed)
        self.fired: list[tuple[str, str]] = []

    def point(self, name: str, event_id: str) -> None:
        if (event_id, name) in self.at:
            self.at.discard((event_id, name))
        elif not (self.rate and self._rng.random() < self.rate):
            return
        self.fired.append((event_id, name))
        raise Crash(name, event_id)


NEVER = CrashPlan()


def _event_id(event: Mapping[str, Any]) -> str:
    """The event's ``eventId``, as the string it becomes in a Redis key."""
    try:
        return str(event["eventId"])
    except (KeyError, TypeError):
        raise KeyError(f"an event needs an 'eventId' to be deduplicated; got {event!r:.80}") from None


class _DedupConsumer:
    """What both idempotent consumers share: a Redis, a mark per eventId that expires, counters."""

    def __init__(
        self, redis: redis_lib.Redis, ttl: int, effect: Callable[..., Any], crashes: CrashPlan, prefix: str
    ) -> None:
        if not isinstance(ttl, int) or ttl < 1:
            raise ValueError(f"ttl is whole seconds (Redis EX), at least 1; got {ttl!r}")
        self.redis = redis
        self.ttl = ttl
        self.effect = effect
        self.crashes = crashes
        self.prefix = prefix
        self.processed = 0
        self.skipped = 0

    def key(self, event_id: str) -> str:
        return f"{self.prefix}{event_id}"


class IdempotentConsumer(_DedupConsumer):
    """The source text's consumer: ``SET processed:<eventId> 1 NX EX ttl``, then the effect.

    ``effect(event)`` is the business logic. ``handle`` returns True if it ran the
    effect and False if it skipped a duplicate. ``mark_first=False`` is the other
    naive order (check, effect, then mark); both leave a crash window, shown by
    :class:`CrashPlan` points ``"after-mark"`` and ``"after-effect"``.
    """

    def __init__(
        self,
        redis: redis_lib.Redis,
        ttl: int = DAY,
        effect: Callable[[Mapping[str, Any]], Any] = lambda event: None,
        *,
        mark_first: bool = True,
        crashes: CrashPlan = NEVER,
        prefix: str = DEDUP_PREFIX,
    ) -> None:
        super().__init__(redis, ttl, effect, crashes, prefix)
        self.mark_first = mark_first

    def handle(self, event: Mapping[str, Any]) -> bool:
        event_id = _event_id(event)
        key = self.key(event_id)
        if self.mark_first:
            # SET NX answers True for the first caller and None for every later one.
            if not self.redis.set(key, "1", nx=True, ex=self.ttl):
                self.skipped += 1
                return False
            self.crashes.point("after-mark", event_id)  # window: marked, effect not done
            self.effect(event)
        else:
            if self.redis.exists(key):
                self.skipped += 1
                return False
            self.effect(event)
            self.crashes.point("after-effect", event_id)  # window: effect done, not marked
            self.redis.set(key, "1", nx=True, ex=self.ttl)
        self.processed += 1
        return True


class AtomicIdempotentConsumer(_DedupConsumer):
    """The mark and the effect in one Redis transaction: both happen or neither does.

    ``effect(pipe, event)`` queues the effect's Redis commands on a transaction
    pipeline instead of running them. ``WATCH`` on the mark makes the transaction
    fail if another consumer marks the same event between our check and ``EXEC``;
    we then look again and find the duplicate. A crash before ``EXEC`` loses
    nothing (the redelivery does it all); a crash after ``EXEC`` leaves both done
    (the redelivery skips it). The same idea works in SQL: insert the event id
    into a ``processed`` table in the same transaction as the effect.
    """

    def __init__(
        self,
        redis: redis_lib.Redis,
        ttl: int = DAY,
        effect: Callable[[Any, Mapping[str, Any]], Any] = lambda pipe, event: None,
        *,
        crashes: CrashPlan = NEVER,
        prefix: str = DEDUP_PREFIX,
    ) -> None:
        super().__init__(redis, ttl, effect, crashes, prefix)

    def handle(self, event: Mapping[str, Any]) -> bool:
        event_id = _event_id(event)
        key = self.key(event_id)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    if pipe.exists(key):
                        pipe.reset()
                        self.skipped += 1
                        return False
                    pipe.multi()
                    pipe.set(key, "1", ex=self.ttl)
                    self.effect(pipe, event)
                    self.crashes.point("before-exec", event_id)  # nothing applied yet
                    pipe.execute()
                    break
                except redis_lib.WatchError:
                    continue  # someone touched the mark: look again
        self.crashes.point("after-exec", event_id)  # both applied, ack not sent
        self.processed += 1
        return True


@dataclass(frozen=True)
class ExactlyOnceVerdict:
    """Effects counted per event: exactly once, lost (0) or duplicated (>1)."""

    counts: dict[str, int]
    lost: tuple[str, ...]
    duplicated: tuple[str, ...]
    crashes: int

    @property
    def exactly_once(self) -> bool:
        return not self.lost and not self.duplicated

    def __str__(self) -> str:
        crashes = f"{self.crashes} crash" + ("" if self.crashes == 1 else "es")
        if self.exactly_once:
            return f"exactly once: {len(self.counts)} events, {crashes} survived"
        parts = [
            f"lost {list(self.lost)}" if self.lost else "",
            f"duplicated {[(e, self.counts[e]) for e in self.duplicated]}" if self.duplicated else "",
        ]
        return f"NOT exactly once after {crashes}: " + "; ".join(p for p in parts if p)


class ExactlyOnceChecker:
    """Counts effects in a Redis hash and judges a run: each event's effect exactly once?

    :meth:`record` is an effect for :class:`IdempotentConsumer`; :meth:`record_in`
    is one for :class:`AtomicIdempotentConsumer` (it queues on the transaction).
    :meth:`run` delivers events at least once: a crash means no ack, so the same
    delivery comes again until the consumer gets through it.
    """

    def __init__(self, redis: redis_lib.Redis, key: str = "effects") -> None:
        self.redis = redis
        self.key = key

    def record(self, event: Mapping[str, Any]) -> None:
        self.redis.hincrby(self.key, _event_id(event), 1)

    def record_in(self, pipe: Any, event: Mapping[str, Any]) -> None:
        pipe.hincrby(self.key, _event_id(event), 1)

    def counts(self) -> dict[str, int]:
        raw = self.redis.hgetall(self.key)
        return {_text(k): int(v) for k, v in sorted(raw.items())}

    def run(
        self,
        consumer: IdempotentConsumer | AtomicIdempotentConsumer,
        deliveries: Iterable[Mapping[str, Any]],
        max_attempts: int = 1000,
    ) -> ExactlyOnceVerdict:
        crashes = 0
        expected: list[str] = []
        for event in deliveries:
            expected.append(_event_id(event))
            for _attempt in range(max_attempts):
                try:
                    consumer.handle(event)
                    break
                except Crash:
                    crashes += 1  # the process restarts; the broker redelivers the unacked message
            else:
                raise RuntimeError(f"{_event_id(event)} crashed {max_attempts} times in a row")
        return self.verdict(expected, crashes)

    def verdict(self, event_ids: Iterable[str], crashes: int = 0) -> ExactlyOnceVerdict:
        counts = self.counts()
        every = {e: counts.get(e, 0) for e in sorted(set(event_ids))}
        return ExactlyOnceVerdict(
            counts=every,
            lost=tuple(e for e, n in every.items() if n == 0),
            duplicated=tuple(e for e, n in every.items() if n > 1),
            crashes=crashes,
        )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


# --- redelivery: where the duplicates come from ----------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One delivery attempt: which message, the how-many-th time, and what happened."""

    offset: int
    event_id: str
    attempt: int
    outcome: str  # "processed", "skipped", or "crash at <point>"


def redeliver(
    events: Sequence[Mapping[str, Any]],
    handle: Callable[[Mapping[str, Any]], Any],
    *,
    commit_every: int = 1,
    crashes: CrashPlan = NEVER,
    max_restarts: int = 1000,
) -> list[Delivery]:
    """Consume a partition log at least once: crashes before a commit replay events.

    The consumer reads from its committed offset, calls ``handle`` on each event
    and commits every ``commit_every`` events (``"before-commit"`` is a crash point).
    A crash anywhere restarts it from the last committed offset, so everything
    since that commit is delivered again: the bigger ``commit_every``, the more
    duplicates. ``handle`` returning False counts as a skipped duplicate.
    """
    if commit_every < 1:
        raise ValueError(f"commit_every must be at least 1; got {commit_every}")
    trace: list[Delivery] = []
    attempts: Counter[int] = Counter()
    committed = 0
    restarts = 0
    while committed < len(events):
        offset = committed
        try:
            while offset < len(events):
                event = events[offset]
                attempts[offset] += 1
                try:
                    result = handle(event)
                    crashes.point("before-commit", _event_id(event))
                except Crash as crash:
                    trace.append(
                        Delivery(offset, _event_id(event), attempts[offset], f"crash at {crash.point}")
                    )
                    raise
                trace.append(
                    Delivery(
                        offset,
                        _event_id(event),
                        attempts[offset],
                        "skipped" if result is False else "processed",
                    )
                )
                offset += 1
                if offset - committed >= commit_every or offset == len(events):
                    committed = offset  # commit: last processed + 1
        except Crash:
            restarts += 1
            if restarts > max_restarts:
                raise RuntimeError(f"gave up after {max_restarts} restarts") from None
    return trace


def redeliver_jetstream(
    js: JetStream,
    stream: str,
    handle: Callable[[Mapping[str, Any]], Any],
    *,
    durable: str = "worker",
    ack_wait_ms: int = 30_000,
    crashes: CrashPlan = NEVER,
    max_rounds: int = 1000,
) -> list[Delivery]:
    """Consume a JetStream stream with acks: a crash before the ack means redelivery.

    Each message's data is an event. The worker fetches, handles, then acks
    (``"before-ack"`` is a crash point). A crashed worker acks nothing, so after
    ``ack_wait_ms`` milliseconds (moved on the stream's clock) the message comes back.
    """
    consumer = js.add_consumer(stream, durable, ack_wait_ms=ack_wait_ms)
    trace: list[Delivery] = []
    for _round in range(max_rounds):
        batch = consumer.fetch(1)
        if not batch:
            if not consumer.pending:
                return trace
            js.clock.advance(ack_wait_ms)  # nothing new: wait out the ack timeout
            continue
        message = batch[0]
        event = message.data
        try:
            result = handle(event)
            crashes.point("before-ack", _event_id(event))
        except Crash as crash:
            trace.append(
                Delivery(message.seq, _event_id(event), message.num_delivered, f"crash at {crash.point}")
            )
            continue  # no ack
        message.ack()
        trace.append(
            Delivery(
                message.seq,
                _event_id(event),
                message.num_delivered,
                "skipped" if result is False else "processed",
            )
        )
    raise RuntimeError(f"stream {stream!r} not drained after {max_rounds} rounds")


# --- ordering ----------------------------------------------------------------------------


def stable_partition(key: str, partitions: int) -> int:
    """A stable key -> partition map (CRC32). Kafka's own is murmur2: ``course_lib.log.partition_for``."""
    return zlib.crc32(key.encode()) % partitions


def partition_events(
    events: Iterable[Mapping[str, Any]],
    partitions: int,
    key: Callable[[Mapping[str, Any]], str | None],
    partition_for: Callable[[str, int], int] = stable_partition,
) -> list[list[Mapping[str, Any]]]:
    """Append each event to the partition its key picks; a None key goes round robin.

    Within a partition events keep the order they were produced in; that is the
    only order a log promises.
    """
    logs: list[list[Mapping[str, Any]]] = [[] for _ in range(partitions)]
    next_robin = 0
    for event in events:
        k = key(event)
        if k is None:
            index, next_robin = next_robin, (next_robin + 1) % partitions
        else:
            index = partition_for(k, partitions)
        logs[index].append(event)
    return logs


def interleave(logs: Sequence[Sequence[Any]], seed: int = 0) -> list[Any]:
    """One consumer's view of several partitions: each in order, mixed at random between them.

    Which partition's next record comes first depends on fetch timing; a seeded
    random choice stands in for it.
    """
    rng = random.Random(seed)
    positions = [0] * len(logs)
    merged: list[Any] = []
    while True:
        ready = [i for i, log in enumerate(logs) if positions[i] < len(log)]
        if not ready:
            return merged
        i = rng.choice(ready)
        merged.append(logs[i][positions[i]])
        positions[i] += 1


def out_of_order(
    seen: Iterable[Any], entity: Callable[[Any], Hashable], step: Callable[[Any], int]
) -> list[tuple[Hashable, int, int]]:
    """Places where an entity's step went backwards: (entity, previous step, this step)."""
    last: dict[Hashable, int] = {}
    problems = []
    for item in seen:
        e, s = entity(item), step(item)
        if e in last and s < last[e]:
            problems.append((e, last[e], s))
        last[e] = max(s, last.get(e, s))
    return problems


@dataclass(frozen=True)
class ProduceResult:
    log: tuple[int, ...]  # record numbers in the order the broker appended them
    rounds: int
    rejected: int  # out-of-sequence batches the idempotent broker refused
    duplicates_dropped: int  # resends the idempotent broker recognised

    @property
    def in_order(self) -> bool:
        return list(self.log) == sorted(self.log)

    @property
    def duplicated(self) -> list[int]:
        return sorted(r for r, n in Counter(self.log).items() if n > 1)


def produce_with_retries(
    records: int,
    *,
    max_in_flight: int = 5,
    failures: Mapping[tuple[int, int], str] | None = None,
    idempotent: bool = False,
    max_rounds: int = 100,
) -> ProduceResult:
    """A producer sends records 0..records-1 to one partition, retrying failures.

    Each round it sends up to ``max_in_flight`` unacknowledged records at once,
    retries first. ``failures[(record, attempt)]`` makes that attempt fail:
    ``"lost-request"`` never reaches the broker, ``"lost-ack"`` is appended but the
    producer hears nothing and resends. Without idempotence the broker appends
    whatever arrives: a retry lands after later records (reordered) and a lost ack
    becomes a duplicate. With idempotence (Kafka's producer id + sequence numbers)
    the broker appends only the next expected sequence, drops a resend it already
    has, and refuses a gap, so the producer resends in order.
    """
    failures = dict(failures or {})
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be at least 1; got {max_in_flight}")
    attempts: Counter[int] = Counter()
    log: list[int] = []
    unacked = list(range(records))  # in the order they will be (re)sent
    expected = 0
    rejected = dropped = 0
    for round_number in range(1, max_rounds + 1):
        if not unacked:
            return ProduceResult(tuple(log), round_number - 1, rejected, dropped)
        window, rest = unacked[:max_in_flight], unacked[max_in_flight:]
        retry: list[int] = []
        for record in window:
            attempts[record] += 1
            failure = failures.get((record, attempts[record]))
            if failure == "lost-request":
                retry.append(record)
                continue
            if idempotent:
                if record < expected:
                    dropped += 1  # a resend of something already appended: ack it, append nothing
                elif record > expected:
                    rejected += 1  # OutOfOrderSequence: a gap before it; resend later
                    retry.append(record)
                    continue
                else:
                    log.append(record)
                    expected += 1
            else:
                log.append(record)
            if failure == "lost-ack":
                retry.append(record)
        unacked = sorted(retry) + rest if idempotent else retry + rest
    raise RuntimeError(f"not all records acknowledged after {max_rounds} rounds")


# --- the "When to use each broker" table, measured on the embedded models ------------------

BROKER_COLUMNS = ("Kafka (log)", "RabbitMQ (queue)", "NATS core", "NATS JetStream")


def measure_brokers(messages: int = 12, partitions: int = 3, seed: int = 0) -> dict[str, dict[str, str]]:
    """Run the same four experiments on each embedded broker model; return row -> column -> result.

    One producer publishes ``messages`` numbered messages (keyless), then:

    * **order**: does one consumer see them in publish order?
    * **late reader**: how many can a consumer that starts after publishing read?
    * **read again**: after one consumer read everything, can another read it all again?
    * **crash before ack**: a consumer takes the first message and dies before acking
      or committing: does the message come back?
    """
    numbers = list(range(messages))
    events = [{"eventId": f"evt_{n}", "n": n} for n in numbers]
    rows: dict[str, dict[str, str]] = {
        "order": {},
        "late reader": {},
        "read again": {},
        "crash before ack": {},
    }

    def order(seen: list[int], what: str) -> str:
        return "in publish order" if seen == numbers else what

    # Kafka: a topic of keyless records, round robin over partitions; each partition is a log.
    logs = partition_events(events, partitions, key=lambda e: None)
    rows["order"]["Kafka (log)"] = order(
        [e["n"] for e in interleave(logs, seed)], f"in order per partition only ({partitions} partitions)"
    )
    stored = sum(len(log) for log in logs)
    rows["late reader"]["Kafka (log)"] = f"{stored} of {messages} (from offset 0)"
    rows["read again"]["Kafka (log)"] = f"{stored} of {messages} (another group, or reset offsets)"
    trace = redeliver(
        logs[0], lambda e: None, crashes=CrashPlan(at=[(logs[0][0]["eventId"], "before-commit")])
    )
    rows["crash before ack"]["Kafka (log)"] = (
        "redelivered from the committed offset" if trace[1].offset == trace[0].offset else "lost"
    )

    # RabbitMQ: a queue bound before publishing holds the messages until consumed.
    exchange, queue = DirectExchange("orders"), Queue("orders")
    exchange.bind(queue, "order")
    for n in numbers:
        exchange.publish("order", n)
    late_count = len(queue)
    seen = [m.body for m in queue.drain()]
    rows["order"]["RabbitMQ (queue)"] = order(seen, "out of order")
    rows["late reader"]["RabbitMQ (queue)"] = f"{late_count} of {messages} (waiting in its queue)"
    rows["read again"]["RabbitMQ (queue)"] = f"{len(queue)} of {messages} (gone once consumed)"
    queue.put(Message("order", "x"))
    queue.deliver()  # the consumer takes it and dies before acking
    rows["crash before ack"]["RabbitMQ (queue)"] = (
        "redelivered (requeued unacked)" if queue.recover() and queue.get() else "lost"
    )

    # Core NATS: only subscribers present at publish time get anything.
    bus = NatsBus(seed)
    sub = bus.subscribe("orders")
    for n in numbers:
        bus.publish("orders", n)
    rows["order"]["NATS core"] = order([m.data for m in sub.fetch()], "out of order")
    late = bus.subscribe("orders")
    rows["late reader"]["NATS core"] = f"{len(late.fetch())} of {messages} (at most once)"
    rows["read again"]["NATS core"] = f"0 of {messages} (nothing is stored)"
    crash_bus = NatsBus(seed)
    doomed = crash_bus.subscribe("orders")
    crash_bus.publish("orders", "x")
    doomed.next_msg()  # the subscriber takes it and dies: no ack exists, nobody kept a copy
    crash_bus.unsubscribe(doomed)
    restarted = crash_bus.subscribe("orders")
    rows["crash before ack"]["NATS core"] = "redelivered" if restarted.fetch() else "lost"

    # JetStream: a stream stores, a durable consumer acks.
    js = JetStream()
    js.add_stream("ORDERS", ["orders"])
    for n in numbers:
        js.publish("orders", n)
    first = js.add_consumer("ORDERS", "first", ack_wait_ms=30_000)
    got = first.fetch(messages)
    rows["order"]["NATS JetStream"] = order([m.data for m in got], "out of order")
    for m in got:
        m.ack()
    rows["late reader"]["NATS JetStream"] = f"{len(got)} of {messages} (stored in the stream)"
    again = js.add_consumer("ORDERS", "second").fetch(messages)
    rows["read again"]["NATS JetStream"] = f"{len(again)} of {messages} (limits retention)"
    js.publish("orders", "x")
    crashed = js.add_consumer("ORDERS", "crashy", ack_wait_ms=30_000)
    crashed.fetch(messages + 1)  # takes everything, acks nothing, dies
    js.clock.advance(30_000)
    rows["crash before ack"]["NATS JetStream"] = (
        "redelivered after the ack wait" if crashed.fetch(1) else "lost"
    )
    return rows
