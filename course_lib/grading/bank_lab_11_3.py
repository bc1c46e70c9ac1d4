"""Questions of lab 11.3 (CAP and PACELC): a brute-force linearizability check, what a quorum
configuration can still do during a partition, and finding stale reads.

Histories are plain tuples and dicts so the answers are the learner's own reasoning; the
expected values come from ``course_lib.consistency`` where it has the same rule.
"""

from __future__ import annotations

from course_lib.consistency import INF, REGISTER, CheckOp, check_linearizable
from course_lib.grading.questions import Case, Question, register

LAB = "lab-11.3-cap"


# -- q1: is this small register history linearizable? ---------------------------------------------


def _expected_linearizable(ops: list[tuple]) -> bool:
    """The course's checker on the same history (ret None = unknown outcome)."""
    check_ops = [
        CheckOp(
            i,
            f"p{i}",
            kind,
            "x",
            value if kind == "write" else None,
            value if kind == "read" else None,
            call,
            INF if ret is None else ret,
        )
        for i, (kind, value, call, ret) in enumerate(ops)
    ]
    return bool(check_linearizable(check_ops, REGISTER).ok)


Q1_HISTORIES: list[list[tuple[str, int | None, int, int | None]]] = [
    [("write", 1, 0, 1), ("read", 1, 2, 3)],  # sequential
    [("write", 1, 0, 1), ("write", 2, 2, 3), ("read", 1, 4, 5)],  # stale read
    [("write", 1, 0, 10), ("read", None, 1, 2), ("read", 1, 3, 4)],  # overlapping write
    [("write", 1, 0, 10), ("read", 1, 1, 2), ("read", None, 3, 4)],  # new then old
    [("write", 1, 0, None), ("read", None, 1, 2), ("read", 1, 5, 6)],  # unknown write, late
    [("write", 1, 0, None), ("read", None, 1, 2), ("read", None, 5, 6)],  # unknown write, never
    [("read", 1, 0, 1), ("write", 1, 2, None)],  # read before the write began
    [("write", 1, 0, 5), ("write", 2, 0, 5), ("read", 2, 6, 7), ("read", 1, 8, 9)],  # order flips
    [("write", 1, 0, 5), ("write", 2, 0, 5), ("read", 1, 6, 7), ("read", 1, 8, 9)],
    [("read", None, 0, 1)],
    [("write", 1, 3, 4), ("read", 1, 0, 3)],  # touching ends: concurrent
]

register(
    Question(
        id="11.3-q1",
        title="Is this history linearizable? (brute force)",
        answer_name="is_linearizable",
        points=4,
        writes=("course_lib.consistency.checker.check_linearizable",),
        lab=LAB,
        public=[Case(args=(h,), expected=_expected_linearizable(h)) for h in Q1_HISTORIES],
    )
)


# -- q2: what can a quorum configuration do during a partition? ------------------------------------


def _profile(n: int, w: int, r: int) -> dict:
    minority = (n - 1) // 2
    return {
        "overlap": w + r > n,
        "write_tolerates": n - w,
        "read_tolerates": n - r,
        "minority_can": [op for op, need in (("read", r), ("write", w)) if need <= minority],
    }


Q2_CONFIGS = [
    (3, 2, 2),
    (3, 1, 1),
    (3, 3, 1),
    (3, 1, 3),
    (5, 3, 3),
    (5, 2, 2),
    (5, 2, 4),
    (1, 1, 1),
    (4, 2, 2),
    (4, 3, 2),
    (7, 3, 3),
]

register(
    Question(
        id="11.3-q2",
        title="Classify quorum configurations",
        answer_name="classify_quorum",
        points=3,
        lab=LAB,
        public=[Case(args=config, expected=_profile(*config)) for config in Q2_CONFIGS],
    )
)


# -- q3: find the stale reads --------------------------------------------------------------------


def _op(index, kind, value, invoke, complete):
    return {"index": index, "kind": kind, "value": value, "invoke": invoke, "complete": complete}


Q3_CASES = [
    ([_op(0, "write", "a", 0, 1), _op(1, "write", "b", 2, 3), _op(2, "read", "a", 4, 5)], [2]),
    ([_op(0, "write", "a", 0, 1), _op(1, "read", None, 2, 3)], [1]),
    ([_op(0, "write", "a", 0, 1), _op(1, "read", "a", 0.5, 3)], []),  # read began before the ack
    (
        [_op(0, "write", "a", 0, 5), _op(1, "write", "b", 1, 6), _op(2, "read", "a", 7, 8)],
        [],
    ),  # concurrent writes
    (
        [
            _op(0, "write", "a", 0, 1),
            _op(1, "write", "b", 2, 3),
            _op(2, "read", "b", 4, 5),
            _op(3, "read", "a", 6, 7),
            _op(4, "read", None, 8, 9),
        ],
        [3, 4],
    ),
    ([_op(0, "read", None, 0, 1), _op(1, "write", "a", 2, 3)], []),
    (
        [_op(2, "read", "a", 4, 5), _op(0, "write", "a", 0, 1), _op(1, "write", "b", 2, 3)],
        [2],
    ),  # any order given
    (
        [_op(0, "write", "a", 0, 1), _op(1, "write", "b", 1, 2), _op(2, "read", "a", 2, 3)],
        [2],
    ),  # touching ends
    (
        [
            _op(5, "read", "a", 6, 7),
            _op(4, "read", "c", 6, 7),
            _op(3, "read", None, 6, 7),
            _op(0, "write", "a", 0, 1),
            _op(1, "write", "b", 2, 3),
            _op(2, "write", "c", 4, 5),
        ],
        [3, 5],
    ),
]

register(
    Question(
        id="11.3-q3",
        title="Find the stale reads",
        answer_name="stale_reads",
        points=3,
        lab=LAB,
        public=[Case(args=(ops,), expected=expected) for ops, expected in Q3_CASES],
    )
)
