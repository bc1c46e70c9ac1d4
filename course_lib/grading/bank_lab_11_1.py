"""Questions of lab 11.1 (replication): a quorum read with read repair, lost writes after a
failover, and choosing a replication mode for stated requirements.

Learners write the rules on plain data (lists, dicts, numbers) rather than calling
``course_lib.replication``, so the answer is their own reasoning about quorums and acks.
"""

from __future__ import annotations

from course_lib.grading.questions import Case, Question, register

LAB = "lab-11.1-replication"


# -- q1: a quorum read with read repair -----------------------------------------------------

# replies in arrival order: (replica, version, value)
REPLIES = [("n2", 3, "blue"), ("n1", 5, "green"), ("n3", 5, "green")]

register(
    Question(
        id="11.1-q1",
        title="A quorum read with read repair",
        answer_name="quorum_read",
        points=4,
        lab=LAB,
        public=[
            Case(args=(REPLIES, 2), expected=("green", ["n2"])),
            Case(args=(REPLIES, 1), expected=("blue", [])),
            Case(args=(REPLIES, 3), expected=("green", ["n2"])),
            Case(
                args=([("n3", 1, "a"), ("n1", 4, "d"), ("n2", 2, "b"), ("n4", 3, "c")], 3),
                expected=("d", ["n2", "n3"]),
            ),
            Case(args=([("n1", 2, "zebra"), ("n2", 7, "apple")], 2), expected=("apple", ["n1"])),
            Case(args=([("n1", 0, None), ("n2", 0, None)], 2), expected=(None, [])),
            Case(args=([("n1", 4, "x")], 2), raises=ValueError),
        ],
    )
)


# -- q2: which acknowledged writes does a failover lose? ----------------------------------------

register(
    Question(
        id="11.1-q2",
        title="Count the writes a failover loses",
        answer_name="failover_loss",
        points=3,
        lab=LAB,
        public=[
            Case(
                args=(["w1", "w2", "w3", "w4"], {"n2": ["w1", "w2"], "n3": ["w1", "w2", "w3"]}),
                expected=("n3", ["w4"]),
            ),
            Case(args=(["w1", "w2"], {"n2": ["w1", "w2"], "n3": ["w1", "w2"]}), expected=("n2", [])),
            Case(args=(["w1", "w2", "w3"], {"n3": ["w1"], "n2": []}), expected=("n3", ["w2", "w3"])),
            Case(args=(["w1", "w3"], {"n2": ["w1", "w2", "w3"], "n3": ["w1"]}), expected=("n2", [])),
            Case(
                args=(["a", "b", "c", "d"], {"n9": ["a"], "n4": ["a", "b"], "n5": ["a", "b"]}),
                expected=("n4", ["c", "d"]),
            ),
            Case(args=([], {"n2": []}), expected=("n2", [])),
            Case(args=(["b2", "a1", "c3"], {"n2": [], "n1": []}), expected=("n1", ["b2", "a1", "c3"])),
        ],
    )
)


# -- q3: choose a replication mode -----------------------------------------------------------


def _c(may_lose, survive, budget, leader=2.0, followers=(3.0, 8.0)):
    return dict(
        may_lose_acked=may_lose,
        survive_follower_outage=survive,
        ack_budget_ms=budget,
        leader_rtt_ms=leader,
        follower_rtts_ms=list(followers),
    )


register(
    Question(
        id="11.1-q3",
        title="Choose a replication mode",
        answer_name="choose_mode",
        points=3,
        lab=LAB,
        public=[
            Case(kwargs=_c(False, False, 20.0), expected="sync"),
            Case(kwargs=_c(False, False, 9.0), expected="semi-sync"),
            Case(kwargs=_c(False, True, 20.0), expected="semi-sync"),
            Case(kwargs=_c(False, False, 4.0), expected=None),
            Case(kwargs=_c(True, False, 4.0), expected="async"),
            Case(kwargs=_c(True, True, 100.0), expected="semi-sync"),
            Case(kwargs=_c(False, True, 100.0, followers=(3.0,)), expected=None),
            Case(kwargs=_c(True, True, 100.0, followers=(3.0,)), expected="async"),
            Case(kwargs=_c(False, False, 10.0), expected="sync"),
        ],
    )
)
