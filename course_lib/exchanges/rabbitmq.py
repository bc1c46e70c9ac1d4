"""RabbitMQ's four exchange types, small enough to read in one sitting.

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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
    return bool(expected == actual)  # a header value can be any AMQP type, so == may not give a bool


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
