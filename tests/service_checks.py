"""The tests' rule for a missing service or tool: skip on a learner's machine, fail in CI.

CI sets ``COURSE_REQUIRE_SERVICES=1`` so it can never go green by quietly
skipping the tests that matter. This is test policy, so it lives with the tests
(``course_lib`` never imports pytest); ``course_lib.services.probe`` is the part
a learner uses too. Import it as ``from service_checks import require_service``:
pytest puts ``tests/`` on ``sys.path`` for everything under it.
"""

from __future__ import annotations

import os

import pytest

from course_lib.services import probe, service, service_url


def services_required() -> bool:
    """True when a missing service must fail a test rather than skip it (CI)."""
    return os.environ.get("COURSE_REQUIRE_SERVICES", "").strip() not in ("", "0", "false")


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason`` on a learner's machine; fail with it when services are required."""
    if services_required():
        pytest.fail(f"{reason}; COURSE_REQUIRE_SERVICES=1 makes this a failure")
    pytest.skip(reason)


def require_service(name: str, url: str | None = None) -> str:
    """The service's URL if it answers; otherwise skip (learner) or fail (CI) with the reason."""
    url = url or service_url(name)
    reason = probe(name, url)
    if reason is None:
        return url
    skip_or_fail(f"{reason} (start it with `make services` or set {service(name).env_var})")
    raise AssertionError("not reached: skip_or_fail always raises")
