"""Questions of lab 11.4 (case studies): compare vector clocks, reconcile sibling versions, and walk
a Merkle diff. Expected values come from ``course_lib.dynamo``, which the module notebook uses.
"""

from __future__ import annotations

from course_lib.dynamo import MerkleTree, VectorClock
from course_lib.grading.questions import Case, Question, register

LAB = "lab-11.4-dynamo"


# -- q1: compare two vector clocks ---------------------------------------------------------------

Q1_PAIRS = [
    ({"A": 1}, {"A": 2}),
    ({"A": 2}, {"A": 1}),
    ({"A": 1, "B": 1}, {"A": 1, "B": 1}),
    ({"A": 2, "B": 1}, {"A": 2, "C": 1}),
    ({}, {"A": 1}),
    ({"A": 1}, {"A": 1, "B": 0}),
    ({"A": 3}, {"A": 2, "B": 1}),
    ({"A": 2, "B": 1}, {"A": 3, "B": 1, "C": 1}),
    ({"Sx": 2, "Sy": 1}, {"Sx": 2, "Sz": 1}),
    ({}, {}),
]

register(
    Question(
        id="11.4-q1",
        title="Compare vector clocks",
        answer_name="compare_clocks",
        points=3,
        writes=("course_lib.dynamo.VectorClock",),
        lab=LAB,
        public=[Case(args=(a, b), expected=VectorClock(a).compare(VectorClock(b))) for a, b in Q1_PAIRS],
    )
)


# -- q2: reconcile versions into siblings and a context ---------------------------------------------


def _reconcile(versions: list[tuple[dict, list]]) -> tuple[list, dict]:
    kept = []
    for i, (clock, value) in enumerate(versions):
        vc = VectorClock(clock)
        dominated = any(
            VectorClock(other).compare(vc) == "after" for j, (other, _v) in enumerate(versions) if j != i
        )
        duplicate = any(VectorClock(other).compare(vc) == "equal" for other, _v in versions[:i])
        if not dominated and not duplicate:
            kept.append(value)
    context: dict = {}
    for clock, _value in versions:
        for node, count in clock.items():
            context[node] = max(context.get(node, 0), count)
    return sorted(kept), dict(sorted(context.items()))


Q2_CASES = [
    [({"A": 1}, ["book"]), ({"A": 2}, ["book", "pen"])],
    [({"A": 2, "B": 1}, ["book", "pen"]), ({"A": 2, "C": 1}, ["book", "mug"])],
    [({"A": 1}, ["x"]), ({"A": 1}, ["x"])],
    [({"Sx": 2}, ["D2"]), ({"Sx": 2, "Sy": 1}, ["D3"]), ({"Sx": 2, "Sz": 1}, ["D4"])],
    [({"A": 1}, ["a"]), ({"B": 1}, ["b"]), ({"C": 1}, ["c"]), ({"A": 1, "B": 1}, ["a", "b"])],
    [({"A": 3}, ["late"])],
    [({"B": 2}, ["b2"]), ({"A": 5}, ["a5"]), ({"B": 1}, ["b1"])],
]

register(
    Question(
        id="11.4-q2",
        title="Reconcile siblings and build the context",
        answer_name="reconcile_versions",
        points=3,
        writes=(
            "course_lib.dynamo.reconcile",
            "course_lib.dynamo.VectorClock",
        ),
        lab=LAB,
        public=[Case(args=(versions,), expected=_reconcile(versions)) for versions in Q2_CASES],
    )
)


# -- q3: walk a Merkle diff ------------------------------------------------------------------------


def _trees(a: dict, b: dict, depth: int) -> tuple:
    ta, tb = MerkleTree(a, depth=depth), MerkleTree(b, depth=depth)
    diff = ta.diff(tb)
    return (ta.nodes, ta.buckets, tb.nodes, tb.buckets), (diff.keys, diff.compared)


def _q3_cases() -> list[Case]:
    base = {f"cart:{i:03d}": f"items-{i}" for i in range(40)}
    variants = [
        (dict(base), 3),  # equal: the roots match
        ({**base, "cart:007": "changed"}, 3),  # one changed value
        ({k: v for k, v in base.items() if k != "cart:012"}, 3),  # a key missing on one side
        ({**base, "cart:999": "new"}, 2),  # a key only on the other side
        ({**base, "cart:001": "x", "cart:020": "y", "cart:033": "z"}, 4),  # three differences
        ({**base, "cart:005": "x"}, 0),  # depth 0: the root is the only leaf
    ]
    cases = []
    for other, depth in variants:
        args, expected = _trees(base, other, depth)
        cases.append(Case(args=args, expected=expected))
    return cases


register(
    Question(
        id="11.4-q3",
        title="Walk a Merkle diff",
        answer_name="merkle_diff",
        points=4,
        writes=("course_lib.dynamo.MerkleTree.diff",),
        lab=LAB,
        public=_q3_cases(),
    )
)
