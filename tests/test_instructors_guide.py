"""Every command in docs/INSTRUCTORS.md runs, as written, on a copy of the repository.

The guide's ```bash blocks are run in order, each in a fresh `bash -e`, in a
temporary copy of the repository (its .venv/ and node_modules/ are linked, not
copied, and `make` is told never to rebuild the virtual environment there).  A
block that starts JupyterLab (`make lab`) runs in the background on a free port
with a token and no browser, until JupyterLab answers; then it is stopped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "INSTRUCTORS.md"
NOT_COPIED = (".venv", "node_modules", "build", ".git", ".pytest_cache", ".hypothesis",
              ".services", "*.egg-info", "submissions", "hidden", ".ipynb_checkpoints")

pytestmark = pytest.mark.slow


def bash_blocks(text: str) -> list[str]:
    return [match.group(1) for match in re.finditer(r"^```bash\n(.*?)^```", text, re.S | re.M)]


BLOCKS = bash_blocks(GUIDE.read_text()) if GUIDE.exists() else []


def first_line(block: str) -> str:
    return block.strip().splitlines()[0][:60]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The repository, copied without its environments and build output."""
    target = tmp_path_factory.mktemp("guide") / "course"
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    (target / ".venv").symlink_to(ROOT / ".venv")
    if (ROOT / "node_modules").is_dir():
        (target / "node_modules").symlink_to(ROOT / "node_modules")
    return target


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "RABBITMQ_URL", "NATS_URL", "MAKELEVEL",
                "MAKEFLAGS", "MFLAGS"):
        env.pop(var, None)
    # Never let `make` reinstall the linked .venv from the copy (that would point the
    # real .venv's editable install at this temporary copy). MAKEFLAGS cannot carry -o.
    env["VENV_DEPS"] = ""
    env["JUPYTER_RUNTIME_DIR"] = str(copy.parent / "runtime")
    for var in ("AUTOGRADER_ROOT", "AUTOGRADER_PYTHON"):  # the guide sets them where it needs them
        env.pop(var, None)
    return env


def run_block(block: str, copy: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=copy,
                          env=environment(copy), capture_output=True, text=True, timeout=timeout)


def answer(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def run_server_block(block: str, copy: Path, tmp_path: Path) -> None:
    """Run a block that starts JupyterLab: wait until it serves the course, then stop it."""
    port, token = free_port(), "guide-test"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    command = re.sub(r"^(\s*make lab)\s*$", rf"\1 LAB_ARGS='{args}'", block, flags=re.M)
    assert command != block
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen(["bash", "-e", "-c", command], cwd=copy, env=environment(copy),
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while answer(f"{base}/api/status?token={token}") != 200:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "JupyterLab did not answer within 120 s"
            time.sleep(0.5)
        assert answer(f"{base}/lab/tree/modules/00-course-map.ipynb?token={token}") == 200
        # the RISE address the guide gives
        assert answer(f"{base}/rise/modules/10-event-driven/10.1-events.ipynb?token={token}") == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_the_guide_exists_and_covers_what_an_instructor_needs():
    text = GUIDE.read_text()
    for topic in ("RISE", "make slides", "timings", "Grading a folder", "Hidden tests", "HIDDEN",
                  "--hidden", "grades.csv", "results.json", "Gradescope", "Real services",
                  "--jobs", "--budget", "--fresh", "grading-journal.jsonl", "Ctrl-C", "Canvas",
                  "submission_metadata.yml", "learner", "bubblewrap", "not sandboxed", "writes=",
                  "solutions/", "make release", "Binder", "make autograder", "run_autograder", "setup.sh"):
        assert topic in text, f"docs/INSTRUCTORS.md does not cover {topic!r}"
    assert len(BLOCKS) >= 10


def test_every_module_on_disk_has_a_timing():
    """The timing table lists every module notebook present (it must grow with them)."""
    text = GUIDE.read_text()
    for notebook in sorted((ROOT / "modules").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in notebook.parts:
            continue
        number = notebook.name.split("-")[0]
        assert re.search(rf"^\| {re.escape(number)} ", text, re.M), (
            f"the timings table has no row for {notebook.name}")


@pytest.mark.parametrize("index", range(len(BLOCKS)),
                         ids=[f"{i + 1}: {first_line(b)}" for i, b in enumerate(BLOCKS)])
def test_guide_command_runs(index, copy, tmp_path):
    """Blocks run in order (later ones use what earlier ones made) on the same copy."""
    block = BLOCKS[index]
    if re.search(r"^\s*make lab\s*$", block, re.M):
        run_server_block(block, copy, tmp_path)
        return
    if "make slides" in block and not (ROOT / "node_modules").is_dir() and not shutil.which("npm"):
        if os.environ.get("COURSE_REQUIRE_SERVICES") == "1":
            pytest.fail("make slides needs npm or node_modules/ (COURSE_REQUIRE_SERVICES=1)")
        pytest.skip("make slides needs npm once, to fetch the slide assets")
    done = run_block(block, copy)
    assert done.returncode == 0, f"$ {block}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    # What the blocks are for, checked where it can be.
    if block.lstrip().startswith("make grade SUBMISSIONS=submissions/\n") or block.strip() == "make grade SUBMISSIONS=submissions/":
        assert re.search(r"submissions/alice/lab-10\.1-events\.ipynb .* 10/10", done.stdout), done.stdout
        assert re.search(r"submissions/bob/lab-10\.1-events\.ipynb .* 0/10", done.stdout), done.stdout
    if "HIDDEN=hidden/" in block:
        results = json.loads((copy / "build" / "grades" / "results.json").read_text())
        alice = next(s for s in results["submissions"] if "alice" in s["notebook"])
        q1 = next(t for t in alice["tests"] if t["name"].startswith("10.1-q1"))
        assert "hidden" in q1["output"], q1
        assert alice["score"] == alice["max_score"]
    if "--out build/class" in block and "resuming" not in block:
        assert re.search(r"^alice +submissions/alice/lab-10\.1-events\.ipynb .* 10/10", done.stdout, re.M)
        assert (copy / "build" / "class" / "grading-journal.jsonl").is_file()
    if "build/lms/grades.csv" in block:
        assert "12345,smithjane," in done.stdout and "678,Ann Lee," in done.stdout, done.stdout
    if "make release" in block:
        assert list((copy / "build" / "release" / "labs").glob("*.ipynb"))
        assert not (copy / "build" / "release" / "solutions").exists()
    if "make autograder" in block:
        assert "setup.sh" in done.stdout and "run_autograder" in done.stdout, done.stdout
    if "AUTOGRADER_ROOT" in block:
        results = json.loads((copy / "build" / "gradescope" / "results" / "results.json").read_text())
        assert results["score"] == results["max_score"] and results["tests"]
        assert "hidden" in results["tests"][0]["output"]  # the package carried the hidden tests
    if "probe" in block:
        assert len(re.findall(r"^(redis|kafka|rabbitmq|nats) ", done.stdout, re.M)) == 4, done.stdout
    if "nbconvert" in block:
        assert (copy / "build" / "rehearsal" / "10.4-kafka.ipynb").is_file()


def test_readme_shows_a_screenshot_of_the_course():
    """The README's picture is one of the notebook screenshots the browser tests take."""
    readme = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[[^\]]+\]\((docs/images/[^)]+\.png)\)", readme)
    assert images, "README.md shows no screenshot (![...](docs/images/<notebook>.png))"
    stems = {p.stem for p in (ROOT / "modules").rglob("*.ipynb")}
    for image in images:
        path = ROOT / image
        assert path.is_file(), f"README.md shows {image}, which does not exist"
        assert path.stem in stems, f"{image} is not named after a module notebook"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{image} is not a PNG"
        shot = ROOT / "build" / "screenshots" / path.name
        if shot.exists():  # after the browser tests: the same view, 1280 x 900
            assert _png_size(shot) == _png_size(path)


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[16:24]
    return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")


def test_running_the_guide_left_the_shared_venv_pointing_at_this_checkout(copy):
    """The copy links the real .venv; `make` in the copy must not reinstall course_lib from it."""
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("no .venv in this checkout")
    origin = subprocess.run([str(python), "-c", "import course_lib; print(course_lib.__file__)"],
                            cwd="/", capture_output=True, text=True, timeout=60).stdout.strip()
    assert Path(origin).resolve().is_relative_to(ROOT.resolve()), (
        f"course_lib now imports from {origin}: running the guide reinstalled the shared .venv")
