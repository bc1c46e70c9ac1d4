"""The linearizability checker against histories nobody here wrote: Jepsen's runs of etcd.

The corpus (102 single-register histories with their known verdicts) lives in
``../shared/conformance/linearizability/`` beside the project and is read in
place. Where that folder is absent (a learner's machine) the test skips; under
``COURSE_REQUIRE_SERVICES=1`` (CI) it fails instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from course_lib.consistency import REGISTER, check_linearizable, load_verdicts, parse_jepsen_log

ROOT = Path(__file__).resolve().parents[2]  # the project
ETCD = ROOT.parent / "shared" / "conformance" / "linearizability" / "jepsen-etcd"

pytestmark = pytest.mark.conformance


def _verdicts() -> dict[str, str]:
    try:
        return load_verdicts(ETCD)
    except FileNotFoundError:
        return {}  # _require_corpus skips or fails with the reason


VERDICTS = _verdicts()


def _require_corpus() -> None:
    if VERDICTS:
        return
    reason = f"the Jepsen etcd corpus is not at {ETCD} (it ships beside the project, in ../shared)"
    if os.environ.get("COURSE_REQUIRE_SERVICES") == "1":
        pytest.fail(reason + "; COURSE_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)


def test_the_corpus_is_complete():
    _require_corpus()
    assert len(VERDICTS) == 102
    assert sorted(VERDICTS.values()).count("linearizable") == 23
    assert all((ETCD / name).is_file() for name in VERDICTS)


@pytest.mark.parametrize("name", sorted(VERDICTS) or ["(corpus missing)"])
def test_the_checker_returns_the_known_verdict(name):
    _require_corpus()
    ops = parse_jepsen_log(ETCD / name)
    verdict = check_linearizable(ops, REGISTER, timeout=60.0)
    expected = VERDICTS[name].replace("-", " ")
    assert verdict.verdict == expected, f"{name}: expected {expected}, got {verdict}"
    if expected == "not linearizable":
        assert verdict.keys[""].stuck is not None, f"{name}: no operation named in {verdict.explanation}"


def test_the_benchmark_runs_in_quick_mode():
    _require_corpus()
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "benchmarks/linearizability.py", "--quick", "--peer-budget", "0.05",
                          "--corpus", str(ETCD)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "verdicts matching VERDICTS.txt: 5/5" in run.stdout
