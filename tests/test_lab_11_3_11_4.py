"""Labs 11.3 and 11.4: reference answers score full marks, plausible wrong answers lose points,
and the grader gives the solution notebooks full marks and the generated labs zero.
"""

from __future__ import annotations

from itertools import permutations

import pytest

from course_lib.grading.questions import get
from course_lib.grading.runner import run_question



def score(question_id: str, answer) -> tuple[float, float]:
    question = get(question_id)
    return run_question(question, answer, timeout=5).score, question.points


# -- reference answers (the same logic as solutions/, kept independent of the notebooks) ----

def is_linearizable(ops, *, mistake=None):
    known = [i for i, op in enumerate(ops) if op[3] is not None]
    unknown = [i for i, op in enumerate(ops) if op[3] is None]
    if mistake == "unknown means instantaneous":
        ops = [(k, v, c, c if r is None else r) for k, v, c, r in ops]
        known, unknown = list(range(len(ops))), []
    masks = [0] if mistake == "unknown writes never happen" else range(2 ** len(unknown))
    for mask in masks:
        chosen = known + [i for bit, i in enumerate(unknown) if mask >> bit & 1]
        for order in permutations(chosen):
            pos = {i: p for p, i in enumerate(order)}

            def before(a, b):
                ret = ops[a][3]
                if mistake == "touching ends ordered":
                    return ret is not None and ret <= ops[b][2]
                return ret is not None and ret < ops[b][2]
            if mistake != "ignores real time" and any(before(a, b) and pos[a] > pos[b] for a in chosen for b in chosen):
                continue
            value, legal = None, True
            for i in order:
                kind, v, _c, _r = ops[i]
                if kind == "write":
                    value = v
                elif v != value:
                    legal = False
                    break
            if legal:
                return True
    return False


def classify_quorum(n, w, r, *, mistake=None):
    minority = n // 2 if mistake == "minority is n // 2" else (n - 1) // 2
    can = [op for op, need in (("read", r), ("write", w)) if need <= minority]
    if mistake == "unsorted":
        can = can[::-1]
    return {
        "overlap": w + r >= n if mistake == "overlap with >=" else w + r > n,
        "write_tolerates": n - w - 1 if mistake == "off by one" else n - w,
        "read_tolerates": n - r,
        "minority_can": can,
    }


def stale_reads(ops, *, mistake=None):
    writes = {op["value"]: op for op in ops if op["kind"] == "write"}
    out = []
    for read in (op for op in ops if op["kind"] == "read"):
        if mistake == "strict before":
            newer = [w for w in writes.values() if w["complete"] < read["invoke"]]
        else:
            newer = [w for w in writes.values() if w["complete"] <= read["invoke"]]
        if not newer:
            continue
        if read["value"] is None:
            if mistake != "initial value is fine":
                out.append(read["index"])
            continue
        source = writes[read["value"]]
        if mistake == "any other write":
            if any(w is not source for w in newer):
                out.append(read["index"])
        elif any(source["complete"] <= w["invoke"] for w in newer):
            out.append(read["index"])
    return out if mistake == "unsorted" else sorted(out)


def compare_clocks(a, b, *, mistake=None):
    nodes = set(a) if mistake == "only a's nodes" else set(a) | set(b)
    le = all(a.get(n, 0) <= b.get(n, 0) for n in nodes)
    ge = all(a.get(n, 0) >= b.get(n, 0) for n in nodes)
    if mistake == "sums":
        sa, sb = sum(a.values()), sum(b.values())
        return "equal" if sa == sb else "before" if sa < sb else "after"
    if le and ge:
        return "equal"
    if le:
        return "after" if mistake == "swapped" else "before"
    if ge:
        return "before" if mistake == "swapped" else "after"
    return "concurrent"


def reconcile_versions(versions, *, mistake=None):
    def descends(x, y):
        return all(x.get(n, 0) >= c for n, c in y.items())
    kept, clocks = [], []
    for i, (clock, cart) in enumerate(versions):
        newer = any(descends(o, clock) and not descends(clock, o) for j, (o, _c) in enumerate(versions) if j != i)
        same = any(descends(o, clock) and descends(clock, o) for o in clocks)
        if mistake == "keeps everything":
            newer = same = False
        if mistake == "keeps duplicates":
            same = False
        if not newer and not same:
            kept.append(cart)
            clocks.append(clock)
    context = {}
    for clock, _cart in versions:
        for node, count in clock.items():
            context[node] = context.get(node, 0) + count if mistake == "adds counters" else max(
                context.get(node, 0), count)
    return sorted(kept), dict(sorted(context.items()))


def merkle_diff(nodes_a, buckets_a, nodes_b, buckets_b, *, mistake=None):
    leaves = len(nodes_a) // 2
    keys, compared, todo = [], 0, [1]
    while todo:
        i = todo.pop()
        compared += 1
        if nodes_a[i] == nodes_b[i] and mistake != "visits everything":
            continue
        if i >= leaves:
            mine, theirs = buckets_a[i - leaves], buckets_b[i - leaves]
            candidates = set(mine) if mistake == "only a's keys" else set(mine) | set(theirs)
            for key in candidates:
                if mistake != "keys not counted":
                    compared += 1
                if mine.get(key) != theirs.get(key):
                    keys.append(key)
        else:
            todo += [2 * i, 2 * i + 1]
    return sorted(keys), compared


def test_reference_answers_score_full_marks():
    assert score("11.3-q1", is_linearizable) == (4, 4)
    assert score("11.3-q2", classify_quorum) == (3, 3)
    assert score("11.3-q3", stale_reads) == (3, 3)
    assert score("11.4-q1", compare_clocks) == (3, 3)
    assert score("11.4-q2", reconcile_versions) == (3, 3)
    assert score("11.4-q3", merkle_diff) == (4, 4)


def _with(answer, mistake):
    return lambda *args, **kwargs: answer(*args, **kwargs, mistake=mistake)


WRONG = [
    *(("11.3-q1", m, _with(is_linearizable, m)) for m in
      ("unknown means instantaneous", "unknown writes never happen", "ignores real time", "touching ends ordered")),
    *(("11.3-q2", m, _with(classify_quorum, m)) for m in
      ("minority is n // 2", "unsorted", "overlap with >=", "off by one")),
    *(("11.3-q3", m, _with(stale_reads, m)) for m in
      ("strict before", "initial value is fine", "any other write", "unsorted")),
    *(("11.4-q1", m, _with(compare_clocks, m)) for m in ("only a's nodes", "sums", "swapped")),
    *(("11.4-q2", m, _with(reconcile_versions, m)) for m in ("keeps everything", "keeps duplicates", "adds counters")),
    *(("11.4-q3", m, _with(merkle_diff, m)) for m in ("visits everything", "only a's keys", "keys not counted")),
]


@pytest.mark.parametrize("question_id, mistake, answer", WRONG, ids=[f"{q}-{m}" for q, m, _ in WRONG])
def test_a_plausible_wrong_answer_loses_points(question_id, mistake, answer):
    earned, points = score(question_id, answer)
    assert earned < points, f"{question_id}: the mistake '{mistake}' still scores full marks"
