"""Dedup checks on Redis, and topic routing through a trie against a linear scan.

Two side-by-side measurements in one run:

1. The idempotency check ``SET processed:<id> 1 NX EX 86400``, one per event, on fakeredis
   and on a real Redis, sent one command at a time and pipelined (one round trip per batch
   of 100). Reported: checks/s for each and the ratios. On a real server the round trip
   dominates, which is what pipelining removes.
2. ``TopicExchange`` routing with 10,000 bindings through its trie against calling
   ``topic_matches`` on every binding. Reported: routes/s for each and the ratio.

    .venv/bin/python benchmarks/brokers.py            # 20,000 checks, 2,000 routed keys
    .venv/bin/python benchmarks/brokers.py --quick    # a smoke run

The real-Redis side is skipped, with the reason, when no Redis answers at REDIS_URL
(default redis://127.0.0.1:6379/0). Keys get a unique prefix and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_lib.backends import probe, redis_client, service_url  # noqa: E402
from course_lib.exchanges import Queue, TopicExchange, topic_matches  # noqa: E402

BATCH = 100


def dedup_plain(client: redis.Redis, ids: list[str], prefix: str) -> float:
    start = time.perf_counter()
    first = sum(bool(client.set(f"{prefix}{i}", "1", nx=True, ex=86400)) for i in ids)
    elapsed = time.perf_counter() - start
    assert first == len(set(ids)), f"plain: {first} first deliveries for {len(set(ids))} ids"
    return elapsed


def dedup_pipelined(client: redis.Redis, ids: list[str], prefix: str) -> float:
    start = time.perf_counter()
    first = 0
    for at in range(0, len(ids), BATCH):
        pipe = client.pipeline(transaction=False)
        for i in ids[at : at + BATCH]:
            pipe.set(f"{prefix}{i}", "1", nx=True, ex=86400)
        first += sum(bool(reply) for reply in pipe.execute())
    elapsed = time.perf_counter() - start
    assert first == len(set(ids)), f"pipelined: {first} first deliveries for {len(set(ids))} ids"
    return elapsed


def dedup_bench(checks: int) -> None:
    rng = random.Random(1)
    ids = [f"evt_{rng.randrange(checks * 3 // 4)}" for _ in range(checks)]  # ids repeat, as redeliveries do
    print(f"dedup: {checks:,} SET NX EX checks ({len(set(ids)):,} distinct ids), pipeline batches of {BATCH}")
    import fakeredis

    targets: list[tuple[str, redis.Redis]] = [("fakeredis", fakeredis.FakeRedis(decode_responses=True))]
    url = service_url("redis")
    reason = probe("redis", url)
    if reason is None:
        targets.append(("real Redis", redis_client(url)))
    else:
        print(f"  real Redis skipped: {reason}")
    rates = {}
    for name, client in targets:
        for mode, run in (("plain", dedup_plain), ("pipelined", dedup_pipelined)):
            prefix = f"bench:{uuid.uuid4().hex[:8]}:"
            try:
                elapsed = run(client, ids, prefix)
            finally:
                keys = list(client.scan_iter(match=prefix + "*", count=1000))
                for at in range(0, len(keys), 1000):
                    client.delete(*keys[at : at + 1000])
            rates[(name, mode)] = checks / elapsed
            print(f"  {name:10} {mode:9} {checks / elapsed:12,.0f} checks/s")
    for name, _ in targets:
        print(f"  {name}: pipelined / plain = {rates[(name, 'pipelined')] / rates[(name, 'plain')]:.1f}x")
    if ("real Redis", "plain") in rates:
        for mode in ("plain", "pipelined"):
            ratio = rates[("real Redis", mode)] / rates[("fakeredis", mode)]
            print(f"  {mode}: real Redis / fakeredis = {ratio:.2f}x")


def random_key(rng: random.Random, words: list[str], low: int, high: int) -> str:
    return ".".join(rng.choice(words) for _ in range(rng.randint(low, high)))


def routing_bench(bindings: int, keys: int) -> None:
    rng = random.Random(2)
    vocabulary = [f"w{i}" for i in range(40)]
    binding_keys = [random_key(rng, vocabulary + ["*"] * 6 + ["#"], 2, 5) for _ in range(bindings)]
    exchange = TopicExchange("bench")
    for i, key in enumerate(binding_keys):
        exchange.bind(Queue(f"q{i}"), key)
    routing_keys = [random_key(rng, vocabulary, 2, 5) for _ in range(keys)]
    print(f"topic routing: {bindings:,} bindings, {keys:,} routing keys")

    start = time.perf_counter()
    via_trie = [exchange.route(key) for key in routing_keys]
    trie_time = time.perf_counter() - start

    scan_keys = routing_keys[: max(1, keys // 10)]  # the scan is slow: time a tenth of the keys
    start = time.perf_counter()
    via_scan = [
        tuple(sorted(f"q{i}" for i, b in enumerate(binding_keys) if topic_matches(b, key)))
        for key in scan_keys
    ]
    scan_time = (time.perf_counter() - start) * len(routing_keys) / len(scan_keys)
    assert via_scan == via_trie[: len(scan_keys)], "the trie and the scan disagree"
    matched = sum(map(len, via_trie)) / len(via_trie)
    print(f"  trie        {keys / trie_time:12,.0f} routes/s  ({matched:.1f} queues per key on average)")
    print(f"  linear scan {keys / scan_time:12,.0f} routes/s  (timed on {len(scan_keys):,} keys)")
    print(f"  trie / scan = {scan_time / trie_time:.0f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args()
    dedup_bench(2_000 if args.quick else 20_000)
    print()
    routing_bench(10_000, 100 if args.quick else 2_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
