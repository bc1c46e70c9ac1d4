"""Browser fixtures: one JupyterLab server and one headless Chromium for all browser tests.

The tests drive Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``
with apt) through Playwright; Playwright never downloads a browser here.  Without
that Chromium (or without Playwright) the tests are skipped on a learner's machine
and FAIL under ``COURSE_REQUIRE_SERVICES=1``, which CI sets.

JupyterLab serves a COPY of ``modules/`` and ``labs/`` (in a temporary folder), so
running every cell through the UI can never autosave new outputs over the
committed notebooks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from browser_checks import ROOT, skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# JupyterLab user settings for the test server: no network checks (news, updates),
# no autosave, and every cell kept in the DOM (windowing would detach cells that
# are scrolled out of view, and the checks read every cell).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_local(url: str) -> bool:
    """True for URLs that stay on this machine (file:, data:, blob:, loopback)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme in ("file", "data", "blob", "about", "chrome", "devtools"):
        return True
    return parts.hostname in ("127.0.0.1", "localhost", "::1")


# --------------------------------------------------------------------------
# The browser
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the Python package playwright is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageLog:
    """What a page said while a test used it: console errors, page errors, requests."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(
            f"console.error: {msg.text} ({msg.location.get('url', '')})"))
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("request", lambda request: self.requests.append(request.url))

        def route(route):
            if is_local(route.request.url):
                route.continue_()
            else:  # nothing may leave the machine; the test reports what tried to
                self.blocked.append(route.request.url)
                route.abort()

        page.route("**/*", route)


@pytest.fixture
def new_page(browser):
    """A factory for pages (1280x900) with a :class:`PageLog`; closes them afterwards."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        # Generous: a fresh machine's first JupyterLab page and kernel are slow, and a
        # test waits for what it checks, never for a fixed moment.
        page.set_default_timeout(60_000)
        log = PageLog()
        log.attach(page)
        return page, log

    yield make
    for context in contexts:
        context.close()


# --------------------------------------------------------------------------
# The JupyterLab server
# --------------------------------------------------------------------------


@dataclass
class Lab:
    base: str
    token: str
    root: Path

    def url(self, path: str, **query: str) -> str:
        from urllib.parse import urlencode

        return f"{self.base}{path}?{urlencode({'token': self.token, **query})}"

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(
            f"{self.base}{path}", method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        """Close every session and kernel, so each notebook starts with a fresh one."""
        for session in self.api("GET", "/api/sessions") or []:
            self.api("DELETE", f"/api/sessions/{session['id']}")
        for kernel in self.api("GET", "/api/kernels") or []:
            self.api("DELETE", f"/api/kernels/{kernel['id']}")


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    base_dir = tmp_path_factory.mktemp("lab")
    root = base_dir / "course"
    shutil.copytree(ROOT / "modules", root / "modules",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if (ROOT / "labs").is_dir():
        shutil.copytree(ROOT / "labs", root / "labs")
    settings = base_dir / "settings"
    for name, values in LAB_SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))

    port, token = free_port(), "course-browser-test"
    env = dict(
        os.environ,
        JUPYTER_RUNTIME_DIR=str(base_dir / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(base_dir / "workspaces"),
    )
    jupyter = Path(sys.executable).parent / "jupyter"
    log_path = base_dir / "lab.log"
    log = open(log_path, "wb")
    server = subprocess.Popen(
        [str(jupyter), "lab", "--allow-root", f"--ServerApp.root_dir={root}", "--no-browser",
         "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
         "--LabApp.news_url=", "--ServerApp.terminals_enabled=False"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    result = Lab(f"http://127.0.0.1:{port}", token, root)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, log_path.read_text()[-3000:]
            try:
                result.api("GET", "/api/status")
                break
            except (OSError, urllib.error.URLError):
                pass
            assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
            time.sleep(0.3)
        yield result
    finally:
        try:
            result.shut_down_kernels()
        except Exception:
            pass
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
