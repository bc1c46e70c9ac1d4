"""`make lab` starts JupyterLab on the course map: start it headless, fetch /lab and the notebook."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_make_lab_serves_jupyterlab_and_the_course_map(root, tmp_path):
    port, token = _free_port(), "course-test-token"
    # A stand-in browser that writes down the URL JupyterLab asks it to open.
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    args = (f"--ip=127.0.0.1 --port={port} --IdentityProvider.token={token} "
            f"--ServerApp.browser='{browser} %s'")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    log = open(tmp_path / "lab.log", "wb")
    server = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
            try:
                if _get(f"{base}/api/status?token={token}")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
            time.sleep(0.5)

        status, page = _get(f"{base}/lab?token={token}")
        assert status == 200 and b"JupyterLab" in page

        status, body = _get(f"{base}/api/contents/modules/00-course-map.ipynb?token={token}")
        assert status == 200
        model = json.loads(body)
        assert model["type"] == "notebook"
        first = "".join(model["content"]["cells"][0]["source"])
        assert first.startswith("# ")

        # and `make lab` opens the browser straight on the course map
        deadline = time.monotonic() + 20
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        # Jupyter hands the browser a local page that redirects to the notebook.
        redirect = Path(urllib.parse.urlparse(opened.read_text().strip()).path)
        assert "lab/tree/modules/00-course-map.ipynb" in redirect.read_text()

        # the token is required: without it the API refuses
        assert _get(f"{base}/api/contents/modules/00-course-map.ipynb")[0] in (401, 403)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
