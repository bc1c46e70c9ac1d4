"""RabbitMQ's four exchange types and NATS subjects, small enough to read in one sitting.

Kafka hands every consumer the whole log and lets it pick; RabbitMQ is a *smart
broker*: a producer publishes to an **exchange**, the exchange decides which
**queues** get a copy, and consumers read their queue. The exchange type is the
routing rule:

=========  ==============================================  ===============================
type       a queue gets the message when...                 example binding -> routing key
=========  ==============================================  ===============================
direct     its binding key equals the routing key           ``payment.success``
fanout     it is bound at all (the key is ignored)          every queue
topic      its binding pattern matches the routing key      ``order.*.failed`` -> ``order.payment.failed``
headers    the message headers match its binding arguments  ``{"x-match": "any", "region": "eu"}``
=========  ==============================================  ===============================

The matching rules are RabbitMQ's exactly (``tests/conformance/test_rabbitmq.py``
publishes the same keys to a real RabbitMQ and compares):

* Topic keys are words separated by ``.``; ``*`` is exactly one word, ``#`` is zero
  or more words, ``""`` is a key of *zero* words and ``a..b`` has an empty middle word.
* Headers: ``x-match`` is ``all`` (the default), ``any``, ``all-with-x`` or
  ``any-with-x``. Binding arguments whose name starts with ``x-`` are ignored unless
  a ``-with-x`` mode is used (``x-match`` itself never is matched). A binding argument
  with no value (``None``, AMQP "void") only asks that the header be present. Values
  compare by type as well: ``True`` is not ``1``. ``all`` over no arguments matches
  every message; ``any`` over none matches nothing.

A message that reaches no queue is *returned* to the publisher, as RabbitMQ does with
the ``mandatory`` flag, and kept in ``exchange.returned``: never silently lost.

NATS is different again: at-most-once pub/sub (:class:`NatsBus`). Nobody listening
means the message is gone; a subscriber that falls behind its pending limit loses
messages (counted, as the server's slow-consumer handling does). :class:`JetStream`
adds what core NATS lacks: a stream that stores messages, durable consumers, acks and
redelivery after the ack wait.
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Message",
    "Queue",
    "Routed",
    "Exchange",
    "DirectExchange",
    "FanoutExchange",
    "TopicExchange",
    "HeadersExchange",
    "topic_words",
    "topic_matches",
    "headers_match",
    "X_MATCH_MODES",
    "nats_tokens",
    "nats_subject_matches",
    "validate_nats_subject",
    "NatsMessage",
    "Subscription",
    "NatsBus",
    "SimClock",
    "StreamMessage",
    "Stream",
    "JsMessage",
    "JsConsumer",
    "JetStream",
    "NoStreamError",
]


# --- RabbitMQ ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """What a producer publishes: a routing key, optional headers and a body."""

    routing_key: str = ""
    body: Any = None
    headers: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Queue:
    """A FIFO of messages. RabbitMQ keeps per-queue order: one queue, one order.

    ``get`` is auto-ack: taken means gone. ``deliver`` is manual ack: the message
    waits in ``unacked`` until ``ack`` removes it, or ``nack``/``recover`` (the
    consumer's channel closed) puts it back at the head of the queue, as
    RabbitMQ requeues to a message's original position. That is at-least-once.
    """

    name: str
    messages: deque[Message] = field(default_factory=deque, repr=False)
    unacked: dict[int, Message] = field(default_factory=dict, repr=False)
    _next_tag: int = field(default=1, repr=False)

    def put(self, message: Message) -> None:
        self.messages.append(message)

    def get(self) -> Message | None:
        """The oldest message, removed (like ``basic.get`` with auto-ack), or None if empty."""
        return self.messages.popleft() if self.messages else None

    def deliver(self) -> tuple[int, Message] | None:
        """The oldest message and its delivery tag, held unacked until ack or nack."""
        if not self.messages:
            return None
        tag, self._next_tag = self._next_tag, self._next_tag + 1
        self.unacked[tag] = self.messages.popleft()
        return tag, self.unacked[tag]

    def ack(self, tag: int) -> None:
        try:
            del self.unacked[tag]
        except KeyError:
            raise KeyError(f"delivery tag {tag} is not unacked on queue {self.name!r}") from None

    def nack(self, tag: int, requeue: bool = True) -> None:
        """Reject: requeue at the head (default) or drop (a dead-letter exchange would get it)."""
        message = self.unacked.pop(tag)
        if requeue:
            self.messages.appendleft(message)

    def recover(self) -> int:
        """The consumer died: every unacked message goes back, oldest first. Returns how many."""
        tags = sorted(self.unacked, reverse=True)
        for tag in tags:
            self.messages.appendleft(self.unacked.pop(tag))
        return len(tags)

    def drain(self) -> list[Message]:
        """Every waiting message, oldest first; the queue is empty afterwards."""
        taken = list(self.messages)
        self.messages.clear()
        return taken

    def __len__(self) -> int:
        return len(self.messages)


@dataclass(frozen=True)
class Routed:
    """The outcome of one publish: the queues that got a copy (sorted), or returned."""

    message: Message
    queues: tuple[str, ...]

    @property
    def returned(self) -> bool:
        """True when no queue matched: RabbitMQ sends it back (``basic.return``)."""
        return not self.queues


class Exchange:
    """What every exchange type shares: bindings to queues, publish, returned messages.

    Subclasses decide only which queues match (:meth:`_match`). A queue bound by
    several matching bindings still gets one copy, as in RabbitMQ.
    """

    kind = "exchange"

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.queues: dict[str, Queue] = {}
        self.returned: list[Message] = []  # unroutable messages, in publish order

    def _remember(self, queue: Queue) -> None:
        known = self.queues.get(queue.name)
        if known is not None and known is not queue:
            raise ValueError(
                f"another queue named {queue.name!r} is already bound to {self.name!r}; "
                "queue names are unique per broker"
            )
        self.queues[queue.name] = queue

    def publish(
        self, routing_key: str = "", body: Any = None, headers: Mapping[str, Any] | None = None
    ) -> Routed:
        """Route one message; return which queues got it. No match: kept in ``returned``."""
        message = Message(routing_key, body, dict(headers or {}))
        names = tuple(sorted(self._match(message)))
        for name in names:
            self.queues[name].put(message)
        if not names:
            self.returned.append(message)
        return Routed(message, names)

    def route(self, routing_key: str = "", headers: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """Which queues a message would reach, without publishing it."""
        return tuple(sorted(self._match(Message(routing_key, None, dict(headers or {})))))

    def _match(self, message: Message) -> set[str]:
        raise NotImplementedError


class DirectExchange(Exchange):
    """Routing key equals binding key, character for character (no wildcards)."""

    kind = "direct"

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self.bindings: dict[str, set[str]] = {}  # binding key -> queue names

    def bind(self, queue: Queue, binding_key: str = "") -> None:
        self._remember(queue)
        self.bindings.setdefault(binding_key, set()).add(queue.name)

    def unbind(self, queue: Queue, binding_key: str = "") -> None:
        _discard(self.bindings, binding_key, queue.name)

    def _match(self, message: Message) -> set[str]:
        return set(self.bindings.get(message.routing_key, ()))


class FanoutExchange(Exchange):
    """Every bound queue gets every message; the routing key is ignored."""

    kind = "fanout"

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self.bound: set[str] = set()

    def bind(self, queue: Queue, binding_key: str = "") -> None:
        self._remember(queue)
        self.bound.add(queue.name)

    def unbind(self, queue: Queue, binding_key: str = "") -> None:
        if queue.name not in self.bound:
            raise KeyError(f"queue {queue.name!r} is not bound to {self.name!r}")
        self.bound.discard(queue.name)

    def _match(self, message: Message) -> set[str]:
        return set(self.bound)


def _discard(table: dict[Any, set[str]], key: Any, name: str) -> None:
    names = table.get(key)
    if names is None or name not in names:
        raise KeyError(f"queue {name!r} is not bound with {key!r}")
    names.discard(name)
    if not names:
        del table[key]


# --- topic: the matching rule and a trie that applies it to many bindings at once -------


def topic_words(key: str) -> list[str]:
    """Split a topic key into words. ``""`` has zero words; ``"a..b"`` has three."""
    return key.split(".") if key else []


def topic_matches(binding_key: str, routing_key: str) -> bool:
    """Does a topic binding key match a routing key? RabbitMQ's rule, word by word.

    >>> topic_matches("order.*.failed", "order.payment.failed")
    True
    >>> topic_matches("#", ""), topic_matches("a.#.b", "a.b"), topic_matches("*", "a.b")
    (True, True, False)
    """
    pattern, words = topic_words(binding_key), topic_words(routing_key)
    # matched[i][j]: pattern[i:] matches words[j:]; filled from the end, no recursion.
    matched = [[False] * (len(words) + 1) for _ in range(len(pattern) + 1)]
    matched[len(pattern)][len(words)] = True
    for i in range(len(pattern) - 1, -1, -1):
        for j in range(len(words), -1, -1):
            if pattern[i] == "#":  # zero words, or one word and stay on '#'
                matched[i][j] = matched[i + 1][j] or (j < len(words) and matched[i][j + 1])
            elif j < len(words) and pattern[i] in ("*", words[j]):
                matched[i][j] = matched[i + 1][j + 1]
    return matched[0][0]


@dataclass
class _TrieNode:
    children: dict[str, _TrieNode] = field(default_factory=dict)  # a word, "*" or "#"
    queues: set[str] = field(default_factory=set)  # bindings that end here


class TopicExchange(Exchange):
    """Pattern routing through a trie of binding words.

    Publishing walks the trie once along the routing key's words, following the
    literal word, ``*`` and ``#`` branches; it never looks at a binding that cannot
    match. With 10,000 bindings that is a few dozen node visits instead of 10,000
    calls to :func:`topic_matches` (``benchmarks/brokers.py`` measures both).
    """

    kind = "topic"

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self.root = _TrieNode()
        self.bindings: set[tuple[str, str]] = set()  # (binding key, queue name)

    def bind(self, queue: Queue, binding_key: str) -> None:
        self._remember(queue)
        node = self.root
        for word in topic_words(binding_key):
            node = node.children.setdefault(word, _TrieNode())
        node.queues.add(queue.name)
        self.bindings.add((binding_key, queue.name))

    def unbind(self, queue: Queue, binding_key: str) -> None:
        if (binding_key, queue.name) not in self.bindings:
            raise KeyError(f"queue {queue.name!r} is not bound with {binding_key!r}")
        self.bindings.discard((binding_key, queue.name))
        path = [self.root]
        words = topic_words(binding_key)
        for word in words:
            path.append(path[-1].children[word])
        path[-1].queues.discard(queue.name)
        for depth in range(len(words), 0, -1):  # prune branches that lead nowhere now
            node = path[depth]
            if node.queues or node.children:
                break
            del path[depth - 1].children[words[depth - 1]]

    def _match(self, message: Message) -> set[str]:
        words = topic_words(message.routing_key)
        found: set[str] = set()
        seen: set[tuple[int, int]] = set()  # (node id, position): '#' can reach one twice
        stack = [(self.root, 0)]
        while stack:
            node, at = stack.pop()
            if (id(node), at) in seen:
                continue
            seen.add((id(node), at))
            if at == len(words):
                found |= node.queues
            hash_branch = node.children.get("#")
            if hash_branch is not None:  # '#' eats zero, one, ... or all remaining words
                stack.extend((hash_branch, rest) for rest in range(at, len(words) + 1))
            if at < len(words):
                for branch in (node.children.get(words[at]), node.children.get("*")):
                    if branch is not None:
                        stack.append((branch, at + 1))
        return found


# --- headers ----------------------------------------------------------------------------

X_MATCH_MODES = ("all", "any", "all-with-x", "any-with-x")


def _same_value(expected: Any, actual: Any) -> bool:
    """AMQP compares typed values: the boolean true is not the integer 1."""
    if isinstance(expected, bool) != isinstance(actual, bool):
        return False
    return expected == actual


def headers_match(arguments: Mapping[str, Any], headers: Mapping[str, Any]) -> bool:
    """Do a message's headers match a headers-exchange binding's arguments?

    >>> headers_match({"x-match": "any", "format": "pdf", "type": "report"}, {"type": "report"})
    True
    >>> headers_match({"format": "pdf", "type": "report"}, {"type": "report"})  # all is the default
    False
    """
    mode = arguments.get("x-match", "all")
    if mode not in X_MATCH_MODES:
        raise ValueError(
            f"x-match must be one of {', '.join(X_MATCH_MODES)}; got {mode!r} "
            "(RabbitMQ refuses such a binding)"
        )
    with_x = mode.endswith("-with-x")
    wanted = {
        name: value
        for name, value in arguments.items()
        if name != "x-match" and (with_x or not name.startswith("x-"))
    }
    hits = [
        name in headers and (value is None or _same_value(value, headers[name]))
        for name, value in wanted.items()
    ]
    return all(hits) if mode.startswith("all") else any(hits)


class HeadersExchange(Exchange):
    """Route on message headers; the routing key is ignored."""

    kind = "headers"

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self.bindings: list[tuple[dict[str, Any], str]] = []  # (arguments, queue name)

    def bind(self, queue: Queue, arguments: Mapping[str, Any] | None = None) -> None:
        arguments = dict(arguments or {})
        headers_match(arguments, {})  # refuse a bad x-match now, as RabbitMQ does at bind time
        self._remember(queue)
        if (arguments, queue.name) not in self.bindings:
            self.bindings.append((arguments, queue.name))

    def unbind(self, queue: Queue, arguments: Mapping[str, Any] | None = None) -> None:
        try:
            self.bindings.remove((dict(arguments or {}), queue.name))
        except ValueError:
            raise KeyError(f"queue {queue.name!r} is not bound with {dict(arguments or {})!r}") from None

    def _match(self, message: Message) -> set[str]:
        return {name for arguments, name in self.bindings if headers_match(arguments, message.headers)}


# --- NATS -------------------------------------------------------------------------------

_NATS_BAD_CHARS = re.compile(r"[\s]")


def nats_tokens(subject: str) -> list[str]:
    """Split a NATS subject into tokens on ``.``."""
    return subject.split(".")


def validate_nats_subject(subject: str, *, wildcards: bool) -> None:
    """Raise ValueError unless ``subject`` is a valid NATS subject (or pattern).

    Tokens must be non-empty and free of whitespace. In a pattern ``*`` and ``>``
    are whole tokens and ``>`` comes last; a published subject has no wildcards.
    """
    if not isinstance(subject, str) or not subject:
        raise ValueError(f"a NATS subject is a non-empty string; got {subject!r}")
    tokens = nats_tokens(subject)
    for i, token in enumerate(tokens):
        if token == "" or _NATS_BAD_CHARS.search(token):
            raise ValueError(f"invalid NATS subject {subject!r}: token {i + 1} is empty or has whitespace")
        if token in ("*", ">") and not wildcards:
            raise ValueError(f"cannot publish to {subject!r}: wildcards belong in subscriptions")
        if token == ">" and i != len(tokens) - 1:
            raise ValueError(f"invalid NATS pattern {subject!r}: '>' must be the last token")


def nats_subject_matches(pattern: str, subject: str) -> bool:
    """Does a subscription pattern match a published subject?

    ``*`` matches exactly one token, ``>`` one or more trailing tokens. A subject
    with an empty token (``a..b``) is invalid: nats-server delivers it to nobody,
    so it matches nothing here.

    >>> nats_subject_matches("orders.*", "orders.eu"), nats_subject_matches("orders.>", "orders")
    (True, False)
    """
    validate_nats_subject(pattern, wildcards=True)
    try:
        validate_nats_subject(subject, wildcards=False)
    except ValueError:
        return False
    want, have = nats_tokens(pattern), nats_tokens(subject)
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or token not in ("*", have[i]):
            return False
    return len(have) == len(want)


@dataclass(frozen=True)
class NatsMessage:
    subject: str
    data: Any
    seq: int  # the bus's publish counter, to show order


@dataclass
class Subscription:
    """Messages wait in ``pending`` until the subscriber takes them.

    ``pending_limit`` mirrors the client's pending-messages limit: once that many
    wait, further messages are dropped and counted in ``dropped`` (the
    slow-consumer case). Core NATS never holds them anywhere else.
    """

    pattern: str
    queue_group: str | None = None
    pending_limit: int = 65536
    pending: deque[NatsMessage] = field(default_factory=deque, repr=False)
    delivered: int = 0
    dropped: int = 0
    active: bool = True

    def next_msg(self) -> NatsMessage | None:
        return self.pending.popleft() if self.pending else None

    def fetch(self, n: int | None = None) -> list[NatsMessage]:
        """Take up to ``n`` waiting messages (all of them by default), oldest first."""
        n = len(self.pending) if n is None else min(n, len(self.pending))
        return [self.pending.popleft() for _ in range(n)]

    def _offer(self, message: NatsMessage) -> bool:
        if len(self.pending) >= self.pending_limit:
            self.dropped += 1
            return False
        self.pending.append(message)
        self.delivered += 1
        return True


class NatsBus:
    """Core NATS in one process: subjects, wildcards, queue groups, at-most-once.

    ``publish`` hands the message to the subscriptions listening *now* and forgets
    it. In a queue group, one member (picked at random, seeded here) gets each
    message, which spreads work across a group like a work queue.
    """

    def __init__(self, seed: int = 0) -> None:
        self.subscriptions: list[Subscription] = []
        self.published = 0
        self.unheard = 0  # messages that reached no subscriber at all: gone
        self._rng = random.Random(seed)

    def subscribe(
        self, pattern: str, queue_group: str | None = None, pending_limit: int = 65536
    ) -> Subscription:
        validate_nats_subject(pattern, wildcards=True)
        if pending_limit < 1:
            raise ValueError(f"pending_limit must be at least 1; got {pending_limit}")
        sub = Subscription(pattern, queue_group, pending_limit)
        self.subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.active = False
        self.subscriptions.remove(sub)

    def publish(self, subject: str, data: Any = None) -> int:
        """Deliver to every matching subscription now; return how many took it (0: lost).

        A subject with a wildcard or an empty token is refused, as a server in
        pedantic mode does. (A default nats-server accepts ``a.*`` and hands it
        only to wildcard subscriptions such as ``a.*`` and ``a.>``; never rely on that.)
        """
        validate_nats_subject(subject, wildcards=False)
        self.published += 1
        message = NatsMessage(subject, data, self.published)
        matching = [s for s in self.subscriptions if nats_subject_matches(s.pattern, subject)]
        groups: dict[str, list[Subscription]] = {}
        receivers = []
        for sub in matching:
            if sub.queue_group is None:
                receivers.append(sub)
            else:
                groups.setdefault(sub.queue_group, []).append(sub)
        receivers += [self._rng.choice(members) for _, members in sorted(groups.items())]
        taken = sum(sub._offer(message) for sub in receivers)
        if not receivers:
            self.unheard += 1
        return taken


# --- JetStream --------------------------------------------------------------------------


@dataclass
class SimClock:
    """Seconds on a clock you move by hand, so ack timeouts happen when you say."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self.now += seconds


class NoStreamError(LookupError):
    """Publishing to a subject no stream captures: JetStream answers 'no responders'."""


@dataclass(frozen=True)
class StreamMessage:
    seq: int
    subject: str
    data: Any
    time: float


RETENTIONS = ("limits", "interest", "workqueue")


@dataclass
class Stream:
    """Stored messages for some subjects, removed only by the retention policy.

    * ``limits``: kept until ``max_msgs`` or ``max_age`` pushes them out, acked or not.
    * ``interest``: kept while some consumer has not acked them (none: not kept).
    * ``workqueue``: removed once any consumer acks them; consumers may not overlap.
    """

    name: str
    subjects: tuple[str, ...]
    retention: str = "limits"
    max_msgs: int | None = None
    max_age: float | None = None
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
    ack_wait: float = 30.0
    max_deliver: int | None = None
    next_seq: int = 1
    pending: dict[int, float] = field(default_factory=dict)  # seq -> ack deadline
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

    def _deliver(self, message: StreamMessage, now: float) -> JsMessage:
        self.pending[message.seq] = now + self.ack_wait
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

    The clock is injected (seconds), so ack waits and ``max_age`` expire when a
    test or notebook moves it, not when the wall clock does.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or SimClock()
        self.streams: dict[str, Stream] = {}
        self.consumers: dict[tuple[str, str], JsConsumer] = {}

    def add_stream(
        self,
        name: str,
        subjects: Iterable[str],
        retention: str = "limits",
        max_msgs: int | None = None,
        max_age: float | None = None,
    ) -> Stream:
        if retention not in RETENTIONS:
            raise ValueError(f"retention must be one of {', '.join(RETENTIONS)}; got {retention!r}")
        subjects = tuple(subjects)
        for subject in subjects:
            validate_nats_subject(subject, wildcards=True)
        stream = Stream(name, subjects, retention, max_msgs, max_age)
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
        ack_wait: float = 30.0,
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
        consumer = JsConsumer(self, target, durable, filter_subject, ack_wait, max_deliver, next_seq=first)
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
            if stream.max_age is not None:
                for seq in [s for s, m in stream.messages.items() if now - m.time >= stream.max_age]:
                    del stream.messages[seq]
            if stream.max_msgs is not None:
                while len(stream.messages) > stream.max_msgs:
                    del stream.messages[min(stream.messages)]
