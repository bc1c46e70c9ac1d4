"""Questions of lab 11.2 (sharding): a ring lookup with virtual nodes, counting moved keys,
and routing a range query.

The ring must agree with ``course_lib.sharding.ConsistentHashRing`` exactly (same
point names, same clockwise rule), so the cases compare against it.
"""

from __future__ import annotations

from course_lib.grading.questions import Case, Question, register
from course_lib.sharding import ConsistentHashRing, RangeSharding

LAB = "lab-11.2-sharding"

KEYS = [f"user:{i}" for i in range(60)] + ["", "zzz", "cart:42", "Smith"]


# -- q1: ring lookup --------------------------------------------------------------------------


def _lookups(nodes: list[str], vnodes: int):
    def drive(ring_lookup) -> list[str]:
        return [ring_lookup(list(nodes), vnodes, key) for key in KEYS]

    return drive


def _reference(nodes: list[str], vnodes: int) -> list[str]:
    ring = ConsistentHashRing(nodes, vnodes)
    return [ring.shard_for(key) for key in KEYS]


RING_CASES = [
    (["a", "b", "c"], 1),
    (["a", "b", "c"], 10),
    (["node-0", "node-1", "node-2", "node-3"], 100),
    (["solo"], 3),
]

register(
    Question(
        id="11.2-q1",
        title="Look a key up on a ring with virtual nodes",
        answer_name="ring_lookup",
        points=4,
        writes=("course_lib.sharding.ConsistentHashRing",),
        lab=LAB,
        public=[
            Case(
                args=(["a", "b", "c"], 1, "user:1"),
                expected=ConsistentHashRing(["a", "b", "c"], 1).shard_for("user:1"),
            ),
            *(
                Case(
                    call=_lookups(nodes, v),
                    show=f"[ring_lookup({nodes}, {v}, key) for key in {len(KEYS)} keys]",
                    expected=_reference(nodes, v),
                )
                for nodes, v in RING_CASES
            ),
            Case(
                call=lambda f: [f(["c", "a", "b"], 10, k) for k in KEYS],
                show="the same lookups with nodes given as ['c', 'a', 'b']",
                expected=_reference(["a", "b", "c"], 10),
            ),
        ],
    )
)


# -- q2: count moved keys -------------------------------------------------------------------

OLD = {"k1": "A", "k2": "A", "k3": "B", "k4": "C"}
NEW = {"k1": "A", "k2": "D", "k3": "D", "k4": "C"}


def _placements(before: dict, after: dict):
    def drive(moved_keys) -> dict:
        return moved_keys(before.__getitem__, after.__getitem__, list(before))

    return drive


def _rings(drive_keys: int):
    keys = [f"user:{i}" for i in range(drive_keys)]
    before = ConsistentHashRing(["n1", "n2", "n3"], 50)
    after = before.with_node("n4")

    def drive(moved_keys) -> dict:
        return moved_keys(before.shard_for, after.shard_for, keys)

    moved = [k for k in keys if before.shard_for(k) != after.shard_for(k)]
    expected = {"moved": len(moved), "share": round(len(moved) / len(keys), 4), "destinations": ["n4"]}
    return drive, expected


_ring_drive, _ring_expected = _rings(2_000)

register(
    Question(
        id="11.2-q2",
        title="Count the keys that move",
        answer_name="moved_keys",
        points=3,
        writes=("course_lib.sharding.keys_moved",),
        lab=LAB,
        public=[
            Case(
                call=_placements(OLD, NEW),
                show="before: k1,k2->A k3->B k4->C; after: k1->A k2,k3->D k4->C",
                expected={"moved": 2, "share": 0.5, "destinations": ["D"]},
            ),
            Case(
                call=_placements(OLD, OLD),
                show="the same placement before and after",
                expected={"moved": 0, "share": 0.0, "destinations": []},
            ),
            Case(
                call=_placements({"x": "A", "y": "B", "z": "C"}, {"x": "C", "y": "A", "z": "B"}),
                show="before: x->A y->B z->C; after: x->C y->A z->B",
                expected={"moved": 3, "share": 1.0, "destinations": ["A", "B", "C"]},
            ),
            Case(
                call=_placements({"x": "A", "y": "B", "z": "C"}, {"x": "C", "y": "A", "z": "C"}),
                show="before: x->A y->B z->C; after: x->C y->A z->C",
                expected={"moved": 2, "share": 0.6667, "destinations": ["A", "C"]},
            ),
            Case(
                call=lambda f: f(str.upper, str.upper, []),
                show="no keys at all",
                expected={"moved": 0, "share": 0.0, "destinations": []},
            ),
            Case(
                call=_ring_drive,
                show="a 3-node ring (50 vnodes) gains node n4; 2,000 keys",
                expected=_ring_expected,
            ),
        ],
    )
)


# -- q3: route a range query --------------------------------------------------------------------

SPLITS = ["G", "N", "T"]  # shard 0: ..G, 1: G..N, 2: N..T, 3: T..

register(
    Question(
        id="11.2-q3",
        title="Route a range query",
        answer_name="shards_for_range",
        points=3,
        writes=("course_lib.sharding.RangeSharding",),
        lab=LAB,
        public=[
            Case(args=(SPLITS, "Smith", "Taylor"), expected=[2, 3]),
            Case(args=(SPLITS, "Adams", "Baker"), expected=[0]),
            Case(args=(SPLITS, "N", "Nz"), expected=[2]),
            Case(args=(SPLITS, "Fox", "G"), expected=[0, 1]),
            Case(args=(SPLITS, "A", "Z"), expected=[0, 1, 2, 3]),
            Case(args=([], "a", "z"), expected=[0]),
            Case(args=(SPLITS, "Taylor", "Smith"), raises=ValueError),
            Case(
                args=(["b", "d", "f", "h"], "c", "g"),
                expected=[RangeSharding(["b", "d", "f", "h"]).shard_index(s) for s in ("c", "e", "g")],
            ),
        ],
    )
)
