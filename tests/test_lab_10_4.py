"""Lab 10.4's bank: reference answers score full marks, plausible wrong answers lose points,
the solution notebook earns every point and the generated lab earns none."""

from __future__ import annotations

import zlib

import pytest

from course_lib.grading.questions import get
from course_lib.grading.runner import run_question
from course_lib.log import TopicPartition, murmur2



def score(question_id: str, answer) -> tuple[float, float]:
    question = get(question_id)
    return run_question(question, answer, timeout=2).score, question.points


# -- q1 ----------------------------------------------------------------------------------

def partition(key, n):
    return (murmur2(key) & 0x7FFFFFFF) % n


def murmur_big_endian(key: bytes) -> int:
    return murmur2(bytes(b for i in range(0, len(key) - len(key) % 4, 4) for b in reversed(key[i:i + 4]))
                   + key[len(key) - len(key) % 4:])


def java_abs(key, n):  # Math.abs on the signed hash, the classic Java mistake
    h = murmur2(key)
    signed = h - (1 << 32) if h & 0x80000000 else h
    return abs(signed) % n


WRONG_Q1 = {
    "python hash()": lambda key, n: hash(key) % n,
    "crc32 instead of murmur2": lambda key, n: zlib.crc32(key) % n,
    "no sign mask": lambda key, n: murmur2(key) % n,
    "abs of the signed hash": java_abs,
    "big-endian blocks": lambda key, n: (murmur_big_endian(key) & 0x7FFFFFFF) % n,
    "ignores trailing bytes": lambda key, n: partition(key[: len(key) - len(key) % 4], n),
}


# -- q2 ----------------------------------------------------------------------------------

def range_assign(members, n, *, sort=True, extras_last=False, robin=False, ceil=False):
    ordered = sorted(members) if sort else list(members)
    if robin:
        out = {m: [] for m in ordered}
        for p in range(n):
            out[ordered[p % len(ordered)]].append(p)
        return out
    each, extra = divmod(n, len(ordered))
    out, start = {}, 0
    for i, m in enumerate(ordered):
        if ceil:
            count = -(-n // len(ordered))
        else:
            count = each + (1 if (i >= len(ordered) - extra if extras_last else i < extra) else 0)
        out[m] = [p for p in range(start, start + count) if p < n]
        start += count
    return out


WRONG_Q2 = {
    "members unsorted": lambda m, n: range_assign(m, n, sort=False),
    "extras to the last members": lambda m, n: range_assign(m, n, extras_last=True),
    "round robin instead": lambda m, n: range_assign(m, n, robin=True),
    "everyone gets the ceiling": lambda m, n: range_assign(m, n, ceil=True),
    "idle members left out": lambda m, n: {k: v for k, v in range_assign(m, n).items() if v},
    "numeric sort of ids": lambda m, n: range_assign(sorted(m, key=lambda s: (len(s), s)), n, sort=False),
}


# -- q3 ----------------------------------------------------------------------------------

def lag_report(end, committed, start, *, off_by_one=False, skip_uncommitted=False, ignore_start=False):
    out = {}
    for p, e in end.items():
        s = 0 if ignore_start else start.get(p, 0)
        if p not in committed and skip_uncommitted:
            continue
        c = committed.get(p, s)
        c = c if ignore_start else max(c, s)
        out[p] = e - c - (1 if off_by_one else 0)
    return out


WRONG_Q3 = {
    "off by one": lambda e, c, s: lag_report(e, c, s, off_by_one=True),
    "skips uncommitted partitions": lambda e, c, s: lag_report(e, c, s, skip_uncommitted=True),
    "ignores the log start": lambda e, c, s: lag_report(e, c, s, ignore_start=True),
    "total instead of per partition": lambda e, c, s: sum(lag_report(e, c, s).values()),
}


# -- q4 ----------------------------------------------------------------------------------

def consume_once(consumer, process, *, mistake=None):
    records = consumer.poll()
    offsets = {}
    if mistake == "commit before processing":
        consumer.commit({TopicPartition(r.topic, r.partition): r.offset + 1 for r in records} or None)
    for record in records:
        if mistake == "swallow errors":
            try:
                process(record)
            except Exception:
                pass
        else:
            process(record)
        offsets[TopicPartition(record.topic, record.partition)] = record.offset + (0 if mistake == "last offset" else 1)
    if mistake == "only the last partition" and records:
        last = records[-1]
        offsets = {TopicPartition(last.topic, last.partition): last.offset + 1}
    if offsets and mistake != "commit before processing":
        consumer.commit(offsets)
    return len(records)


WRONG_Q4 = {m: (lambda m: lambda c, p: consume_once(c, p, mistake=m))(m)
            for m in ("commit before processing", "swallow errors", "last offset", "only the last partition")}


def test_reference_answers_score_full_marks():
    assert score("10.4-q1", partition) == (4, 4)
    assert score("10.4-q2", range_assign) == (3, 3)
    assert score("10.4-q3", lag_report) == (3, 3)
    assert score("10.4-q4", consume_once) == (4, 4)


@pytest.mark.parametrize("question_id, mistake, answer", [
    *(("10.4-q1", name, fn) for name, fn in WRONG_Q1.items()),
    *(("10.4-q2", name, fn) for name, fn in WRONG_Q2.items()),
    *(("10.4-q3", name, fn) for name, fn in WRONG_Q3.items()),
    *(("10.4-q4", name, fn) for name, fn in WRONG_Q4.items()),
])
def test_a_plausible_wrong_answer_loses_points(question_id, mistake, answer):
    earned, points = score(question_id, answer)
    assert earned < points, f"{question_id}: the mistake '{mistake}' still earns {earned}/{points}"
