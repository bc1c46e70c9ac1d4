"""Sharding strategies: which node holds a key, and what moves when the cluster changes.

Every strategy answers one question, ``shard_for(key) -> shard name``, and
tells you which shards a range query must visit (:meth:`shards_for_range`).

* :class:`RangeSharding` — sorted split points. Range queries touch only the
  shards that overlap the range; skewed keys (most surnames start with "S")
  make one shard hot.
* :class:`HashModSharding` — ``stable_hash(key) % n``: even, but a range query
  must scatter-gather over every shard, and growing n to n+1 moves most keys.
* :class:`ConsistentHashRing` — nodes own arcs of a hash ring (many virtual
  nodes each); a lookup is a binary search; adding a node moves only about
  1/(n+1) of the keys, all of them *to* the new node.
* :class:`DirectorySharding` — a lookup service maps keys to shards: any
  placement you like (by country, for compliance), at the price of an extra
  hop and a single point of failure.

:func:`keys_moved` compares two placements. Hashes are :func:`stable_hash`
(MD5-based), never Python's ``hash()``, which is randomised per process.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Protocol


def stable_hash(key: str) -> int:
    """A 64-bit hash of ``key`` that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.md5(key.encode("utf-8")).digest()[:8], "big")


RING_SIZE = 2**64


class Placement(Protocol):
    """What every strategy below answers: where a key lives, and where a range query must look."""

    def shard_for(self, key: str) -> str: ...

    def all_shards(self) -> list[str]: ...

    def shards_for_range(self, low: str, high: str) -> list[str]: ...


def keys_moved(before: Placement, after: Placement, keys: Iterable[str]) -> list[str]:
    """The keys whose shard differs between two placements (in the order given)."""
    return [key for key in keys if before.shard_for(key) != after.shard_for(key)]


def load(placement: Placement, keys: Iterable[str]) -> dict[str, int]:
    """How many of ``keys`` land on each shard, empty shards included (sorted by shard name)."""
    counts = Counter({shard: 0 for shard in placement.all_shards()})
    counts.update(placement.shard_for(k) for k in keys)
    return dict(sorted(counts.items()))


def spread(counts: dict[str, int]) -> float:
    """Load imbalance: the busiest shard's load divided by the mean (1.0 = perfectly even)."""
    if not counts:
        return 0.0
    mean = sum(counts.values()) / len(counts)
    return round(max(counts.values()) / mean, 4)


# -- range ------------------------------------------------------------------------------------


class RangeSharding:
    """Shard i holds keys in ``[splits[i-1], splits[i])`` (by string order).

    ``RangeSharding(["N"])`` is the source text's example: A-M on shard-0, N-Z
    on shard-1.
    """

    def __init__(self, splits: list[str], names: list[str] | None = None) -> None:
        if list(splits) != sorted(set(splits)):
            raise ValueError(f"RangeSharding split points must be sorted and distinct, got {splits}")
        self.splits = list(splits)
        self.names = names or [f"shard-{i}" for i in range(len(self.splits) + 1)]
        if len(self.names) != len(self.splits) + 1:
            raise ValueError(
                f"{len(self.splits)} split points make {len(self.splits) + 1} shards, "
                f"but {len(self.names)} names were given"
            )

    def all_shards(self) -> list[str]:
        return list(self.names)

    def shard_index(self, key: str) -> int:
        return bisect.bisect_right(self.splits, key)

    def shard_for(self, key: str) -> str:
        return self.names[self.shard_index(key)]

    def shards_for_range(self, low: str, high: str) -> list[str]:
        """The shards a query for keys in ``[low, high]`` must visit: only the overlapping ones."""
        if low > high:
            raise ValueError(f"range query needs low <= high, got {low!r} > {high!r}")
        return self.names[self.shard_index(low) : self.shard_index(high) + 1]

    def describe(self) -> list[str]:
        bounds = ["(start)"] + self.splits + ["(end)"]
        return [f"{name}: {bounds[i]} .. {bounds[i + 1]}" for i, name in enumerate(self.names)]

    @classmethod
    def balanced(cls, keys: Iterable[str], shards: int) -> RangeSharding:
        """Split points at the quantiles of a sample of keys: the fix for a hot spot."""
        ordered = sorted(keys)
        if shards < 1 or len(ordered) < shards:
            raise ValueError(f"need at least {shards} keys to split into {shards} shards")
        splits = sorted({ordered[len(ordered) * i // shards] for i in range(1, shards)})
        return cls(splits)


# -- hash mod N --------------------------------------------------------------------------------


class HashModSharding:
    """``shard = stable_hash(key) % n``: the source text's hash-based sharding."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"HashModSharding needs n >= 1 shards, got {n}")
        self.n = n
        self.names = [f"shard-{i}" for i in range(n)]

    def all_shards(self) -> list[str]:
        return list(self.names)

    def shard_for(self, key: str) -> str:
        return self.names[stable_hash(key) % self.n]

    def shards_for_range(self, low: str, high: str) -> list[str]:
        """Hashing scatters neighbouring keys, so a range query must ask every shard."""
        return list(self.names)


# -- consistent hashing -------------------------------------------------------------------------


class ConsistentHashRing:
    """Nodes on a hash ring, each at ``vnodes`` points; a key belongs to the next point clockwise.

    Lookups are ``bisect`` on the sorted points: O(log(nodes * vnodes)).
    :meth:`with_node` / :meth:`without_node` return a new ring, so the old
    one stays around to compare with (``keys_moved(old, new, keys)``).
    """

    def __init__(self, nodes: Iterable[str], vnodes: int = 100) -> None:
        if vnodes < 1:
            raise ValueError(f"ConsistentHashRing needs vnodes >= 1, got {vnodes}")
        self.vnodes = vnodes
        self.nodes = sorted(set(nodes))
        if not self.nodes:
            raise ValueError("ConsistentHashRing needs at least one node")
        points = sorted((stable_hash(f"{node}#{i}"), node) for node in self.nodes for i in range(vnodes))
        self.points = [p for p, _ in points]
        self.owners = [n for _, n in points]

    def all_shards(self) -> list[str]:
        return list(self.nodes)

    def shard_for(self, key: str) -> str:
        return self.owner_of_hash(stable_hash(key))

    def owner_of_hash(self, h: int) -> str:
        """The node owning ring position ``h`` (lets a caller hash many keys once)."""
        i = bisect.bisect_right(self.points, h)
        return self.owners[i % len(self.points)]  # past the last point: wrap to the first

    def shard_for_linear(self, key: str) -> str:
        """The same answer by scanning every point: what bisect saves (see the benchmark)."""
        h = stable_hash(key)
        for point, owner in zip(self.points, self.owners, strict=False):
            if point > h:
                return owner
        return self.owners[0]

    def with_node(self, node: str) -> ConsistentHashRing:
        if node in self.nodes:
            raise ValueError(f"node {node!r} is already on the ring")
        return ConsistentHashRing(self.nodes + [node], self.vnodes)

    def without_node(self, node: str) -> ConsistentHashRing:
        if node not in self.nodes:
            raise ValueError(f"node {node!r} is not on the ring; nodes are {self.nodes}")
        return ConsistentHashRing([n for n in self.nodes if n != node], self.vnodes)

    def ownership(self) -> dict[str, float]:
        """Each node's share of the ring (sums to 1.0)."""
        share = {n: 0 for n in self.nodes}
        previous = self.points[-1] - RING_SIZE
        for point, owner in zip(self.points, self.owners, strict=False):
            share[owner] += point - previous
            previous = point
        return {n: round(share[n] / RING_SIZE, 6) for n in self.nodes}

    def shards_for_range(self, low: str, high: str) -> list[str]:
        return list(self.nodes)


# -- directory ------------------------------------------------------------------------------------


class DirectoryUnavailable(RuntimeError):
    """The lookup service is down: nobody can find which shard holds a key."""


class DirectorySharding:
    """A lookup service maps each key to a shard; ``rule`` places keys it has not seen.

    Placement is arbitrary (pin a customer to the EU shard for GDPR, move one
    hot key alone), but every lookup is one more network hop, counted in
    ``lookups``, and while the directory is down (:meth:`fail`) no key can be
    found at all, even though every data shard is healthy.
    """

    def __init__(self, rule: Callable[[str], str], shards: Iterable[str]) -> None:
        self.rule = rule
        self.shards = sorted(set(shards))
        self.table: dict[str, str] = {}
        self.up = True
        self.lookups = 0

    def all_shards(self) -> list[str]:
        return list(self.shards)

    def assign(self, key: str, shard: str) -> None:
        if shard not in self.shards:
            raise ValueError(f"unknown shard {shard!r}; shards are {self.shards}")
        self.table[key] = shard

    def shard_for(self, key: str) -> str:
        if not self.up:
            raise DirectoryUnavailable(f"the directory is down: cannot locate {key!r} (call recover())")
        self.lookups += 1
        if key not in self.table:
            self.assign(key, self.rule(key))
        return self.table[key]

    def move(self, key: str, shard: str) -> str:
        """Re-home one key (e.g. a hot tenant) without touching any other. Returns the old shard."""
        old = self.shard_for(key)
        self.assign(key, shard)
        return old

    def fail(self) -> None:
        self.up = False

    def recover(self) -> None:
        self.up = True

    def shards_for_range(self, low: str, high: str) -> list[str]:
        return list(self.shards)


def range_query(
    placement: Placement, stored: dict[str, list[str]], low: str, high: str
) -> tuple[list[str], list[str]]:
    """Run a range query: ask each shard ``placement`` says may hold keys in ``[low, high]``.

    ``stored`` maps shard name -> the keys it holds. Returns the matching keys
    (sorted) and the shards contacted: one or two for range sharding, all of
    them (scatter-gather) for hash-based placements.
    """
    visited = placement.shards_for_range(low, high)
    matches = sorted(k for shard in visited for k in stored.get(shard, []) if low <= k <= high)
    return matches, visited


def distribute(placement: Placement, keys: Iterable[str]) -> dict[str, list[str]]:
    """Shard name -> the keys stored there."""
    stored: dict[str, list[str]] = {}
    for key in keys:
        stored.setdefault(placement.shard_for(key), []).append(key)
    return dict(sorted(stored.items()))
