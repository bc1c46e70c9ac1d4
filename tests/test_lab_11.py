"""Labs 11.1 and 11.2: reference answers score full marks, plausible wrong answers lose points,
and the grader gives the solution notebooks full marks and the generated labs zero.
"""

from __future__ import annotations

import bisect

import pytest

from course_lib.grading.questions import get
from course_lib.grading.runner import run_question
from course_lib.sharding import stable_hash



def score(question_id: str, answer) -> tuple[float, float]:
    question = get(question_id)
    return run_question(question, answer, timeout=5).score, question.points


# -- reference answers (the same logic as solutions/, kept independent of the notebooks) ----

def quorum_read(replies, r, *, mistake=None):
    if len(replies) < r and mistake != "no quorum check":
        raise ValueError(f"only {len(replies)} replies, need {r}")
    used = replies if mistake == "uses every reply" else replies[:r]
    if mistake == "newest by value":
        newest = max(used, key=lambda rep: (rep[2] is not None, rep[2]))
    else:
        newest = max(used, key=lambda rep: rep[1])
    repairs = [name for name, version, _ in used if version < newest[1]]
    if mistake == "repairs everyone else":
        repairs = [name for name, _, _ in used if name != newest[0]]
    return newest[2], (repairs if mistake == "unsorted repairs" else sorted(repairs))


def failover_loss(acked, logs, *, mistake=None):
    if mistake == "first follower":
        promoted = next(iter(logs))
    elif mistake == "last of the ties":
        promoted = max(sorted(logs), key=lambda n: (len(logs[n]), n))
    else:
        promoted = min(logs, key=lambda n: (-len(logs[n]), n))
    have = set(logs[promoted])
    lost = [w for w in acked if w not in have]
    if mistake == "set difference":
        lost = sorted(set(acked) - have)
    return promoted, (sorted(lost, reverse=True) if mistake == "reversed" else lost)


def choose_mode(*, may_lose_acked, survive_follower_outage, ack_budget_ms, leader_rtt_ms, follower_rtts_ms,
                mistake=None):
    latency = {"sync": leader_rtt_ms + max(follower_rtts_ms),
               "semi-sync": leader_rtt_ms + min(follower_rtts_ms),
               "async": leader_rtt_ms}
    if mistake == "sync waits for the fastest":
        latency["sync"] = latency["semi-sync"]
    for mode in ("sync", "semi-sync", "async"):
        if mode == "async" and not may_lose_acked and mistake != "async is always safe":
            continue
        if survive_follower_outage and mistake != "ignores outages":
            if mode == "sync" or (mode == "semi-sync" and len(follower_rtts_ms) < 2):
                continue
        if latency[mode] < ack_budget_ms if mistake == "strict budget" else latency[mode] <= ack_budget_ms:
            return mode
    return "async" if mistake == "never none" else None


def ring_lookup(nodes, vnodes, key, *, mistake=None):
    name = "{}-{}" if mistake == "vnode names" else "{}#{}"
    points = sorted((stable_hash(name.format(n, i)), n) for n in nodes for i in range(vnodes))
    if mistake == "unsorted nodes":
        points = [(stable_hash(name.format(n, i)), n) for n in nodes for i in range(vnodes)]
    positions = [p for p, _ in points]
    h = stable_hash(key)
    if mistake == "mod":
        return sorted(nodes)[h % len(nodes)]
    i = bisect.bisect_right(positions, h)
    if mistake == "counter-clockwise":
        return points[i - 1][1]
    if mistake == "no wrap":
        return points[i][1]
    return points[i % len(points)][1]


def moved_keys(before, after, keys, *, mistake=None):
    moved = [k for k in keys if before(k) != after(k)]
    if mistake == "counts the stayers":
        moved = [k for k in keys if before(k) == after(k)]
    share = round(len(moved) / len(keys), 4) if keys else 0.0
    if mistake == "divides by zero":
        share = round(len(moved) / len(keys), 4)
    destinations = sorted({after(k) for k in moved})
    if mistake == "old homes":
        destinations = sorted({before(k) for k in moved})
    if mistake == "unrounded":
        share = len(moved) / len(keys) if keys else 0.0
    return {"moved": len(moved), "share": share, "destinations": destinations}


def shards_for_range(splits, low, high, *, mistake=None):
    if low > high and mistake != "no order check":
        raise ValueError("low > high")
    find = bisect.bisect_left if mistake == "bisect_left" else bisect.bisect_right
    first, last = find(splits, low), find(splits, high)
    if mistake == "every shard":
        return list(range(len(splits) + 1))
    if mistake == "exclusive end":
        return list(range(first, max(first + 1, last)))
    return list(range(first, last + 1))


def test_reference_answers_score_full_marks():
    assert score("11.1-q1", quorum_read) == (4, 4)
    assert score("11.1-q2", failover_loss) == (3, 3)
    assert score("11.1-q3", choose_mode) == (3, 3)
    assert score("11.2-q1", ring_lookup) == (4, 4)
    assert score("11.2-q2", moved_keys) == (3, 3)
    assert score("11.2-q3", shards_for_range) == (3, 3)


def _with(answer, mistake):
    return lambda *args, **kwargs: answer(*args, **kwargs, mistake=mistake)


WRONG = [
    *(("11.1-q1", m, _with(quorum_read, m)) for m in
      ("no quorum check", "uses every reply", "newest by value", "repairs everyone else", "unsorted repairs")),
    *(("11.1-q2", m, _with(failover_loss, m)) for m in
      ("first follower", "last of the ties", "set difference", "reversed")),
    *(("11.1-q3", m, _with(choose_mode, m)) for m in
      ("sync waits for the fastest", "async is always safe", "ignores outages", "strict budget", "never none")),
    *(("11.2-q1", m, _with(ring_lookup, m)) for m in
      ("vnode names", "mod", "counter-clockwise", "no wrap")),
    *(("11.2-q2", m, _with(moved_keys, m)) for m in
      ("counts the stayers", "divides by zero", "old homes", "unrounded")),
    *(("11.2-q3", m, _with(shards_for_range, m)) for m in
      ("no order check", "bisect_left", "every shard", "exclusive end")),
]


@pytest.mark.parametrize("question_id, mistake, answer", WRONG, ids=[f"{q}-{m}" for q, m, _ in WRONG])
def test_a_plausible_wrong_answer_loses_points(question_id, mistake, answer):
    earned, points = score(question_id, answer)
    assert earned < points, f"{question_id}: the mistake '{mistake}' still scores full marks"
