"""The question banks: plausible wrong answers lose points, and the reference answers don't.

Each wrong answer is a mistake a learner is likely to make; if a bank's public
tests stop catching one of them, this file says which.
"""

from __future__ import annotations

import copy
import re

import pytest

from course_lib.grading.questions import get
from course_lib.grading.runner import run_question

REQUIRED = ["eventId", "eventType", "aggregateId", "aggregateType", "timestamp", "version", "metadata", "payload"]
TS = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"


def score(question_id: str, answer) -> tuple[float, float]:
    question = get(question_id)
    return run_question(question, answer, timeout=2).score, question.points


# -- reference answers (the same logic as solutions/, kept independent of the notebook) --

def find_problems(envelope, *, bool_is_int=False, loose_ts=False, check_meta=True, sort=True,
                  skip_missing=False):
    problems = [] if skip_missing else [k for k in REQUIRED if k not in envelope]
    def bad(key, ok):
        if key in envelope and not ok(envelope[key]):
            problems.append(key)
    bad("eventId", lambda v: isinstance(v, str) and v.startswith("evt_") and len(v) > 4)
    bad("timestamp", lambda v: isinstance(v, str) and (loose_ts or re.fullmatch(TS, v)))
    bad("version", lambda v: (isinstance(v, int) if bool_is_int else type(v) is int) and v >= 1)
    bad("metadata", lambda v: isinstance(v, dict))
    bad("payload", lambda v: isinstance(v, dict))
    meta = envelope.get("metadata")
    if check_meta and isinstance(meta, dict):
        problems += [f"metadata.{k}" for k in ("correlationId", "source") if not (isinstance(meta.get(k), str) and meta.get(k))]
    return sorted(problems) if sort else problems


def follow_up(parent, event_type, payload, *, event_id, timestamp, source, mistake=None):
    child = {
        "eventId": event_id, "eventType": event_type,
        "aggregateId": parent["aggregateId"], "aggregateType": parent["aggregateType"],
        "timestamp": timestamp, "version": 1,
        "metadata": {"correlationId": parent["metadata"]["correlationId"], "causationId": parent["eventId"],
                     "userId": parent["metadata"]["userId"], "source": source},
        "payload": payload,
    }
    if mistake == "causation copied":
        child["metadata"]["causationId"] = parent["metadata"]["causationId"]
    elif mistake == "new correlation":
        child["metadata"]["correlationId"] = event_id
    elif mistake == "mutates parent":
        parent["metadata"]["causationId"] = parent["eventId"]
        child["metadata"] = parent["metadata"]
        child["metadata"]["source"] = source
    elif mistake == "forgets user":
        child["metadata"]["userId"] = None
    return child


def causal_chain(events, event_id, *, mistake=None):
    by_id = {e["eventId"]: e for e in events}
    if mistake == "assumes order":
        ids = [e["eventId"] for e in events]
        return ids[: ids.index(event_id) + 1]
    if event_id not in by_id:
        if mistake == "returns empty":
            return []
        raise KeyError(event_id)
    chain = [event_id]
    cause = by_id[event_id]["metadata"]["causationId"]
    if mistake == "parent only":
        return [cause, event_id] if cause in by_id else [event_id]
    while cause in by_id:
        chain.append(cause)
        cause = by_id[cause]["metadata"]["causationId"]
    if mistake == "includes command" and cause is not None:
        chain.append(cause)
    return chain if mistake == "leaf first" else chain[::-1]


def test_reference_answers_score_full_marks():
    assert score("10.1-q1", find_problems) == (4, 4)
    assert score("10.1-q2", follow_up) == (3, 3)
    assert score("10.1-q3", causal_chain) == (3, 3)


WRONG_Q1 = {
    "treats True as version 1": lambda e: find_problems(e, bool_is_int=True),
    "accepts isoformat timestamps": lambda e: find_problems(e, loose_ts=True),
    "ignores metadata fields": lambda e: find_problems(e, check_meta=False),
    "forgets to sort": lambda e: find_problems(e, sort=False),
    "misses absent keys": lambda e: find_problems(e, skip_missing=True),
    "raises on a bad envelope": lambda e: [k for k in REQUIRED if k not in e] + (
        [] if e["metadata"]["correlationId"] else []),
}

WRONG_Q2 = {m: (lambda m: lambda *a, **k: follow_up(*a, **k, mistake=m))(m)
            for m in ("causation copied", "new correlation", "mutates parent", "forgets user")}

WRONG_Q3 = {m: (lambda m: lambda *a, **k: causal_chain(*a, **k, mistake=m))(m)
            for m in ("assumes order", "returns empty", "parent only", "includes command", "leaf first")}


@pytest.mark.parametrize("question_id, mistake, answer", [
    *(("10.1-q1", name, fn) for name, fn in WRONG_Q1.items()),
    *(("10.1-q2", name, fn) for name, fn in WRONG_Q2.items()),
    *(("10.1-q3", name, fn) for name, fn in WRONG_Q3.items()),
    ("00-q1", "float arithmetic", lambda amount: int(float(amount) * 100)),
    ("00-q1", "rounds instead of refusing a third decimal", lambda amount: round(float(amount) * 100)),
    ("00-q1", "string surgery drops leading digits", lambda amount: int(amount.replace(".", "")[-4:])),
])
def test_a_plausible_wrong_answer_loses_points(question_id, mistake, answer):
    earned, points = score(question_id, answer)
    assert earned < points, f"{question_id}: the mistake '{mistake}' still scores full marks"


def test_the_parent_event_is_not_shared_between_cases():
    # A mutating answer must not poison the bank's own data for later cases or questions.
    from course_lib.grading import bank_lab_10_1 as bank

    before = copy.deepcopy(bank.PARENT)
    score("10.1-q2", WRONG_Q2["mutates parent"])
    assert bank.PARENT == before


# -- the same kind of mistakes, graded through the sandboxed command line ------------------------
#
# One plausible wrong answer per question of every bank, written into a copy of the solution
# notebook (a one-line change to the reference answer), so that the whole path is exercised:
# the notebook runs in the sandbox, results come back as plain data, the judge compares.

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import nbformat  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

MUTANTS = {  # question id -> (lab, text in the solution's answer, what a learner might write instead)
    "10.1-q1": ("lab-10.1-events", "type(v) is int and v >= 1", "isinstance(v, int) and v >= 1"),
    "10.1-q2": ("lab-10.1-events", '"causationId": parent["eventId"]', '"causationId": parent["metadata"]["causationId"]'),
    "10.1-q3": ("lab-10.1-events", "return chain[::-1]", "return chain"),
    "10.2-q1": ("lab-10.2-event-sourcing", 'new["status"] = kind.removeprefix("Order")', 'new["status"] = kind'),
    "10.2-q2": ("lab-10.2-event-sourcing", 'if event["timestamp"] > as_of:', 'if event["timestamp"] >= as_of:'),
    "10.2-q3": ("lab-10.2-event-sourcing", "int(Decimal(payload.pop(\"price\")) * 100)", "int(float(payload.pop(\"price\")) * 100)"),
    "10.3-q1": ("lab-10.3-cqrs", 'if state["items"] < 1:', 'if state["items"] < 0:'),
    "10.3-q2": ("lab-10.3-cqrs", 'if delivery["position"] <= view["checkpoint"]:', "if False:"),
    "10.3-q3": ("lab-10.3-cqrs", "new = copy.deepcopy(view)", "new = view"),
    "10.4-q1": ("lab-10.4-kafka", "return (h & 0x7FFFFFFF) % num_partitions", "return h % num_partitions"),
    "10.4-q2": ("lab-10.4-kafka", "ordered = sorted(members)", "ordered = list(members)"),
    "10.4-q3": ("lab-10.4-kafka", "position = max(committed.get(partition, start), start)", "position = committed.get(partition, start)"),
    "10.4-q4": ("lab-10.4-kafka", "record.offset + 1", "record.offset"),
    "10.5-q1": ("lab-10.5-brokers", "for k in range(j, len(words) + 1)", "for k in range(j + 1, len(words) + 1)"),
    "10.5-q2": ("lab-10.5-brokers", 'return all(hits) if mode == "all" else any(hits)', "return all(hits)"),
    "10.5-q3": ("lab-10.5-brokers", "return len(have) > i", "return len(have) >= i"),
    "10.6-q1": ("lab-10.6-idempotency", '"1", nx=True, ex=DAY', '"1", ex=DAY'),
    "10.6-q2": ("lab-10.6-idempotency", "second <= expires[event_id]", "second < expires[event_id]"),
    "10.6-q3": ("lab-10.6-idempotency", 'pipe.set(key, "1", ex=DAY)', 'pipe.set(key, "1")'),
    "10.6-q4": ("lab-10.6-idempotency", "if version < highest.get(order, version):", "if version <= highest.get(order, version):"),
    "11.1-q1": ("lab-11.1-replication", "used = replies[:r]", "used = replies"),
    "11.1-q2": ("lab-11.1-replication", "key=lambda name: (-len(logs[name]), name)", "key=lambda name: (len(logs[name]), name)"),
    "11.1-q3": ("lab-11.1-replication", 'if mode == "async" and not may_lose_acked:', "if False:"),
    "11.2-q1": ("lab-11.2-sharding", 'stable_hash(f"{node}#{i}")', 'stable_hash(f"{node}-{i}")'),
    "11.2-q2": ("lab-11.2-sharding", "round(len(moved) / len(keys), 4)", "round(len(moved) / len(keys), 2)"),
    "11.2-q3": ("lab-11.2-sharding", "first = bisect.bisect_right(splits, low)", "first = bisect.bisect_left(splits, low)"),
    "11.3-q1": ("lab-11.3-cap", "ops[a][3] < ops[b][2]", "ops[a][3] <= ops[b][2]"),
    "11.3-q2": ("lab-11.3-cap", "minority = (n - 1) // 2", "minority = n // 2"),
    "11.3-q3": ("lab-11.3-cap", 'w["complete"] <= read["invoke"]', 'w["complete"] < read["invoke"]'),
    "11.4-q1": ("lab-11.4-dynamo", 'if a_le_b:\n        return "before"', 'if a_le_b:\n        return "after"'),
    "11.4-q2": ("lab-11.4-dynamo", "return sorted(kept), dict(sorted(context.items()))", "return kept, dict(context)"),
    "11.4-q3": ("lab-11.4-dynamo", "        compared += 1\n        if nodes_a[i]", "        if nodes_a[i]"),
}

# Answers that call the course's own implementation of what the question asks for.
LEANING = {
    "10.4-q2": ("lab-10.4-kafka", "range_assign", "from course_lib.log import assign_range\n\n"
                "def range_assign(members, num_partitions):\n"
                "    got = assign_range({m: ['t'] for m in members}, {'t': num_partitions})\n"
                "    return {m: [tp.partition for tp in tps] for m, tps in got.items()}\n"),
    "11.2-q1": ("lab-11.2-sharding", "ring_lookup", "from course_lib.sharding import ConsistentHashRing\n\n"
                "def ring_lookup(nodes, vnodes, key):\n"
                "    return ConsistentHashRing(nodes, vnodes).shard_for(key)\n"),
}

COURSE_MAP_WRONG = "def to_cents(amount: str) -> int:\n    return int(float(amount) * 100)\n"


def _mutated(lab: str, changes: list[tuple[str, str]]):
    notebook = nbformat.read(ROOT / "solutions" / f"{lab}.ipynb", as_version=4)
    for old, new in changes:
        cells = [cell for cell in notebook.cells if cell.cell_type == "code" and old in cell.source]
        assert len(cells) == 1, f"{lab}: {old!r} is in {len(cells)} code cells"
        cells[0].source = cells[0].source.replace(old, new, 1)
    return notebook


@pytest.fixture(scope="module")
def sandboxed_batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wrong-answers")
    labs: dict[str, list[tuple[str, str]]] = {}
    for lab, old, new in MUTANTS.values():
        labs.setdefault(lab, []).append((old, new))
    for lab, changes in labs.items():
        nbformat.write(_mutated(lab, changes), folder / f"wrong-{lab}.ipynb")
    for question_id, (lab, name, source) in LEANING.items():
        notebook = nbformat.read(ROOT / "solutions" / f"{lab}.ipynb", as_version=4)
        cell = next(c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(f"def {name}("))
        cell.source = source
        nbformat.write(notebook, folder / f"leaning-{question_id}.ipynb")
    course_map = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from course_lib.grading import check"),
        nbformat.v4.new_code_cell(COURSE_MAP_WRONG),
        nbformat.v4.new_code_cell('check("00-q1", to_cents)'),
    ])
    nbformat.write(course_map, folder / "wrong-course-map.ipynb")
    json_path = folder / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "course_lib.grading", str(folder), "--json", str(json_path), "--test-timeout", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "COURSE_GRADING_SANDBOX": "bwrap"},
    )
    assert run.returncode == 0, run.stderr
    return {Path(s["notebook"]).stem: s for s in json.loads(json_path.read_text())["submissions"]}


def _tests(submission) -> dict[str, dict]:
    return {test["name"].split()[0]: test for test in submission["tests"]}


@pytest.mark.notebooks
@pytest.mark.parametrize("question_id", [*MUTANTS, "00-q1"])
def test_a_wrong_answer_loses_points_through_the_sandboxed_grader(sandboxed_batch, question_id):
    lab = MUTANTS[question_id][0] if question_id in MUTANTS else "course-map"
    test = _tests(sandboxed_batch[f"wrong-{lab}"])[question_id]
    assert test["score"] < test["max_score"], f"{question_id}: the mutant still scores full marks: {test['output']}"
    assert test["score"] > 0 or "not plain data" not in test["output"]


@pytest.mark.notebooks
@pytest.mark.parametrize("question_id", list(LEANING))
def test_an_answer_calling_the_reference_scores_zero_with_a_note(sandboxed_batch, question_id):
    submission = sandboxed_batch[f"leaning-{question_id}"]
    tests = _tests(submission)
    assert tests[question_id]["score"] == 0
    assert "this question asks you to write" in tests[question_id]["output"]
    others = [test for name, test in tests.items() if name != question_id]
    assert all(test["score"] == test["max_score"] for test in others), [t["output"] for t in others]
