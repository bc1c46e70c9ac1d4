"""course_lib.consistency: the linearizability checker, CP and AP registers, CAP and PACELC measured.

A failing simulator test prints its seed so the run can be replayed with the same arguments.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.consistency import (
    INF,
    REGISTER,
    SYSTEMS,
    APRegister,
    CheckOp,
    as_check_ops,
    CPRegister,
    check_corpus,
    check_linearizable,
    from_operations,
    load_verdicts,
    make_register,
    pacelc_measure,
    parse_jepsen_log,
    register_step,
    run_experiment,
)
from course_lib.netsim import History, Nemesis


def w(i, value, call, ret, process="p"):
    return CheckOp(i, process, "write", "x", value, None, call, ret)


def r(i, value, call, ret, process="p"):
    return CheckOp(i, process, "read", "x", None, value, call, ret)


def cas(i, expected, new, output, call, ret, process="p"):
    return CheckOp(i, process, "cas", "x", (expected, new), output, call, ret)


# -- the model -------------------------------------------------------------------------------

def test_register_model_reads_writes_and_compare_and_set():
    assert register_step(None, r(0, None, 0, 1)) == (True, None)
    assert register_step(1, r(0, 2, 0, 1)) == (False, 1)
    assert register_step(1, w(0, 5, 0, 1)) == (True, 5)
    assert register_step(1, cas(0, 1, 7, True, 0, 1)) == (True, 7)
    assert register_step(2, cas(0, 1, 7, True, 0, 1)) == (False, 2)     # reported ok, but could not swap
    assert register_step(2, cas(0, 1, 7, False, 0, 1)) == (True, 2)     # a failed cas: the value was not 1
    assert register_step(1, cas(0, 1, 7, False, 0, 1)) == (False, 7)    # reported failed, but it would swap
    assert register_step(1, cas(0, 1, 7, None, 0, 1)) == (True, 7)      # unknown: either way
    assert register_step(2, cas(0, 1, 7, None, 0, 1)) == (True, 2)


# -- small histories with known answers ----------------------------------------------------------

def test_sequential_history_is_linearizable_and_gives_the_order():
    ops = [w(0, 1, 0, 1), r(1, 1, 2, 3), w(2, 2, 4, 5), r(3, 2, 6, 7)]
    verdict = check_linearizable(ops, REGISTER)
    assert verdict.verdict == "linearizable" and verdict.ok is True
    assert [op.index for op in verdict.keys["x"].order] == [0, 1, 2, 3]


def test_a_stale_read_is_not_linearizable_and_the_explanation_names_it():
    ops = [w(0, 1, 0, 1, "a"), w(1, 2, 2, 3, "a"), r(2, 1, 4, 5, "b")]
    verdict = check_linearizable(ops, REGISTER)
    assert verdict.verdict == "not linearizable" and verdict.ok is False
    result = verdict.keys["x"]
    assert result.stuck.index == 2
    assert "#2 (process b) read -> 1" in verdict.explanation
    assert "longest linearizable prefix found places 2 of 3" in verdict.explanation


def test_concurrent_operations_may_take_effect_in_either_order():
    # the read overlaps both writes, so it may see either value, or the initial nil
    for seen in (None, 1, 2):
        ops = [w(0, 1, 0, 10), w(1, 2, 1, 11), r(2, seen, 2, 12)]
        assert check_linearizable(ops, REGISTER).verdict == "linearizable", seen
    # but two later reads cannot see the writes in opposite orders
    ops = [w(0, 1, 0, 10), w(1, 2, 0, 10), r(2, 1, 11, 12, "a"), r(3, 2, 13, 14, "a"), r(4, 1, 15, 16, "b")]
    assert check_linearizable(ops, REGISTER).verdict == "not linearizable"


def test_an_unknown_write_may_happen_late_or_never():
    late = [w(0, 1, 0, INF, "a"), r(1, None, 1, 2, "b"), r(2, 1, 10, 11, "b")]
    never = [w(0, 1, 0, INF, "a"), r(1, None, 1, 2, "b"), r(2, None, 10, 11, "b")]
    assert check_linearizable(late, REGISTER).verdict == "linearizable"
    assert check_linearizable(never, REGISTER).verdict == "linearizable"
    # but not before it was invoked
    early = [r(0, 1, 0, 1, "b"), w(1, 1, 2, INF, "a")]
    assert check_linearizable(early, REGISTER).verdict == "not linearizable"


def test_a_failed_cas_is_an_observation():
    # cas 1->3 failed while the value was certainly 1: impossible
    ops = [w(0, 1, 0, 1), cas(1, 1, 3, False, 2, 3)]
    assert check_linearizable(ops, REGISTER).verdict == "not linearizable"
    ops = [w(0, 2, 0, 1), cas(1, 1, 3, False, 2, 3), r(2, 2, 4, 5)]
    assert check_linearizable(ops, REGISTER).verdict == "linearizable"


def test_keys_are_checked_separately_and_the_bad_key_is_named():
    ops = [CheckOp(0, "a", "write", "x", 1, None, 0, 1), CheckOp(1, "a", "write", "y", 5, None, 0, 1),
           CheckOp(2, "b", "read", "y", None, 5, 2, 3), CheckOp(3, "b", "read", "x", None, None, 2, 3)]
    verdict = check_linearizable(ops)
    assert verdict.verdict == "not linearizable"
    assert verdict.keys["y"].verdict == "linearizable" and verdict.keys["x"].verdict == "not linearizable"
    assert verdict.explanation.startswith("key 'x'")


def test_the_budget_running_out_gives_unknown():
    # many concurrent unknown writes and reads: a large search space; no time at all to search it
    ops = [w(i, i, i, INF, f"w{i}") for i in range(12)] + [r(12 + i, i % 12, 20 + i, 21 + i, "r") for i in range(12)]
    ops.append(r(99, 99, 40, 41, "r"))  # unexplainable, so the search must look everywhere first
    assert check_linearizable(ops, REGISTER, timeout=-1).verdict == "unknown"


def test_from_operations_drops_what_constrains_nothing():
    history = History()
    a = history.invoke("c1", "write", "x", 1, 0.0)
    history.complete(a, "ok", 1.0)
    b = history.invoke("c1", "read", "x", None, 2.0)
    history.complete(b, "info", 3.0)                        # an unknown read: dropped
    c = history.invoke("c2", "write", "x", 2, 2.0)
    history.complete(c, "fail", 3.0)                        # certainly did not happen: dropped
    history.invoke("c3", "write", "x", 3, 4.0)              # pending at the end: ret = inf
    d = history.invoke("c1", "cas", "x", [1, 4], 5.0)
    history.complete(d, "fail", 6.0)
    ops = from_operations(history.operations)
    assert [(op.index, op.kind, op.ret) for op in ops] == [(0, "write", 1.0), (3, "write", INF), (4, "cas", 6.0)]
    assert ops[2].value == (1, 4) and ops[2].output is False
    assert check_linearizable(history).verdict == "linearizable"  # the pending write 3 happened before the cas


# -- the Jepsen log format --------------------------------------------------------------------------

LOG = """\
INFO  jepsen.core - setting up
INFO  jepsen.util - 0\t:invoke\t:write\t3
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 0\t:ok\t:write\t3
INFO  jepsen.util - 1\t:ok\t:read\t3
INFO  jepsen.util - 2\t:invoke\t:cas\t[3 4]
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:fail\t:read\t:timed-out
INFO  jepsen.util - 2\t:info\t:cas\t:timed-out
INFO  jepsen.util - 7\t:invoke\t:write\t1
INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]
INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]
INFO  jepsen.nemesis - partition start
"""


def test_parse_jepsen_log_pairs_invocations_with_completions():
    ops = parse_jepsen_log(LOG)
    assert [(op.process, op.kind, op.value, op.output, op.call, op.ret) for op in ops] == [
        ("0", "write", 3, None, 2, 4),
        ("1", "read", None, 3, 3, 5),
        ("2", "cas", (3, 4), None, 6, INF),     # :info: unknown outcome
        ("7", "write", 1, None, 10, INF),       # pending at the end
        ("0", "cas", (1, 2), False, 11, 12),    # :fail: the value was not 1
    ]                                          # the timed-out read (line 7) is dropped
    assert check_linearizable(ops, REGISTER).verdict == "linearizable"


def test_parse_rejects_a_completion_without_an_invocation():
    with pytest.raises(ValueError, match="never invoked"):
        parse_jepsen_log("INFO  jepsen.util - 4\t:ok\t:read\t1\n")


# -- the property: agreement with brute force over every order ----------------------------------------

def brute_force(ops: list[CheckOp]) -> bool:
    """Try every order of the operations that respects real time; unknown ones may be left out."""
    def search(placed: list[int], state) -> bool:
        remaining = [i for i in range(len(ops)) if i not in placed]
        if all(ops[i].ret == INF for i in remaining):
            return True  # everything with a known outcome is placed; the rest never happened
        for i in remaining:
            # i may go next only if no other remaining operation finished before i began
            if any(ops[j].ret < ops[i].call for j in remaining if j != i):
                continue
            ok, new_state = register_step(state, ops[i])
            if ok and search(placed + [i], new_state):
                return True
        return False
    return search([], None)


@st.composite
def small_histories(draw):
    ops = []
    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["read", "write", "cas"]))
        call = draw(st.integers(0, 12))
        ret = call + draw(st.integers(0, 6))
        value = draw(st.integers(0, 2))
        if kind == "read":
            ops.append(r(i, draw(st.sampled_from([None, 0, 1, 2])), call, ret, f"p{i}"))
        elif kind == "write":
            ops.append(w(i, value, call, INF if draw(st.booleans()) and draw(st.booleans()) else ret, f"p{i}"))
        else:
            output = draw(st.sampled_from([True, False, None]))
            ops.append(cas(i, draw(st.sampled_from([None, 0, 1, 2])), value, output, call,
                           INF if output is None else ret, f"p{i}"))
    return ops


@given(small_histories())
def test_the_checker_agrees_with_brute_force_on_small_histories(ops):
    expected = brute_force(ops)
    verdict = check_linearizable(ops, REGISTER)
    assert verdict.ok is expected, f"{[op.describe() for op in ops]}: checker {verdict}, brute force {expected}"
    assert check_linearizable(ops, REGISTER, cache=False).ok is expected  # the cache only saves work


def test_check_corpus_names_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no VERDICTS.txt"):
        check_corpus(tmp_path)


def test_load_verdicts_says_which_folder_and_what_belongs_in_it(tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        load_verdicts(tmp_path / "jepsen-etcd")
    assert str(tmp_path / "jepsen-etcd") in str(missing.value) and "'<file> <verdict>'" in str(missing.value)
    (tmp_path / "VERDICTS.txt").write_text("a.log linearizable\n\nb.log not-linearizable\n")
    assert load_verdicts(tmp_path) == {"a.log": "linearizable", "b.log": "not-linearizable"}


def test_a_history_is_netsim_operations_or_check_ops_not_a_mix():
    h = History()
    h.complete(h.invoke("p", "write", "x", 1, 0.0), "ok", 1.0)
    assert as_check_ops(h) == as_check_ops(h.operations) == [w(0, 1, 0.0, 1.0)]
    with pytest.raises(TypeError, match="not a mix"):
        as_check_ops([h.operations[0], w(1, 2, 2, 3)])


def test_the_consistency_modules_import_each_other_without_cycles():
    """The package is layered: the checker and the registers stand alone, the rest builds on them."""
    import ast
    from pathlib import Path

    import course_lib.consistency

    deps = {}
    for path in Path(course_lib.consistency.__file__).parent.glob("*.py"):
        if path.name != "__init__.py":
            deps[path.stem] = sorted(
                node.module.rsplit(".", 1)[1] for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_lib.consistency."))
    assert deps == {"checker": [], "jepsen": ["checker"], "registers": [], "experiments": ["checker", "registers"]}


# -- CAP, measured ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_under_a_partition_the_cp_register_stays_linearizable_and_its_minority_refuses(seed):
    result = run_experiment("cp", seed=seed)
    assert result.verdict.verdict == "linearizable", f"seed={seed}: {result.verdict}"
    assert result.availability_by_side["minority"] == 0.0, f"seed={seed}: {result.row()}"
    assert result.availability_by_side["majority"] == 100.0, f"seed={seed}: {result.row()}"
    refused = [op for op in result.history.operations if op.process == "c1" and op.outcome == "fail"]
    assert refused and all("no majority" in op.note for op in refused), f"seed={seed}"


@given(st.integers(0, 10_000))
def test_cp_histories_are_always_linearizable_under_random_faults(seed):
    cluster = CPRegister(seed=seed, duration=150, keys=("x", "y"))
    history = cluster.workload(Nemesis.random(seed, cluster.replica_names + ["c1", "c2"], duration=150))
    verdict = check_linearizable(history)
    assert verdict.verdict == "linearizable", f"seed={seed}: {verdict}"


def test_the_ap_register_stays_available_and_the_checker_finds_a_violation():
    results = [run_experiment("ap", seed=seed) for seed in range(4)]
    for result in results:
        assert result.availability == 100.0, f"seed={result.seed}: {result.row()}"
        assert result.availability_by_side == {"minority": 100.0, "majority": 100.0}, f"seed={result.seed}"
    bad = [res for res in results if res.verdict.verdict == "not linearizable"]
    assert bad, "no seed in 0..3 gave a non-linearizable AP history"
    assert "read" in bad[0].verdict.explanation


def test_ap_replicas_diverge_during_the_partition_and_converge_after_the_heal():
    cluster = APRegister(seed=3, duration=1000)
    cluster.network.partition_nodes(cluster.side_of("n1"))
    cluster.request("c1", "write", "x", "left", at=1)
    cluster.request("c2", "write", "x", "right", at=2)
    cluster.run(until=50)
    assert cluster.values("x") == {"n1": "left", "n2": "right", "n3": "right"}
    assert not cluster.converged()
    cluster.network.heal()
    cluster.run(until=200)
    assert cluster.converged() and cluster.values("x")["n1"] == "right"  # the later stamp wins


def test_runs_are_deterministic_for_a_seed():
    a = run_experiment("ap", seed=5).history.to_json()
    b = run_experiment("ap", seed=5).history.to_json()
    assert a == b


def test_unknown_system_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="cp"):
        make_register("ca")
    assert SYSTEMS == ("cp", "ap", "pa-ec")


# -- PACELC, measured --------------------------------------------------------------------------------

def test_pacelc_classes_show_latency_against_consistency():
    rows = {system: pacelc_measure(system, seed=0) for system in SYSTEMS}
    cp, ap, paec = rows["cp"], rows["ap"], rows["pa-ec"]
    assert (cp.label, ap.label, paec.label) == ("PC/EC", "PA/EL", "PA/EC")
    # Else (no partition): CP pays in latency and never reads stale data; async AP is fast but stale
    assert cp.stale_reads == 0 and cp.healthy_verdict == "linearizable"
    assert ap.stale_reads > 0
    assert ap.write_p50 < cp.write_p50 and ap.read_p50 < cp.read_p50
    # sync writes cost latency too, and buy fresh reads
    assert paec.stale_reads == 0 and paec.write_p50 > ap.write_p50
    # Partition: only the CP register refuses on the minority side
    assert cp.minority_availability == 0.0 and cp.partition_verdict == "linearizable"
    assert ap.minority_availability == 100.0 and paec.minority_availability == 100.0
    assert math.isfinite(ap.write_p50)
