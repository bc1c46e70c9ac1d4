"""Core NATS: subjects, wildcards, queue groups, and at-most-once delivery.

NATS is pub/sub without storage. ``publish`` hands a message to the
subscriptions listening *now* and forgets it: nobody listening means the
message is gone, and a subscriber that falls behind its pending limit loses
messages (counted, as the server's slow-consumer handling does). What core NATS
lacks, a stream that keeps messages, is :mod:`course_lib.exchanges.jetstream`.

Subjects are tokens separated by ``.``; in a subscription ``*`` matches exactly
one token and ``>`` one or more trailing tokens (``tests/conformance/test_nats.py``
checks the same cases against a real nats-server).
"""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

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
class NatsSubscription:
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
        self.subscriptions: list[NatsSubscription] = []
        self.published = 0
        self.unheard = 0  # messages that reached no subscriber at all: gone
        self._rng = random.Random(seed)

    def subscribe(
        self, pattern: str, queue_group: str | None = None, pending_limit: int = 65536
    ) -> NatsSubscription:
        validate_nats_subject(pattern, wildcards=True)
        if pending_limit < 1:
            raise ValueError(f"pending_limit must be at least 1; got {pending_limit}")
        sub = NatsSubscription(pattern, queue_group, pending_limit)
        self.subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: NatsSubscription) -> None:
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
        groups: dict[str, list[NatsSubscription]] = {}
        receivers: list[NatsSubscription] = []
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
