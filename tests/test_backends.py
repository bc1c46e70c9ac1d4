"""course_lib.backends: embedded defaults, real services, and the skip-or-fail rule."""

from __future__ import annotations

import socket

import fakeredis
import pytest

from course_lib import backends


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_client_is_fakeredis_when_redis_url_is_unset(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = backends.redis_client()
    assert isinstance(client, fakeredis.FakeRedis)
    assert client.set("k", "v", nx=True, ex=10) is True
    assert client.get("k") == "v"  # decoded to str by default


def test_redis_client_follows_redis_url(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/3")
    client = backends.redis_client()
    assert not isinstance(client, fakeredis.FakeRedis)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 1, 3)


def test_service_url_prefers_the_environment(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert backends.service_url("kafka") == "127.0.0.1:9092"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092,127.0.0.1:19093")
    assert backends.host_port("kafka") == ("127.0.0.1", 19092)


def test_unknown_service_names_the_known_ones():
    with pytest.raises(ValueError, match="known services: kafka, nats, rabbitmq, redis"):
        backends.service_url("postgres")


def test_probe_reports_an_unreachable_service_with_its_address():
    port = _free_port()
    reason = backends.probe("nats", f"nats://127.0.0.1:{port}", timeout=0.5)
    assert reason is not None and f"127.0.0.1:{port}" in reason


def test_missing_service_skips_on_a_learners_machine(monkeypatch):
    monkeypatch.delenv("COURSE_REQUIRE_SERVICES", raising=False)
    url = f"nats://127.0.0.1:{_free_port()}"
    with pytest.raises(pytest.skip.Exception, match="make services"):
        backends.require_service("nats", url)


def test_missing_service_fails_when_services_are_required(monkeypatch):
    monkeypatch.setenv("COURSE_REQUIRE_SERVICES", "1")
    url = f"nats://127.0.0.1:{_free_port()}"
    with pytest.raises(pytest.fail.Exception, match="COURSE_REQUIRE_SERVICES=1"):
        backends.require_service("nats", url)


@pytest.mark.parametrize("value, required", [("", False), ("0", False), ("1", True), ("yes", True)])
def test_services_required_reads_the_switch(monkeypatch, value, required):
    monkeypatch.setenv("COURSE_REQUIRE_SERVICES", value)
    assert backends.services_required() is required
