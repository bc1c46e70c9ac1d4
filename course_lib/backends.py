"""Pick the embedded default or a real service, from the environment.

Everything in the course runs offline on one laptop: fakeredis stands in for
Redis, an in-process log for Kafka. An engineer who wants the real thing sets
one environment variable per service (``REDIS_URL``, ``KAFKA_BOOTSTRAP_SERVERS``,
...: the table is in :mod:`course_lib.services`) and the same notebook talks to it.

The service helpers (``SERVICES``, ``service_url``, ``probe``, ...) live in
:mod:`course_lib.services` and are re-exported here, so
``from course_lib.backends import probe`` works too.
"""

from __future__ import annotations

import redis

from course_lib.kafka_backend import BrokerConnection, connect
from course_lib.log import Cluster
from course_lib.services import SERVICES, Service, configured_url, host_port, probe, service, service_url

__all__ = [
    "redis_client",
    "log_cluster",
    "Service",
    "SERVICES",
    "service",
    "configured_url",
    "service_url",
    "host_port",
    "probe",
]


def redis_client(url: str | None = None, *, decode_responses: bool = True) -> redis.Redis:
    """A Redis client: the real server at ``url`` or ``REDIS_URL``, else an in-process fakeredis.

    Both speak the same commands (SET NX EX, INCR, HINCRBY, MULTI/EXEC, Lua), so
    the course's examples behave the same on either. ``decode_responses=True``
    returns ``str`` instead of ``bytes``, which reads better in a notebook.
    """
    url = url or configured_url("redis")
    if url:
        return redis.Redis.from_url(url, decode_responses=decode_responses)
    import fakeredis  # only the embedded default needs it

    return fakeredis.FakeRedis(decode_responses=decode_responses)


def log_cluster() -> Cluster | BrokerConnection:
    """A Kafka to talk to: the broker at ``KAFKA_BOOTSTRAP_SERVERS``, else an embedded Cluster.

    Both offer the same producer, consumer and admin methods (see
    :mod:`course_lib.log` and :mod:`course_lib.kafka_backend`). kafka-python is
    imported only when a broker connection is made, so the embedded default never
    needs it.
    """
    url = configured_url("kafka")
    return connect(url) if url else Cluster()
