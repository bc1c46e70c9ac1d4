"""Where a learner's notebook runs while it is graded: a bubblewrap sandbox.

``Sandbox`` starts ``python -m course_lib.grading.sandbox_runner`` inside
``bwrap`` (the sandbox Flatpak uses) with:

- its own user, PID, network, IPC, UTS and cgroup namespaces: uid and gid
  65534 (nobody), no network at all (not even 127.0.0.1), and no way to see
  or signal a process outside;
- a root file system that holds only what Python and the course need, all
  read-only: ``/usr`` and the ``/lib``-style folders, a few files of
  ``/etc``, the interpreter's prefix and the virtual environment, the
  ``course_lib`` package folder and the question bank being used -- never
  the project root (which holds ``solutions/``), the hidden tests, the
  other submissions or the grader's output folder;
- a private, writable work folder (a fresh copy of the one notebook) and a
  small private ``/tmp``;
- limits: address space (2 GiB by default), CPU seconds, file size, and
  processes (``RLIMIT_NPROC``; when the grader runs as root the kernel does
  not apply that limit, so a ``pids`` cgroup does it when one is writable).

Killing ``bwrap`` kills the namespace's first process, and the kernel then
kills every process in the namespace: a detached child does not outlive the
run. The judge talks to the runner over two pipes (see ``channel``).

Where ``bwrap`` cannot run (not Linux, not installed, user namespaces
disabled) the same runner runs as a plain child process in its own session,
with the same rlimits except processes, and every result says so:
``NotebookResult.sandbox == "not sandboxed: <why>"``. Set
``COURSE_GRADING_SANDBOX=off`` to choose that (tests do), or ``=bwrap`` to
make grading fail rather than run unsandboxed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import course_lib
import course_lib.grading.channel as channel

SANDBOX_ENV_VAR = "COURSE_GRADING_SANDBOX"  # auto (default), bwrap (required), off
BUBBLEWRAP = "bubblewrap"
NOBODY = 65534
WORK_DIR = "/submission"  # where the work folder appears inside the sandbox
GiB = 1024**3
MiB = 1024**2

# Files of /etc that Python, time zones and user lookups read, if present.
_ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "nsswitch.conf",
    "passwd",
    "group",
    "hosts",
    "mime.types",
    "fonts",
    "ssl",
    "alternatives",
)
_SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


class SandboxUnavailable(RuntimeError):
    """``COURSE_GRADING_SANDBOX=bwrap`` was asked for, but bubblewrap cannot run here."""


@dataclass(frozen=True)
class SandboxPolicy:
    """The limits of one sandboxed run (per process where the kernel counts per process)."""

    memory_bytes: int = 2 * GiB  # RLIMIT_AS
    cpu_seconds: int = 600  # RLIMIT_CPU: a safety net; the judge's wall-clock limits come first
    processes: int = 64  # RLIMIT_NPROC (threads count too), or the pids cgroup
    file_bytes: int = 64 * MiB  # RLIMIT_FSIZE: the largest file it may write
    tmp_bytes: int = 64 * MiB  # size of the private /tmp


def sandbox_mode() -> str:
    """``auto``, ``bwrap`` or ``off``, from $COURSE_GRADING_SANDBOX."""
    mode = os.environ.get(SANDBOX_ENV_VAR, "auto").strip().lower() or "auto"
    if mode not in ("auto", "bwrap", "off"):
        raise ValueError(f"{SANDBOX_ENV_VAR} must be auto, bwrap or off, not {mode!r}")
    return mode


_availability_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _bwrap_problem() -> str | None:
    """Why bubblewrap cannot run here, or None when a trial sandbox worked."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    binary = shutil.which("bwrap")
    if binary is None:
        return "bubblewrap (bwrap) is not installed"
    trial = [binary, *_namespace_args(), *_system_args(), "--", "/bin/sh", "-c", "exit 0"]
    try:
        done = subprocess.run(trial, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap did not run ({error})"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return f"bwrap cannot create a sandbox here ({lines[-1]})"
    return None


def bwrap_problem() -> str | None:
    with _availability_lock:
        return _bwrap_problem()


def choose() -> tuple[bool, str]:
    """(sandboxed?, the line every result carries): ``bubblewrap`` or ``not sandboxed: <why>``.

    The kernel does not apply RLIMIT_NPROC to root; as root the process limit
    needs a pids cgroup, and without one the line says so after ``bubblewrap``.
    """
    mode = sandbox_mode()
    if mode == "off":
        return False, f"not sandboxed: {SANDBOX_ENV_VAR}=off"
    problem = bwrap_problem()
    if problem is None:
        if not processes_limited_here():
            return (
                True,
                f"{BUBBLEWRAP} (processes not limited: running as root without a writable pids cgroup)",
            )
        return True, BUBBLEWRAP
    if mode == "bwrap":
        raise SandboxUnavailable(f"{SANDBOX_ENV_VAR}=bwrap but {problem}")
    return False, f"not sandboxed: {problem}"


def _namespace_args() -> list[str]:
    return [
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--uid",
        str(NOBODY),
        "--gid",
        str(NOBODY),
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
    ]


def _system_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for folder in _SYSTEM_DIRS:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    for name in _ETC:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args + ["--proc", "/proc", "--dev", "/dev"]


def python_paths() -> list[Path]:
    """The folders the interpreter needs: its prefix, the venv, the real executable's folder."""
    paths = [Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent]
    return _outermost(path.resolve() for path in paths if path.exists())


def sandbox_python() -> str:
    """The interpreter by a path that exists inside the sandbox.

    Only resolved folders are bound, so a virtual environment reached through a
    symlink (``course/.venv -> /elsewhere/.venv``) is named by its real
    folder; its ``bin/python`` symlink still finds that environment's
    ``pyvenv.cfg``.
    """
    prefix = Path(sys.prefix)
    executable = Path(sys.executable)
    if executable.is_relative_to(prefix):
        return str(prefix.resolve() / executable.relative_to(prefix))
    return str(executable.resolve())


def course_paths() -> list[Path]:
    """The installed ``course_lib`` package folder (not the project around it)."""
    return [Path(course_lib.__file__).resolve().parent]


def module_path(module: str) -> Path | None:
    """The file or package folder of a top-level module (a question bank outside the course)."""
    top = module.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not os.path.exists(spec.origin):
        return None
    origin = Path(spec.origin).resolve()
    return origin.parent if spec.submodule_search_locations else origin


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """The paths without those inside another one of them, sorted."""
    unique = sorted(set(paths))
    return [
        path for path in unique if not any(other != path and path.is_relative_to(other) for other in unique)
    ]


@dataclass
class Launch:
    """What to start: the runner's arguments and what it may see."""

    policy: SandboxPolicy
    sandboxed: bool
    extra_modules: list[Path] = field(default_factory=list)  # bank files/packages outside course_lib
    hide: list[Path] = field(default_factory=list)  # folders that must stay invisible
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the runner


class Sandbox:
    """One runner process (sandboxed or not) with its work folder and channel.

    Use as a context manager: leaving it kills the process tree and removes
    the work folder. ``send`` and ``receive`` raise ``channel.ChannelClosed``
    when the runner died and ``channel.ChannelTimeout`` past a deadline.
    """

    def __init__(self, launch: Launch, notebook_name: str, notebook_bytes: bytes) -> None:
        self.launch = launch
        self.work = Path(tempfile.mkdtemp(prefix="course-grading-"))
        (self.work / _safe_name(notebook_name)).write_bytes(notebook_bytes)
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._to_runner = self._from_runner = -1
        self._cgroup: Path | None = None

    # -- starting ---------------------------------------------------------------------

    def start(self) -> None:
        to_runner_read, self._to_runner = os.pipe()
        self._from_runner, from_runner_write = os.pipe()
        os.set_blocking(self._to_runner, False)
        runner_fds = (to_runner_read, from_runner_write)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in kill()
        uses_cgroup = self.launch.sandboxed and os.geteuid() == 0
        self._cgroup = _new_pids_cgroup(self.launch.policy.processes) if uses_cgroup else None
        argv = self._argv(*runner_fds, rlimit_processes=self.launch.sandboxed and not uses_cgroup)
        if self._cgroup is not None:
            # Join the cgroup before bwrap starts, so every process it makes is counted.
            script = 'echo $$ > "$1" && shift && exec "$@"'
            argv = ["/bin/sh", "-c", script, "sh", str(self._cgroup / "cgroup.procs"), *argv]
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                pass_fds=runner_fds,
                env=self._env(),
                cwd=None if self.launch.sandboxed else self.work,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            os.close(to_runner_read)
            os.close(from_runner_write)

    def _argv(self, read_fd: int, write_fd: int, rlimit_processes: bool) -> list[str]:
        policy = self.launch.policy
        runner = [
            sys.executable,
            "-m",
            "course_lib.grading.sandbox_runner",
            "--in",
            str(read_fd),
            "--out",
            str(write_fd),
            "--memory",
            str(policy.memory_bytes),
            "--cpu",
            str(policy.cpu_seconds),
            "--file-size",
            str(policy.file_bytes),
            "--processes",
            str(policy.processes if rlimit_processes else 0),
        ]
        if not self.launch.sandboxed:
            return runner
        runner[0] = sandbox_python()
        binary = shutil.which("bwrap") or "bwrap"
        args = [binary, *_namespace_args(), *_system_args()]
        args += ["--size", str(policy.tmp_bytes), "--tmpfs", "/tmp"]  # first: a course under /tmp goes on top
        bound: list[Path] = []
        for path in _outermost([*python_paths(), *course_paths(), *self.launch.extra_modules]):
            args += ["--ro-bind", str(path), str(path)]
            bound.append(path)
        args += ["--bind", str(self.work), WORK_DIR, "--chdir", WORK_DIR]
        for secret in self.launch.hide:
            secret = secret.resolve()
            if any(secret.is_relative_to(path) for path in bound) and secret.is_dir():
                args += ["--tmpfs", str(secret)]  # inside a bound folder: cover it
        # Only the work folder and /tmp stay writable.
        args += ["--remount-ro", "/", "--setenv", "PWD", WORK_DIR]
        return [*args, "--", *runner, "--sandboxed"]

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "IPYTHONDIR": "/tmp/.ipython",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": "/tmp/.matplotlib",
        }
        if not self.launch.sandboxed:
            env["HOME"] = env["TMPDIR"] = str(self.work)
            env["IPYTHONDIR"] = str(self.work / ".ipython")
            env["MPLCONFIGDIR"] = str(self.work / ".matplotlib")
        # The folder holding course_lib (inside the sandbox it holds nothing else), then the banks'.
        paths = [str(path.parent) for path in [*course_paths(), *self.launch.extra_modules]]
        if paths:
            env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        env.update(self.launch.env)
        return env

    # -- talking ------------------------------------------------------------------------

    def send(self, message: dict[str, Any], deadline: float) -> None:
        channel.send(self._to_runner, message, deadline)

    def receive(self, deadline: float) -> Any:
        return channel.receive_plain(self._from_runner, deadline)

    def startup_error(self) -> str:
        """The last line bwrap or Python wrote to stderr (for a runner that died early)."""
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError):
            self._stderr.seek(0)
            lines = self._stderr.read(8192).decode("utf-8", "replace").strip().splitlines()
            return lines[-1][:300] if lines else ""
        return ""

    # -- stopping -----------------------------------------------------------------------

    def kill(self) -> None:
        """Kill the runner and everything it started; safe to call twice."""
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # bwrap (or the unsandboxed runner's session)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
        if self._cgroup is not None:
            _remove_cgroup(self._cgroup)
            self._cgroup = None
        for fd in (self._to_runner, self._from_runner):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_runner = self._from_runner = -1
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self) -> None:
        self.kill()
        _remove_tree(self.work)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _safe_name(name: str) -> str:
    base = os.path.basename(name) or "notebook.ipynb"
    return base if not base.startswith(".") else "notebook.ipynb"


def _remove_tree(path: Path) -> None:
    """Remove a work folder, even one whose permissions the notebook changed."""

    def on_error(function: Any, failed: str, _info: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            os.chmod(failed, 0o700)
            function(failed)

    shutil.rmtree(path, onerror=on_error)


# -- the pids cgroup (process limit when running as root) ---------------------------------------

_cgroup_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _pids_parent() -> Path | None:
    """A writable cgroup folder with the pids controller, or None."""
    candidates = [Path("/sys/fs/cgroup/pids")]
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            hierarchy, _, rest = line.partition(":")
            controllers, _, where = rest.partition(":")
            if hierarchy == "0" and controllers == "":  # cgroup v2
                for mount in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                    candidates.append(mount / where.lstrip("/"))
    except OSError:
        pass
    for parent in candidates:
        probe = parent / f"course-grading-probe-{secrets.token_hex(4)}"
        try:
            probe.mkdir()
        except OSError:
            continue
        try:
            usable = (probe / "pids.max").exists()
        finally:
            with contextlib.suppress(OSError):
                probe.rmdir()
        if usable:
            return parent
    return None


def _new_pids_cgroup(limit: int) -> Path | None:
    with _cgroup_lock:
        parent = _pids_parent()
    if parent is None:
        return None
    folder = parent / f"course-grading-{os.getpid()}-{secrets.token_hex(6)}"
    try:
        folder.mkdir()
        (folder / "pids.max").write_text(f"{limit}\n")
    except OSError:
        with contextlib.suppress(OSError):
            folder.rmdir()
        return None
    return folder


def processes_limited_here() -> bool:
    """Whether a sandbox started now can limit its processes (rlimit, or a pids cgroup as root)."""
    if os.geteuid() != 0:
        return True
    with _cgroup_lock:
        return _pids_parent() is not None


def _remove_cgroup(folder: Path) -> None:
    """Kill whatever is left in the cgroup, then remove it."""
    for _ in range(100):
        try:
            pids = [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        try:
            folder.rmdir()
            return
        except OSError:
            time.sleep(0.01)
