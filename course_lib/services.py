"""Where the real services are, and whether they answer.

The course runs offline with embedded stand-ins (fakeredis, an in-process log,
the exchange models). Each real service has one environment variable that points
the course at it; unset, the course uses the loopback address where
``make services`` and CI start it:

=========  ==========================  ======================================
service    environment variable        example
=========  ==========================  ======================================
redis      ``REDIS_URL``               ``redis://127.0.0.1:6379/0``
kafka      ``KAFKA_BOOTSTRAP_SERVERS`` ``127.0.0.1:9092``
rabbitmq   ``RABBITMQ_URL``            ``amqp://guest:guest@127.0.0.1:5672/%2F``
nats       ``NATS_URL``                ``nats://127.0.0.1:4222``
=========  ==========================  ======================================

:func:`probe` says whether a service answers, and if not, why: a notebook prints
the reason, a benchmark skips that row, a test skips or fails on it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis

__all__ = ["Service", "SERVICES", "service", "configured_url", "service_url", "host_port", "probe"]


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


def service(name: str) -> Service:
    """The service called ``name``; an unknown name is refused with the known ones."""
    try:
        return SERVICES[name]
    except KeyError:
        known = ", ".join(sorted(SERVICES))
        raise ValueError(f"unknown service {name!r}; known services: {known}") from None


def configured_url(name: str) -> str | None:
    """The URL set in the service's environment variable, or None if unset."""
    value = os.environ.get(service(name).env_var, "").strip()
    return value or None


def service_url(name: str) -> str:
    """The URL to use for a real service: the environment's, else the local default."""
    return configured_url(name) or service(name).default_url


def host_port(name: str, url: str | None = None) -> tuple[str, int]:
    """The first (host, port) of a service URL or Kafka bootstrap list."""
    url = url or service_url(name)
    first = url.split(",")[0].strip()
    if "://" not in first:
        first = "tcp://" + first
    parts = urlsplit(first)
    return parts.hostname or "127.0.0.1", parts.port or service(name).default_port


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
