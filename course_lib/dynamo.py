"""The Dynamo paper's design choices, each small enough to read: vector clocks, Merkle trees, a cluster.

Amazon's 2004 holiday-season outages led to Dynamo (DeCandia et al., SOSP 2007):
"add to cart" must work even while parts of the system cannot talk. Every
choice below serves that:

* :class:`VectorClock` — which version of a value saw which: ``before``,
  ``after``, ``equal`` or ``concurrent``. Concurrent versions are *siblings*,
  kept side by side for the client to merge (a shopping cart: the union).
* :class:`MerkleTree` — a hash tree over one key range, so two replicas can
  find the keys on which they differ by comparing O(d log n) hashes instead of
  shipping all n keys.
* :class:`DynamoCluster` — consistent hashing with preference lists (N
  replicas per key), R/W quorums (defaults N=3, R=2, W=2), a *sloppy* quorum
  that writes to the next healthy node with a *hint* when a home node is
  unreachable, hinted handoff when it comes back, read repair, and Merkle
  anti-entropy between replicas.

The cluster is a direct model (calls, not messages): reachability comes from
which nodes are down and from a :class:`~course_lib.netsim.Partition`, and a
logical clock ticks once per operation. The managed DynamoDB service is *not*
this design: its 2022 USENIX ATC paper describes leader-based replication per
partition with Multi-Paxos. Dynamo's ideas live on most directly in Cassandra
and Riak.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from course_lib.netsim import Partition
from course_lib.sharding import RING_SIZE, ConsistentHashRing, stable_hash

ORDERS = ("before", "after", "equal", "concurrent")


# -- vector clocks ----------------------------------------------------------------------------


class VectorClock:
    """A counter per node that coordinated a write, plus when each counter last moved.

    Clocks are values: :meth:`increment` and :meth:`merge` return new clocks.
    Dynamo caps a clock's length: past ``threshold`` entries (10 in the paper)
    an increment drops the entries updated longest ago, but never the one it
    just incremented, and a merge never drops anything. Pruning can then make
    a descendant look concurrent (a spurious sibling: an extra merge for the
    client), never make concurrent writes look ordered (a lost update) nor
    turn an order round. Why: every write a clock has seen is, or comes
    before, a write whose entry the clock still holds in full, and a clock
    that did not see that write has a smaller counter there.

    That argument needs each node's counter to be its own: a node only
    increments clocks that have seen its previous increments (in
    :meth:`DynamoCluster.put`, the coordinator moves past every counter it
    ever issued for the key).
    """

    def __init__(
        self, counters: dict[str, int] | None = None, stamps: dict[str, float] | None = None
    ) -> None:
        self.counters = dict(counters or {})
        for node, count in self.counters.items():
            if count < 0:
                raise ValueError(f"VectorClock counter for {node!r} must be >= 0, got {count}")
        self.stamps = dict(stamps or {node: 0.0 for node in self.counters})

    def increment(self, node: str, now: float = 0.0, threshold: int = 10) -> VectorClock:
        """This clock with ``node``'s counter one higher (and pruned to ``threshold`` entries).

        The new entry is never pruned, even when its timestamp ties with older
        ones (the default ``now``): dropping it would make this write look
        like its own ancestor.
        """
        counters, stamps = dict(self.counters), dict(self.stamps)
        counters[node] = counters.get(node, 0) + 1
        stamps[node] = now
        return VectorClock(counters, stamps).prune(threshold, keep=node)

    def prune(self, threshold: int = 10, keep: str | None = None) -> VectorClock:
        """Drop the oldest-updated entries until at most ``threshold`` remain (ties: by node name).

        ``keep`` is never dropped: :meth:`increment` passes the node it just moved.
        """
        if threshold < 1:
            raise ValueError(f"VectorClock threshold must be >= 1, got {threshold}")
        if len(self.counters) <= threshold:
            return self
        oldest_first = sorted(
            (n for n in self.counters if n != keep), key=lambda n: (self.stamps.get(n, 0.0), n)
        )
        dropped = set(oldest_first[: len(self.counters) - threshold])
        kept = [n for n in self.counters if n not in dropped]
        return VectorClock({n: self.counters[n] for n in kept}, {n: self.stamps.get(n, 0.0) for n in kept})

    def merge(self, other: VectorClock) -> VectorClock:
        """The smallest clock that has seen everything both have (pointwise maximum)."""
        counters = dict(self.counters)
        stamps = dict(self.stamps)
        for node, count in other.counters.items():
            if count > counters.get(node, 0):
                counters[node] = count
            stamps[node] = max(stamps.get(node, 0.0), other.stamps.get(node, 0.0))
        return VectorClock(counters, stamps)

    def descends(self, other: VectorClock) -> bool:
        """True when this clock has seen everything ``other`` has (self >= other)."""
        return all(self.counters.get(node, 0) >= count for node, count in other.counters.items())

    def compare(self, other: VectorClock) -> str:
        """``before``, ``after``, ``equal`` or ``concurrent`` (this clock relative to ``other``)."""
        mine, theirs = self.descends(other), other.descends(self)
        if mine and theirs:
            return "equal"
        if theirs:
            return "before"
        if mine:
            return "after"
        return "concurrent"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VectorClock):
            return NotImplemented
        return self.compare(other) == "equal"

    def __hash__(self) -> int:
        return hash(tuple(sorted((n, c) for n, c in self.counters.items() if c)))

    def __repr__(self) -> str:
        inner = ", ".join(f"{node}:{count}" for node, count in sorted(self.counters.items()))
        return "{" + inner + "}"


# -- Merkle trees -------------------------------------------------------------------------------


def _h(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class MerkleDiff:
    """The keys on which two trees differ, and how many hashes the walk compared to find them."""

    keys: list[str]
    compared: int
    leaves_visited: int


class MerkleTree:
    """A binary hash tree over one key range of the ring.

    The range ``[low, high)`` of hash positions is cut into ``2**depth`` equal
    buckets; a key goes to the bucket of ``stable_hash(key)``. A leaf hashes
    its keys with their values' hashes; an inner node hashes its two
    children. Two replicas build trees over the same range and depth, so equal
    subtrees mean equal data and :meth:`diff` never descends into them.
    Values are hashed by ``repr``: pass values whose repr is canonical.
    """

    def __init__(self, data: dict[str, Any], depth: int = 6, low: int = 0, high: int = RING_SIZE) -> None:
        if not 0 <= depth <= 20:
            raise ValueError(f"MerkleTree depth must be between 0 and 20, got {depth}")
        if not 0 <= low < high <= RING_SIZE:
            raise ValueError(f"MerkleTree range must satisfy 0 <= low < high <= 2**64, got [{low}, {high})")
        self.depth, self.low, self.high = depth, low, high
        leaves = 2**depth
        self.buckets: list[dict[str, str]] = [{} for _ in range(leaves)]
        for key, value in data.items():
            self.buckets[self.bucket(key)][key] = _h(repr(value))
        self.nodes = [""] * (2 * leaves)  # heap layout: root at 1, children of i at 2i and 2i+1
        for i, bucket in enumerate(self.buckets):
            self.nodes[leaves + i] = _h("|".join(f"{k}={bucket[k]}" for k in sorted(bucket)))
        for i in range(leaves - 1, 0, -1):
            self.nodes[i] = _h(self.nodes[2 * i] + self.nodes[2 * i + 1])

    def bucket(self, key: str) -> int:
        position = stable_hash(key)
        if not self.low <= position < self.high:
            raise ValueError(
                f"key {key!r} hashes to {position}, outside this tree's range [{self.low}, {self.high})"
            )
        leaves: int = 2**self.depth  # int ** int is typed Any: a negative exponent gives a float
        return (position - self.low) * leaves // (self.high - self.low)

    @property
    def root(self) -> str:
        return self.nodes[1]

    def diff(self, other: MerkleTree) -> MerkleDiff:
        """Walk both trees from the root, descending only where the hashes differ.

        At a differing leaf the per-key hashes are compared (and counted), so
        the result is exactly the keys whose values differ or that one side lacks.
        """
        if (self.depth, self.low, self.high) != (other.depth, other.low, other.high):
            raise ValueError(
                "MerkleTree.diff needs two trees over the same range and depth "
                f"(got depth {self.depth} vs {other.depth})"
            )
        leaves = 2**self.depth
        compared, visited, keys = 0, 0, []
        stack = [1]
        while stack:
            i = stack.pop()
            compared += 1
            if self.nodes[i] == other.nodes[i]:
                continue
            if i >= leaves:
                visited += 1
                mine, theirs = self.buckets[i - leaves], other.buckets[i - leaves]
                for key in sorted(set(mine) | set(theirs)):
                    compared += 1
                    if mine.get(key) != theirs.get(key):
                        keys.append(key)
            else:
                stack.extend((2 * i + 1, 2 * i))
        return MerkleDiff(sorted(keys), compared, visited)


# -- the cluster ---------------------------------------------------------------------------------


class DynamoRing(ConsistentHashRing):
    """A consistent-hash ring that also answers Dynamo's question: *which N nodes hold this key?*"""

    def walk(self, key: str) -> list[str]:
        """Every distinct node, clockwise from the key's position (the extended preference list)."""
        start = bisect.bisect_right(self.points, stable_hash(key))
        seen: list[str] = []
        for step in range(len(self.points)):
            owner = self.owners[(start + step) % len(self.points)]
            if owner not in seen:
                seen.append(owner)
                if len(seen) == len(self.nodes):
                    break
        return seen

    def preference_list(self, key: str, n: int) -> list[str]:
        """The first ``n`` distinct nodes clockwise: the key's home replicas."""
        return self.walk(key)[:n]


@dataclass(frozen=True)
class Version:
    """One value with the vector clock of the write that made it."""

    value: Any
    clock: VectorClock

    def __repr__(self) -> str:
        return f"{self.value!r}@{self.clock!r}"


def reconcile(versions: Iterable[Version]) -> list[Version]:
    """Keep only versions no other version descends from: one, or several concurrent siblings."""
    kept: list[Version] = []
    for v in versions:
        if any(k.clock.descends(v.clock) for k in kept):
            continue  # we already have v or something newer
        kept = [k for k in kept if not v.clock.descends(k.clock)] + [v]
    return sorted(kept, key=lambda v: (repr(v.clock), repr(v.value)))


class QuorumFailed(RuntimeError):
    """Fewer than W (or R) replicas could be reached: the one failure Dynamo reports."""


@dataclass
class StorageNode:
    """One Dynamo node: its data, the hints it keeps for others, and whether it is up."""

    name: str
    data: dict[str, list[Version]] = field(default_factory=dict)
    hints: dict[str, dict[str, list[Version]]] = field(default_factory=dict)  # home -> key -> versions
    up: bool = True
    issued: dict[str, int] = field(default_factory=dict)  # key -> the last counter it put in a clock

    def store(self, key: str, versions: Iterable[Version]) -> bool:
        """Merge ``versions`` into what this node has; True when that changed anything."""
        before = self.data.get(key, [])
        after = reconcile(list(before) + list(versions))
        if _digest(after) == _digest(before):
            return False
        self.data[key] = after
        return True


def _digest(versions: list[Version]) -> str:
    return repr(sorted((repr(v.clock), repr(v.value)) for v in versions))


@dataclass
class GetResult:
    """What a read returns: the sibling values, the context to write back with, and who answered."""

    key: str
    values: list[Any]
    context: VectorClock
    replicas: list[str]
    repaired: list[str]

    @property
    def conflict(self) -> bool:
        return len(self.values) > 1


@dataclass
class PutResult:
    """Where a write went: every replica that stored it, and which of them hold it as a hint."""

    key: str
    coordinator: str
    clock: VectorClock
    stored: list[str]
    hinted: dict[str, str]  # substitute node -> home node it stands in for


class DynamoCluster:
    """Dynamo in miniature: ``nodes`` on a ring, each key on its N-node preference list.

    ``put`` needs W replicas to store the write, ``get`` R replicas to answer.
    With ``sloppy=True`` (Dynamo's choice) an unreachable home node is replaced
    by the next healthy node on the ring, which keeps the write as a *hint* and
    hands it back (:meth:`handoff`) once the home node is reachable again.
    """

    def __init__(
        self,
        nodes: Iterable[str] = ("A", "B", "C", "D", "E"),
        n: int = 3,
        r: int = 2,
        w: int = 2,
        vnodes: int = 8,
        sloppy: bool = True,
        read_repair: bool = True,
        clock_threshold: int = 10,
        merkle_depth: int = 4,
    ) -> None:
        names = sorted(set(nodes))
        if not 1 <= n <= len(names):
            raise ValueError(
                f"DynamoCluster.n must be between 1 and the number of nodes ({len(names)}), got {n}"
            )
        for label, value in (("r", r), ("w", w)):
            if not 1 <= value <= n:
                raise ValueError(f"DynamoCluster.{label} must be between 1 and n={n}, got {value}")
        self.n, self.r, self.w = n, r, w
        self.sloppy, self.read_repair = sloppy, read_repair
        self.clock_threshold, self.merkle_depth = clock_threshold, merkle_depth
        self.ring = DynamoRing(names, vnodes)
        self.nodes = {name: StorageNode(name) for name in names}
        self.partition: Partition | None = None
        self.now = 0.0
        self.log: list[str] = []

    # faults
    def crash(self, name: str) -> None:
        self.node(name).up = False
        self.log.append(f"t={self.now:g} {name} is down")

    def recover(self, name: str) -> None:
        self.node(name).up = True
        self.log.append(f"t={self.now:g} {name} is back")

    def partition_nodes(self, *groups: Iterable[str]) -> Partition:
        self.partition = Partition(groups)
        self.log.append(f"t={self.now:g} partition {self.partition}")
        return self.partition

    def heal(self) -> None:
        self.partition = None
        self.log.append(f"t={self.now:g} healed")

    def node(self, name: str) -> StorageNode:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"no node named {name!r}; nodes are {sorted(self.nodes)}") from None

    def reachable(self, a: str, b: str) -> bool:
        """Can ``a`` talk to ``b``? Both up and on the same side of any partition."""
        if not (self.nodes[a].up and self.nodes[b].up):
            return False
        return self.partition is None or not self.partition.blocks(a, b)

    # placement
    def preference_list(self, key: str) -> list[str]:
        return self.ring.preference_list(key, self.n)

    def targets(self, key: str, coordinator: str) -> tuple[list[str], dict[str, str]]:
        """The replicas a request from ``coordinator`` uses, and the hints: substitute -> home.

        The first N reachable nodes of the extended preference list; each home
        node that is unreachable is stood in for by the next reachable node
        past the first N. Without ``sloppy``, only reachable home nodes count.
        """
        walk = self.ring.walk(key)
        homes = walk[: self.n]
        up_homes = [h for h in homes if self.reachable(coordinator, h)]
        if not self.sloppy:
            return up_homes, {}
        missing = [h for h in homes if h not in up_homes]
        spares = [s for s in walk[self.n :] if self.reachable(coordinator, s)]
        hinted = dict(zip(spares, missing, strict=False))
        return up_homes + list(hinted), hinted

    def coordinator_for(self, key: str, via: str | None) -> str:
        """The node that coordinates a request: ``via`` (the node the client reached) or the first
        reachable home."""
        if via is not None:
            if not self.node(via).up:
                raise QuorumFailed(f"node {via} is down: the client cannot reach it")
            return via
        for name in self.ring.walk(key):
            if self.nodes[name].up:
                return name
        raise QuorumFailed("every node is down")

    # the API
    def put(
        self, key: str, value: Any, context: VectorClock | None = None, via: str | None = None
    ) -> PutResult:
        """Write ``value`` as a successor of ``context`` (the clock from the client's last get).

        The coordinator increments its own entry of the clock; a write made
        without the latest context becomes a sibling of what it did not see.
        Raises :class:`QuorumFailed` when fewer than W replicas can store it.
        """
        self.now += 1
        coordinator = self.coordinator_for(key, via)
        # The coordinator's counter moves past every counter it ever issued for this key (and every
        # version of the key it stores), so a write from a stale or empty context, or through a
        # node that does not keep the key, never reuses a clock that names a different value.
        context = context or VectorClock()
        node = self.nodes[coordinator]
        local = max(
            [node.issued.get(key, 0)] + [v.clock.counters.get(coordinator, 0) for v in node.data.get(key, [])]
        )
        if local > context.counters.get(coordinator, 0):
            context = context.merge(VectorClock({coordinator: local}))
        clock = context.increment(coordinator, self.now, self.clock_threshold)
        node.issued[key] = clock.counters[coordinator]
        version = Version(value, clock)
        targets, hinted = self.targets(key, coordinator)
        if len(targets) < self.w:
            raise QuorumFailed(
                f"put {key!r}: only {len(targets)} replica(s) reachable from {coordinator} "
                f"({targets}), W={self.w} needed"
            )
        for name in targets:
            node = self.nodes[name]
            if name in hinted:
                node.hints.setdefault(hinted[name], {}).setdefault(key, [])
                node.hints[hinted[name]][key] = reconcile(node.hints[hinted[name]][key] + [version])
            node.store(key, [version])
        self.log.append(
            f"t={self.now:g} put {key}={value!r} {clock!r} via {coordinator} -> {targets}"
            + (f" hints {hinted}" if hinted else "")
        )
        return PutResult(key, coordinator, clock, targets, hinted)

    def get(self, key: str, via: str | None = None) -> GetResult:
        """Ask the first N reachable replicas, need R answers; return every sibling and the merged context."""
        self.now += 1
        coordinator = self.coordinator_for(key, via)
        targets, _hinted = self.targets(key, coordinator)
        if len(targets) < self.r:
            raise QuorumFailed(
                f"get {key!r}: only {len(targets)} replica(s) reachable from {coordinator}, R={self.r} needed"
            )
        answers = {name: self.nodes[name].data.get(key, []) for name in targets}
        merged = reconcile(v for versions in answers.values() for v in versions)
        repaired = []
        if self.read_repair:
            for name, versions in sorted(answers.items()):
                if _digest(reconcile(versions)) != _digest(merged) and self.nodes[name].store(key, merged):
                    repaired.append(name)
        context = VectorClock()
        for v in merged:
            context = context.merge(v.clock)
        values = sorted((v.value for v in merged), key=repr)
        return GetResult(key, values, context, sorted(targets), repaired)

    def update(self, key: str, change: Callable[[list[Any]], Any], via: str | None = None) -> PutResult:
        """Read, let the client merge the siblings and change the value, write back with the context."""
        result = self.get(key, via=via)
        return self.put(key, change(result.values), context=result.context, via=via)

    # repair
    def handoff(self) -> list[tuple[str, str, str]]:
        """Every node returns the hints it holds to home nodes it can reach again; returns (from, to, key)."""
        moved = []
        for holder in sorted(self.nodes.values(), key=lambda n: n.name):
            for home, keys in sorted(holder.hints.items()):
                if not self.reachable(holder.name, home):
                    continue
                for key, versions in sorted(keys.items()):
                    self.nodes[home].store(key, versions)
                    moved.append((holder.name, home, key))
                    if holder.name not in self.preference_list(key):
                        holder.data.pop(key, None)  # it was only minding the write for the home node
                holder.hints.pop(home)
        for src, dst, key in moved:
            self.log.append(f"t={self.now:g} handoff {key}: {src} -> {dst}")
        return moved

    def key_ranges(self) -> dict[tuple[str, ...], list[str]]:
        """Keys grouped by the N nodes that replicate them: one Merkle tree per group and replica."""
        keys = sorted({k for node in self.nodes.values() for k in node.data})
        ranges: dict[tuple[str, ...], list[str]] = {}
        for key in keys:
            ranges.setdefault(tuple(sorted(self.preference_list(key))), []).append(key)
        return ranges

    def tree(self, node: str, keys: Iterable[str]) -> MerkleTree:
        data = {k: _digest(self.nodes[node].data[k]) for k in keys if k in self.nodes[node].data}
        return MerkleTree(data, depth=self.merkle_depth)

    def anti_entropy(self) -> dict[str, int]:
        """Compare Merkle trees between every pair of reachable replicas of each key range; repair
        differences.

        Returns counts: ranges, pairs compared, hashes compared, keys repaired.
        """
        stats = {"ranges": 0, "pairs": 0, "hashes_compared": 0, "keys_repaired": 0}
        for replicas, keys in sorted(self.key_ranges().items()):
            stats["ranges"] += 1
            for i, a in enumerate(replicas):
                for b in replicas[i + 1 :]:
                    if not self.reachable(a, b):
                        continue
                    stats["pairs"] += 1
                    diff = self.tree(a, keys).diff(self.tree(b, keys))
                    stats["hashes_compared"] += diff.compared
                    for key in diff.keys:
                        both = self.nodes[a].data.get(key, []) + self.nodes[b].data.get(key, [])
                        self.nodes[a].store(key, both)
                        self.nodes[b].store(key, both)
                        stats["keys_repaired"] += 1
        self.log.append(f"t={self.now:g} anti-entropy {stats}")
        return stats

    # inspection
    def replicas_of(self, key: str) -> dict[str, list[Any]]:
        """What each node holding ``key`` has (sibling values, sorted)."""
        return {
            name: sorted((v.value for v in node.data[key]), key=repr)
            for name, node in sorted(self.nodes.items())
            if key in node.data
        }

    def converged(self, keys: Iterable[str] | None = None) -> bool:
        """Do all home replicas of each key hold exactly the same versions?"""
        keys = sorted({k for node in self.nodes.values() for k in node.data}) if keys is None else keys
        for key in keys:
            digests = {_digest(self.nodes[h].data.get(key, [])) for h in self.preference_list(key)}
            if len(digests) > 1:
                return False
        return True


def merge_carts(siblings: list[Any]) -> list[str]:
    """The shopping cart's merge: the union of the items in every sibling cart (sorted).

    Union never loses an "add", which is why Amazon chose it; the price is
    that a deleted item can come back if the delete was on one sibling only.
    """
    items: set[str] = set()
    for cart in siblings:
        items |= set(cart)
    return sorted(items)
