"""Benchmark: the linearizability checker over Jepsen's 102 etcd histories.

    .venv/bin/python benchmarks/linearizability.py           # the whole corpus, cached vs uncached
    .venv/bin/python benchmarks/linearizability.py --quick   # a few files (a smoke run)

For every file: the time to reach the verdict, and whether it matches VERDICTS.txt. Targets
(reported, not asserted): every file under 10 s, the whole corpus under 120 s. The peer, run
side by side, is the same search without Porcupine's (linearized set, state) cache — plain
Wing & Gong with Lowe's just-in-time linearization — under a per-file budget, so the ratio
shows what memoising buys. (Porcupine itself, in Go, checks the corpus in a few seconds.)

The corpus lives in ../shared/conformance/linearizability/ beside the project (``--corpus`` points
elsewhere).
Timings are wall-clock and vary by machine; the ratios are the point.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib.consistency import REGISTER, check_linearizable, load_verdicts, parse_jepsen_log  # noqa: E402

# Jepsen's etcd histories ship beside the project (../shared), never inside it.
CORPUS = ROOT.parent / "shared" / "conformance" / "linearizability" / "jepsen-etcd"

FILE_TARGET_S = 10.0
CORPUS_TARGET_S = 120.0
QUICK_FILES = ["etcd_000.log", "etcd_002.log", "etcd_007.log", "etcd_057.log", "etcd_099.log"]


def run(names: list[str], folder: Path, cache: bool, budget: float) -> list[tuple[str, str, float, int]]:
    rows = []
    for name in names:
        ops = parse_jepsen_log(folder / name)
        started = time.perf_counter()
        verdict = check_linearizable(ops, REGISTER, timeout=budget, cache=cache)
        rows.append(
            (name, verdict.verdict.replace(" ", "-"), time.perf_counter() - started, verdict.explored)
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"check only {len(QUICK_FILES)} files")
    parser.add_argument(
        "--peer-budget",
        type=float,
        default=None,
        help="seconds per file for the uncached search (default 2, 0.5 with --quick)",
    )
    parser.add_argument(
        "--corpus", type=Path, default=CORPUS, help=f"the folder with VERDICTS.txt (default {CORPUS})"
    )
    args = parser.parse_args()
    folder: Path = args.corpus
    try:
        expected = load_verdicts(folder)
    except FileNotFoundError as missing:
        print(f"{missing}; nothing to benchmark")
        return 0
    names = QUICK_FILES if args.quick else sorted(expected)
    peer_budget = args.peer_budget if args.peer_budget is not None else (0.5 if args.quick else 2.0)

    started = time.perf_counter()
    cached = run(names, folder, cache=True, budget=FILE_TARGET_S)
    total = time.perf_counter() - started
    wrong = [(n, v) for n, v, _t, _e in cached if v != expected[n]]
    slowest = sorted(cached, key=lambda row: row[2], reverse=True)[:5]
    print(
        "linearizability checker (Wing & Gong + Lowe + Porcupine's cache), "
        f"{len(names)} Jepsen etcd histories"
    )
    print(
        f"  verdicts matching VERDICTS.txt: {len(names) - len(wrong)}/{len(names)}"
        + (f"   MISMATCHES: {wrong}" if wrong else "")
    )
    met = "met" if total < CORPUS_TARGET_S else "MISSED"
    print(f"  whole corpus: {total:7.2f} s   (target < {CORPUS_TARGET_S:.0f} s: {met})")
    print(
        f"  slowest file: {slowest[0][0]} {slowest[0][2]:.2f} s   (target < {FILE_TARGET_S:.0f} s each: "
        f"{'met' if slowest[0][2] < FILE_TARGET_S else 'MISSED'})"
    )
    print("  five slowest:", ", ".join(f"{n} {t:.2f} s ({e:,} steps)" for n, _v, t, e in slowest))

    started = time.perf_counter()
    uncached = run(names, folder, cache=False, budget=peer_budget)
    peer_total = time.perf_counter() - started
    gave_up = [n for n, v, _t, _e in uncached if v == "unknown"]
    steps = sum(e for *_rest, e in cached)
    peer_steps = sum(e for *_rest, e in uncached)
    print(f"peer: the same search without the cache, {peer_budget:g} s budget per file")
    print(f"  whole corpus: {peer_total:7.2f} s; gave up (unknown) on {len(gave_up)}/{len(names)} files")
    print(f"  search steps: cached {steps:,} vs uncached {peer_steps:,} (at least; capped by the budget)")
    print(
        f"  ratio: the uncached search took {peer_total / total:.1f}x the time and still gave up on "
        f"{len(gave_up)} file(s)"
    )
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
