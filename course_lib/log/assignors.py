"""How a consumer group shares partitions: Kafka's partition assignors.

Every rebalance, the group leader runs one of these over the members'
subscriptions and the partition counts. Each partition goes to exactly one
member of the group, which is what lets a group scale out; a member left
without partitions sits idle.

* ``range``: per topic, members sorted by id, partitions sorted; each member
  gets a contiguous run of ``n // m`` partitions and the first ``n % m``
  members one extra. Simple, but with many topics the first members get the
  extras of every topic.
* ``roundrobin``: all subscribed topic-partitions sorted, dealt one at a time
  to the sorted members, skipping members not subscribed to that topic.
* ``sticky``: as balanced as roundrobin, but a rebalance moves as few
  partitions as it can: members keep what they had up to their fair share.
* ``cooperative-sticky``: the sticky target, reached in two rebalances
  (:func:`cooperative_plan`): first the partitions that move are revoked
  (everyone else keeps consuming), then they are assigned to their new owner.

All take ``subscriptions`` (member id -> topics) and ``partitions_per_topic``
(topic -> partition count) and return member id -> sorted list of
:class:`TopicPartition`, with every member present (possibly with ``[]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple


class TopicPartition(NamedTuple):
    """One partition of one topic: the unit of assignment, ordering and offsets."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


Subscriptions = Mapping[str, Iterable[str]]
Assignment = dict[str, list[TopicPartition]]


def _subscribed(subscriptions: Subscriptions) -> dict[str, set[str]]:
    return {member: set(topics) for member, topics in subscriptions.items()}


def _all_partitions(
    subs: dict[str, set[str]], partitions_per_topic: Mapping[str, int]
) -> list[TopicPartition]:
    topics = sorted(set().union(*subs.values()) & set(partitions_per_topic)) if subs else []
    return [TopicPartition(t, p) for t in topics for p in range(partitions_per_topic[t])]


def assign_range(subscriptions: Subscriptions, partitions_per_topic: Mapping[str, int]) -> Assignment:
    """Kafka's RangeAssignor: contiguous runs per topic, the first ``n % m`` members get one extra."""
    subs = _subscribed(subscriptions)
    result: Assignment = {member: [] for member in subs}
    for topic in sorted(set().union(*subs.values()) if subs else ()):
        if topic not in partitions_per_topic:
            continue
        members = sorted(m for m in subs if topic in subs[m])
        n, m = partitions_per_topic[topic], len(members)
        per_member, extra = divmod(n, m)
        for i, member in enumerate(members):
            start = per_member * i + min(i, extra)
            length = per_member + (1 if i < extra else 0)
            result[member] += [TopicPartition(topic, p) for p in range(start, start + length)]
    return {member: sorted(tps) for member, tps in result.items()}


def assign_roundrobin(subscriptions: Subscriptions, partitions_per_topic: Mapping[str, int]) -> Assignment:
    """Kafka's RoundRobinAssignor: deal sorted topic-partitions to sorted members in turn."""
    subs = _subscribed(subscriptions)
    members = sorted(subs)
    result: Assignment = {member: [] for member in members}
    turn = 0
    for tp in _all_partitions(subs, partitions_per_topic):
        # The next member in the circle that subscribes to this topic.
        for step in range(len(members)):
            member = members[(turn + step) % len(members)]
            if tp.topic in subs[member]:
                result[member].append(tp)
                turn = (turn + step + 1) % len(members)
                break
    return result


def assign_sticky(
    subscriptions: Subscriptions,
    partitions_per_topic: Mapping[str, int],
    previous: Mapping[str, Iterable[TopicPartition]] | None = None,
) -> Assignment:
    """A balanced assignment that keeps as much of ``previous`` as balance allows.

    1. Each member keeps its previous partitions that still exist and that it
       still subscribes to, up to its fair share (``n // m``, or one more for
       ``n % m`` of the members: those that already hold the most keep the extra).
    2. Every other partition goes to the member with the fewest partitions
       (ties: smallest member id) among those subscribed to its topic.

    Without ``previous`` this deals partitions like roundrobin does. (Kafka's
    StickyAssignor reaches the same kind of result with a more elaborate
    search that also handles members with different subscriptions optimally.)
    """
    subs = _subscribed(subscriptions)
    members = sorted(subs)
    result: Assignment = {member: [] for member in members}
    if not members:
        return result
    partitions = _all_partitions(subs, partitions_per_topic)
    valid = set(partitions)
    base, extra = divmod(len(partitions), len(members))
    kept: set[TopicPartition] = set()
    previous = previous or {}
    # Members holding the most keep the extra partitions, so fewer partitions move.
    by_holdings = sorted(members, key=lambda m: (-len(list(previous.get(m, ()))), m))
    extras_left = extra
    for member in by_holdings:
        own = sorted(
            tp
            for tp in previous.get(member, ())
            if tp in valid and tp.topic in subs[member] and tp not in kept
        )
        quota = base + (1 if extras_left and len(own) > base else 0)
        if quota > base:
            extras_left -= 1
        result[member] = own[:quota]
        kept.update(own[:quota])
    for tp in partitions:
        if tp in kept:
            continue
        eligible = [m for m in members if tp.topic in subs[m]]
        target = min(eligible, key=lambda m: (len(result[m]), m))
        result[target].append(tp)
    return {member: sorted(tps) for member, tps in result.items()}


def cooperative_plan(
    owned: Mapping[str, Iterable[TopicPartition]], target: Mapping[str, Iterable[TopicPartition]]
) -> tuple[Assignment, Assignment]:
    """The two steps of a cooperative rebalance from ``owned`` to ``target``.

    Step 1 (first rebalance): each member keeps what it owns and the target
    still gives it, and gets every partition that nobody owns now; a partition
    that must move from one live member to another is revoked and assigned to
    no one. Step 2 (second rebalance): the target itself. Members never stop
    consuming the partitions they keep, unlike the eager protocol where
    everyone revokes everything first.
    """
    owner = {tp: member for member, tps in owned.items() if member in target for tp in tps}
    first: Assignment = {}
    for member, tps in target.items():
        first[member] = sorted(tp for tp in tps if owner.get(tp, member) == member)
    return first, {member: sorted(tps) for member, tps in target.items()}


ASSIGNORS = {
    "range": assign_range,
    "roundrobin": assign_roundrobin,
    "sticky": assign_sticky,
    "cooperative-sticky": assign_sticky,
}


def assign(
    strategy: str,
    subscriptions: Subscriptions,
    partitions_per_topic: Mapping[str, int],
    previous: Mapping[str, Iterable[TopicPartition]] | None = None,
) -> Assignment:
    """Run the assignor named ``strategy`` (sticky ones also look at ``previous``)."""
    if strategy not in ASSIGNORS:
        raise ValueError(f"unknown assignor {strategy!r}; choose one of {sorted(ASSIGNORS)}")
    if strategy in ("sticky", "cooperative-sticky"):
        return assign_sticky(subscriptions, partitions_per_topic, previous)
    return ASSIGNORS[strategy](subscriptions, partitions_per_topic)
