"""CartExplorer: Amazon's shopping cart on a Dynamo cluster; fail a node, cut the network, watch it cope.

Like the other explorers it keeps the list of actions and replays them on a
fresh :class:`~course_lib.dynamo.DynamoCluster`, so a picture can always be
reproduced. Every "add" reads the cart, merges the siblings (union) and
writes back with the read's vector clock, as the paper's client does.
"""

from __future__ import annotations

from course_lib.dynamo import DynamoCluster, QuorumFailed, merge_carts
from course_lib.viz.explorer import ActionExplorer

KEY = "cart:alice"
ITEMS = ("book", "pen", "mug", "tea", "lamp", "sock", "map", "cup")
ACTIONS = {
    "add-left": "add an item through the first home node",
    "add-right": "add an item through the second home node",
    "crash-home": "crash the cart's first home node",
    "recover-home": "bring it back",
    "partition": "cut the first home node and one spare off from the rest",
    "heal": "reconnect everybody",
    "handoff": "hint holders hand writes back to reachable home nodes",
    "anti-entropy": "replicas compare Merkle trees and repair",
}


def replay(actions: list[str]) -> tuple[DynamoCluster, list[str]]:
    """Play ``actions`` on a fresh 5-node cluster; return it and one line of outcome per action."""
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown:
        raise ValueError(f"unknown action(s) {unknown}; choose from {sorted(ACTIONS)}")
    cluster = DynamoCluster()
    walk = cluster.ring.walk(KEY)
    first, second = walk[0], walk[1]
    left = {walk[0], walk[3]}
    out, added = [], 0
    for action in actions:
        try:
            if action.startswith("add"):
                item = ITEMS[added % len(ITEMS)]
                added += 1
                home = first if action == "add-left" else second
                # A home node that is down: the client's load balancer picks another node.
                via = home if cluster.node(home).up else None
                read = cluster.get(KEY, via=via)
                result = cluster.put(KEY, merge_carts(read.values) + [item], context=read.context, via=via)
                hints = f", hints {result.hinted}" if result.hinted else ""
                seen = f" (merged {len(read.values)} siblings)" if read.conflict else ""
                out.append(
                    f"added {item!r} via {result.coordinator}{seen}: stored on {result.stored}{hints}, "
                    f"clock {result.clock!r}"
                )
            elif action == "crash-home":
                cluster.crash(first)
                out.append(f"{first} is down")
            elif action == "recover-home":
                cluster.recover(first)
                out.append(f"{first} is back (its copy is stale until handoff or repair)")
            elif action == "partition":
                cluster.partition_nodes(left, set(cluster.nodes) - left)
                out.append(f"partition {cluster.partition}")
            elif action == "heal":
                cluster.heal()
                out.append("healed")
            elif action == "handoff":
                moved = cluster.handoff()
                out.append(f"handed back {len(moved)}: {moved}" if moved else "no hints to hand back")
            else:
                stats = cluster.anti_entropy()
                out.append(
                    f"compared {stats['hashes_compared']} hashes over {stats['pairs']} replica pairs, "
                    f"repaired {stats['keys_repaired']} key copies"
                )
        except QuorumFailed as error:
            out.append(f"FAILED: {error}")
    return cluster, out


class CartExplorer(ActionExplorer):
    """Add to cart through either home node while nodes fail and the network splits."""

    title = "Dynamo: add to cart always works"

    ACTIONS = ACTIONS

    def static_text(self) -> str:
        cluster, outcomes = replay(self.actions)
        homes = cluster.preference_list(KEY)
        lines = [f"{KEY}: home replicas {homes} (N={cluster.n}, R={cluster.r}, W={cluster.w})"]
        for i, (action, outcome) in enumerate(zip(self.actions, outcomes, strict=False), start=1):
            lines.append(f"{i:>2} {action:<13} {outcome}")
        if not self.actions:
            lines.append("no actions yet: try add-left, crash-home, add-left, recover-home, handoff")
        lines.append("")
        for name, node in sorted(cluster.nodes.items()):
            versions = node.data.get(KEY, [])
            carts = " | ".join(f"{v.value}@{v.clock!r}" for v in versions) or "-"
            role = "home" if name in homes else "spare"
            hints = {home: sorted(keys) for home, keys in node.hints.items()}
            state = "up" if node.up else "DOWN"
            lines.append(f"{name} ({role}, {state}): {carts}" + (f"   hints for {hints}" if hints else ""))
        lines.append(f"home replicas agree: {cluster.converged([KEY])}")
        return "\n".join(lines)
