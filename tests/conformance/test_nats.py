"""NATS subject matching and at-most-once delivery, checked against a real nats-server.

Every random pattern gets its own subscription; every random subject is published
once with its index as data. The embedded :func:`nats_subject_matches` must predict
exactly which subscription receives which message. Subjects with an empty token
(``a..b``) are invalid: the server delivers them to nobody, and the embedded
matcher matches them to nothing.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from course_lib.exchanges import NatsBus, nats_subject_matches

nats = pytest.importorskip("nats")

pytestmark = pytest.mark.conformance

SEED = 20260515


def random_pattern(rng: random.Random) -> str:
    tokens = [rng.choice(["a", "b", "c", "*"]) for _ in range(rng.randint(0, 3))]
    if not tokens or rng.random() < 0.3:
        tokens.append(">")
    return ".".join(tokens)


def random_subject(rng: random.Random) -> str:
    tokens = [rng.choice(["a", "b", "c", "a", "b", ""]) for _ in range(rng.randint(1, 4))]
    return ".".join(tokens) or "."  # nats-py refuses to send an empty subject at all


async def deliveries_on_nats(url: str, patterns: list[str], subjects: list[str], expected: int):
    nc = await nats.connect(url, connect_timeout=2)
    received: set[tuple[int, int]] = set()
    try:
        for p_index, pattern in enumerate(patterns):
            async def on_message(msg, p_index=p_index):
                received.add((p_index, int(msg.data)))
            await nc.subscribe(pattern, cb=on_message)
        await nc.flush()
        for s_index, subject in enumerate(subjects):
            await nc.publish(subject, str(s_index).encode())
        await nc.flush()
        for _ in range(100):  # wait until everything expected arrived (at most ~5 s)
            if len(received) >= expected:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # and a little longer, to catch anything unexpected
    finally:
        await nc.close()
    return received


def test_random_subjects_and_patterns_match_like_nats_server(nats_url, run_async):
    rng = random.Random(SEED)
    patterns = sorted({random_pattern(rng) for _ in range(40)})
    subjects = [random_subject(rng) for _ in range(60)]
    assert any(".." in s or s.startswith(".") or s.endswith(".") for s in subjects)  # invalid ones are in
    expected = {(p, s) for p, pattern in enumerate(patterns) for s, subject in enumerate(subjects)
                if nats_subject_matches(pattern, subject)}
    assert len(patterns) * len(subjects) >= 500 and expected
    received = run_async(deliveries_on_nats(nats_url, patterns, subjects, len(expected)))
    missing = sorted((patterns[p], subjects[s]) for p, s in expected - received)
    extra = sorted((patterns[p], subjects[s]) for p, s in received - expected)
    assert not missing and not extra, f"seed {SEED}: missing {missing}, extra {extra}"


async def no_listener_then_listener(url: str) -> list[bytes]:
    nc = await nats.connect(url, connect_timeout=2)
    got: list[bytes] = []
    try:
        subject = f"course.conformance.{random.Random().getrandbits(40)}"
        await nc.publish(subject, b"before anyone listened")
        await nc.flush()
        sub = await nc.subscribe(subject)
        await nc.flush()
        await nc.publish(subject, b"while listening")
        await nc.flush()
        try:
            while True:
                got.append((await sub.next_msg(timeout=0.3)).data)
        except nats.errors.TimeoutError:
            pass
    finally:
        await nc.close()
    return got


def test_a_message_nobody_listens_to_is_gone_on_nats_as_on_the_bus(nats_url, run_async):
    assert run_async(no_listener_then_listener(nats_url)) == [b"while listening"]
    bus = NatsBus()
    assert bus.publish("orders.eu", "before anyone listened") == 0
    sub = bus.subscribe("orders.eu")
    bus.publish("orders.eu", "while listening")
    assert [m.data for m in sub.fetch()] == ["while listening"]


async def queue_group_counts(url: str, members: int, messages: int) -> list[int]:
    nc = await nats.connect(url, connect_timeout=2)
    counts = [0] * members
    try:
        subject = f"course.conformance.work.{random.Random().getrandbits(40)}"
        for i in range(members):
            async def on_message(msg, i=i):
                counts[i] += 1
            await nc.subscribe(subject, queue="workers", cb=on_message)
        await nc.flush()
        for n in range(messages):
            await nc.publish(subject, str(n).encode())
        await nc.flush()
        for _ in range(100):
            if sum(counts) >= messages:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
    finally:
        await nc.close()
    return counts


def test_a_queue_group_gives_each_message_to_one_member_on_nats_as_on_the_bus(nats_url, run_async):
    counts = run_async(queue_group_counts(nats_url, members=3, messages=60))
    assert sum(counts) == 60
    bus = NatsBus(seed=1)
    subs = [bus.subscribe("work", queue_group="workers") for _ in range(3)]
    for n in range(60):
        assert bus.publish("work", n) == 1
    assert sum(s.delivered for s in subs) == 60
