"""Consumer groups: members join, leave and crash; the coordinator rebalances.

A broker acts as *group coordinator*. Members tell it which topics they want
and which assignor they use; whenever membership changes it starts a new
*generation* and hands out partitions again. This model is synchronous: a
rebalance happens inside the call that caused it (join, leave, or the clock
passing a crashed member's session timeout), so a notebook can show each one.

* **eager** protocols (``range``, ``roundrobin``, ``sticky``): every member
  revokes everything, then receives its new share. Consumption stops meanwhile.
* **cooperative** (``cooperative-sticky``): two rebalances; only the partitions
  that move are revoked, and they are assigned in the second one.

A crashed member stops heartbeating. The coordinator notices only when
``session.timeout.ms`` has passed on the clock; until then its partitions are
assigned to a process that is not reading them, so their lag grows. (A member
that fails to rejoin a rebalance started by someone else is dropped from it, as
Kafka drops members that miss the rebalance timeout.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from course_lib.log.assignors import TopicPartition, assign, cooperative_plan
from course_lib.log.errors import InvalidConfigError


class GroupMemberClient(Protocol):
    """What the coordinator calls on a consumer (the Consumer implements it)."""

    def _on_revoked(self, partitions: list[TopicPartition]) -> None: ...
    def _on_assigned(self, partitions: list[TopicPartition], generation: int) -> None: ...


@dataclass
class Member:
    member_id: str
    client_id: str
    topics: tuple[str, ...]
    assignor: str
    session_timeout_ms: int
    client: GroupMemberClient
    last_heartbeat_ms: int
    crashed: bool = False
    assignment: list[TopicPartition] = field(default_factory=list)


@dataclass(frozen=True)
class Rebalance:
    """One generation of the group: why it happened and who got what."""

    generation: int
    reason: str
    assignment: dict[str, list[TopicPartition]]
    revoked: dict[str, list[TopicPartition]]

    def __str__(self) -> str:
        lines = [f"generation {self.generation} ({self.reason})"]
        for member, tps in self.assignment.items():
            moved = (
                f"   revoked {[tp.partition for tp in self.revoked[member]]}"
                if self.revoked.get(member)
                else ""
            )
            lines.append(f"  {member}: {[tp.partition for tp in tps] or 'idle'}{moved}")
        return "\n".join(lines)


class Group:
    """One consumer group's members, committed offsets and rebalance history."""

    def __init__(self, group_id: str, partitions_per_topic: Callable[[], dict[str, int]]) -> None:
        self.group_id = group_id
        self.members: dict[str, Member] = {}
        self.generation = 0
        self.assignor: str | None = None
        self.committed: dict[TopicPartition, int] = {}
        self.history: list[Rebalance] = []
        self._partitions_per_topic = partitions_per_topic

    @property
    def state(self) -> str:
        """Kafka's group states, simplified: Empty or Stable (rebalances finish at once here)."""
        return "Stable" if self.members else "Empty"

    def live_members(self) -> list[Member]:
        return [m for m in self.members.values() if not m.crashed]

    # -- membership --
    def join(self, member: Member) -> None:
        if self.members and self.assignor != member.assignor:
            raise InvalidConfigError(
                f"group '{self.group_id}' uses the {self.assignor!r} assignor; member {member.client_id} "
                f"asked for {member.assignor!r} (Kafka: INCONSISTENT_GROUP_PROTOCOL). Use the same "
                "partition assignment strategy in every member of a group"
            )
        self.assignor = member.assignor
        self.members[member.member_id] = member
        self.rebalance(f"{member.member_id} joined")

    def leave(self, member_id: str, reason: str = "left") -> None:
        if self.members.pop(member_id, None) is not None:
            self.rebalance(f"{member_id} {reason}")

    def expire(self, now_ms: int) -> list[str]:
        """Remove crashed members whose session timed out; rebalance if any; return their ids."""
        expired = [
            m.member_id
            for m in self.members.values()
            if m.crashed and now_ms - m.last_heartbeat_ms >= m.session_timeout_ms
        ]
        for member_id in expired:
            del self.members[member_id]
        if expired:
            self.rebalance(f"{', '.join(expired)} missed its session timeout")
        return expired

    # -- rebalancing --
    def rebalance(self, reason: str) -> None:
        crashed = [m.member_id for m in self.members.values() if m.crashed]
        for member_id in crashed:  # they cannot rejoin, so the rebalance drops them
            del self.members[member_id]
        if crashed:
            reason += f"; {', '.join(crashed)} did not rejoin"
        if not self.members:
            self.generation += 1
            self.history.append(Rebalance(self.generation, reason, {}, {}))
            self.assignor = None
            return
        subscriptions = {m.member_id: m.topics for m in self.members.values()}
        owned = {m.member_id: list(m.assignment) for m in self.members.values()}
        assignor = next(iter(self.members.values())).assignor  # the same for all: join() checks
        target = assign(assignor, subscriptions, self._partitions_per_topic(), owned)
        if assignor == "cooperative-sticky":
            first, second = cooperative_plan(owned, target)
            self._hand_out(first, reason, eager=False)
            if first != second:
                self._hand_out(second, "second cooperative rebalance: assign what was revoked", eager=False)
        else:
            self._hand_out(target, reason, eager=True)

    def _hand_out(self, assignment: dict[str, list[TopicPartition]], reason: str, eager: bool) -> None:
        self.generation += 1
        revoked: dict[str, list[TopicPartition]] = {}
        for member in self.members.values():
            keep = set(assignment[member.member_id])
            gone = list(member.assignment) if eager else [tp for tp in member.assignment if tp not in keep]
            revoked[member.member_id] = [tp for tp in gone if tp not in keep]
            if gone:
                member.client._on_revoked(gone)
        for member in self.members.values():
            member.assignment = list(assignment[member.member_id])
            member.client._on_assigned(member.assignment, self.generation)
        self.history.append(
            Rebalance(
                self.generation, reason, {m: list(tps) for m, tps in sorted(assignment.items())}, revoked
            )
        )
