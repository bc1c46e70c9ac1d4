"""Pick the embedded default or a real service, from the environment.

Everything in the course runs offline on one laptop: fakeredis stands in for
Redis, an in-process log for Kafka. An engineer who wants the real thing sets
one environment variable per service and the same notebook talks to it:

=========  ==========================  ======================================
service    environment variable        example
=========  ==========================  ======================================
redis      ``REDIS_URL``               ``redis://127.0.0.1:6379/0``
kafka      ``KAFKA_BOOTSTRAP_SERVERS`` ``127.0.0.1:9092``
rabbitmq   ``RABBITMQ_URL``            ``amqp://guest:guest@127.0.0.1:5672/%2F``
nats       ``NATS_URL``                ``nats://127.0.0.1:4222``
=========  ==========================  ======================================

Tests that need a real service call :func:`require_service`. On a learner's
machine a missing service skips the test with a reason; with
``COURSE_REQUIRE_SERVICES=1`` (CI sets it) it fails instead, so CI can never go
green by quietly skipping the tests that matter.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis


@dataclass(frozen=True)
class Service:
    """A real service the course can use instead of its embedded default."""

    name: str
    env_var: str
    default_url: str  # where `make services` and CI start it, always on loopback
    default_port: int


SERVICES: dict[str, Service] = {
    "redis": Service("redis", "REDIS_URL", "redis://127.0.0.1:6379/0", 6379),
    "kafka": Service("kafka", "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", 9092),
    "rabbitmq": Service("rabbitmq", "RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F", 5672),
    "nats": Service("nats", "NATS_URL", "nats://127.0.0.1:4222", 4222),
}


def _service(name: str) -> Service:
    try:
        return SERVICES[name]
    except KeyError:
        known = ", ".join(sorted(SERVICES))
        raise ValueError(f"unknown service {name!r}; known services: {known}") from None


def configured_url(name: str) -> str | None:
    """The URL set in the service's environment variable, or None if unset."""
    value = os.environ.get(_service(name).env_var, "").strip()
    return value or None


def service_url(name: str) -> str:
    """The URL to use for a real service: the environment's, else the local default."""
    return configured_url(name) or _service(name).default_url


def services_required() -> bool:
    """True when a missing service must fail a test rather than skip it (CI)."""
    return os.environ.get("COURSE_REQUIRE_SERVICES", "").strip() not in ("", "0", "false")


def host_port(name: str, url: str | None = None) -> tuple[str, int]:
    """The first (host, port) of a service URL or Kafka bootstrap list."""
    service = _service(name)
    url = url or service_url(name)
    first = url.split(",")[0].strip()
    if "://" not in first:
        first = "tcp://" + first
    parts = urlsplit(first)
    return parts.hostname or "127.0.0.1", parts.port or service.default_port


def probe(name: str, url: str | None = None, timeout: float = 1.0) -> str | None:
    """Check that a service answers; return None if it does, else the reason it does not.

    A TCP connect proves something listens. For Redis we also send PING, because a
    port that accepts connections is not yet a Redis that answers.
    """
    url = url or service_url(name)
    host, port = host_port(name, url)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return f"{name} is not reachable at {host}:{port} ({exc.strerror or exc})"
    if name == "redis":
        try:
            redis.Redis.from_url(url, socket_timeout=timeout).ping()
        except redis.RedisError as exc:
            return f"redis at {url} accepted a connection but did not answer PING ({exc})"
    return None


def require_service(name: str, url: str | None = None) -> str:
    """For tests: return the service's URL, or skip (learner) / fail (CI) with the reason."""
    import pytest  # only tests call this; the library itself does not need pytest

    url = url or service_url(name)
    reason = probe(name, url)
    if reason is None:
        return url
    service = _service(name)
    hint = f"start it with `make services` or set {service.env_var}"
    if services_required():
        pytest.fail(f"{reason}; COURSE_REQUIRE_SERVICES=1 makes this a failure ({hint})")
    pytest.skip(f"{reason} ({hint})")


def redis_client(url: str | None = None, *, decode_responses: bool = True) -> redis.Redis:
    """A Redis client: the real server at ``url`` or ``REDIS_URL``, else an in-process fakeredis.

    Both speak the same commands (SET NX EX, INCR, HINCRBY, MULTI/EXEC, Lua), so
    the course's examples behave the same on either. ``decode_responses=True``
    returns ``str`` instead of ``bytes``, which reads better in a notebook.
    """
    url = url or configured_url("redis")
    if url:
        return redis.Redis.from_url(url, decode_responses=decode_responses)
    import fakeredis

    return fakeredis.FakeRedis(decode_responses=decode_responses)


def log_cluster():
    """A Kafka to talk to: the broker at ``KAFKA_BOOTSTRAP_SERVERS``, else an embedded Cluster.

    Both offer the same producer, consumer and admin methods (see
    :mod:`course_lib.log` and :mod:`course_lib.kafka_backend`); imported lazily so
    that the embedded default never needs kafka-python.
    """
    url = configured_url("kafka")
    if url:
        from course_lib.kafka_backend import connect

        return connect(url)
    from course_lib.log import Cluster

    return Cluster()
