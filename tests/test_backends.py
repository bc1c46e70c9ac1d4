"""course_lib.backends and course_lib.services: embedded defaults, real services; the tests' skip-or-fail rule."""

from __future__ import annotations

import socket

import fakeredis
import pytest
from service_checks import require_service, services_required

from course_lib import backends, services


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


def test_backends_re_exports_the_service_helpers():
    assert backends.service_url is services.service_url and backends.probe is services.probe
    assert backends.SERVICES is services.SERVICES


def test_the_library_does_not_import_pytest(root):
    """course_lib is what learners run; skip-or-fail is test policy (tests/service_checks.py)."""
    offenders = [
        str(path.relative_to(root))
        for path in (root / "course_lib").rglob("*.py")
        if "import pytest" in path.read_text() or "from pytest" in path.read_text()
    ]
    assert offenders == []


def test_missing_service_skips_on_a_learners_machine(monkeypatch):
    monkeypatch.delenv("COURSE_REQUIRE_SERVICES", raising=False)
    url = f"nats://127.0.0.1:{_free_port()}"
    with pytest.raises(pytest.skip.Exception, match="make services"):
        require_service("nats", url)


def test_missing_service_fails_when_services_are_required(monkeypatch):
    monkeypatch.setenv("COURSE_REQUIRE_SERVICES", "1")
    url = f"nats://127.0.0.1:{_free_port()}"
    with pytest.raises(pytest.fail.Exception, match="COURSE_REQUIRE_SERVICES=1"):
        require_service("nats", url)


@pytest.mark.parametrize("value, required", [("", False), ("0", False), ("1", True), ("yes", True)])
def test_services_required_reads_the_switch(monkeypatch, value, required):
    monkeypatch.setenv("COURSE_REQUIRE_SERVICES", value)
    assert services_required() is required
