"""Grading a whole class: notebooks in parallel, a journal, resuming, a time budget.

``grade_batch`` hands the submissions to ``jobs`` worker processes
(``course_lib.grading.worker``), each grading one notebook at a time with
``grade_notebook``. What makes it fit for forty or four hundred notebooks:

* **Results are kept as they arrive.** Each finished notebook is appended to
  a journal (JSON lines, flushed to disk) in the output folder, under a key
  made of the notebook's content, the hidden tests, the grading options and
  the course's code. A run that is interrupted -- Ctrl-C, a crash, a power
  cut -- loses only the notebooks being graded at that moment; running the
  same command again reuses every journal entry whose key still matches and
  grades the rest. A notebook that changed, new hidden tests, other options
  or a changed grader all change the key, so nothing stale is reused.
* **Ctrl-C** stops handing out notebooks and lets the ones in progress
  finish (a second Ctrl-C abandons them); the caller then writes the grades
  of what is done.
* **A time budget per notebook.** The budget is handed to ``grade_notebook``
  where it takes one (it then scores what it graded in time); a worker still
  busy with a notebook after the budget (plus ``BUDGET_GRACE`` when the
  grader keeps the budget itself) is killed with everything it started, that
  notebook scores 0 with the reason, and a fresh worker takes the next one.
* **One notebook cannot harm another's grading**: each is graded in its own
  kernel (or sandbox) by ``grade_notebook``, and a worker that dies takes
  only its current notebook with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from course_lib.grading.feedback import format_points
from course_lib.grading.gradebook import Graded, display_name, from_record, to_record
from course_lib.grading.grader import NotebookResult, QuestionGrade, find_lab, read_notebook
from course_lib.grading.questions import questions_for_lab
from course_lib.grading.submissions import Submission

JOURNAL_NAME = "grading-journal.jsonl"
DEFAULT_BUDGET = 300.0  # seconds one notebook may take, all its runs included
BUDGET_GRACE = 20.0  # seconds a grader that keeps the budget itself gets to wrap up
STOPPED_SANDBOX = "unknown (grading this notebook was stopped)"
_COURSE_LIB = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Options:
    """What a notebook's grade depends on besides the notebook itself."""

    hidden: Path | None = None
    timeout: float = 30.0  # seconds per cell
    test_timeout: float = 3.0  # seconds per test
    budget: float | None = DEFAULT_BUDGET  # seconds per notebook; None: no limit


@dataclass
class Outcome:
    """A batch's results, in submission order, and what was left undone."""

    graded: list[Graded] = field(default_factory=list)
    reused: int = 0  # results taken from the journal
    left: list[Submission] = field(default_factory=list)  # not graded: the batch was interrupted

    @property
    def interrupted(self) -> bool:
        return bool(self.left)


class WorkerError(RuntimeError):
    """The grading workers cannot start (the course does not import, say)."""


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


# --- the journal ---------------------------------------------------------------


class Journal:
    """Graded notebooks, one JSON line each, appended (and flushed) as they finish.

    A line cut short by a crash is ignored when the journal is read back.
    """

    def __init__(self, path: Path, fresh: bool = False) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if fresh:
            path.unlink(missing_ok=True)
        elif path.is_file():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[str(entry["key"])] = entry
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line, or not ours

    def result(self, key: str) -> NotebookResult | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        try:
            return from_record(entry["result"])
        except (KeyError, TypeError, ValueError):
            return None

    def add(self, key: str, submission: Submission, result: NotebookResult, seconds: float) -> None:
        entry = {
            "key": key,
            "notebook": str(submission.path),
            "learner": submission.learner,
            "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            "result": to_record(result),
        }
        self.entries[key] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
            file.flush()
            os.fsync(file.fileno())


def batch_fingerprint(options: Options) -> str:
    """A hash of everything besides the notebook that a grade depends on."""
    digest = hashlib.sha256()
    for path in sorted(_COURSE_LIB.rglob("*.py")):  # the grader, the banks, the library
        digest.update(str(path.relative_to(_COURSE_LIB)).encode() + b"\0" + path.read_bytes() + b"\0")
    if options.hidden is not None and Path(options.hidden).is_dir():
        for path in sorted(Path(options.hidden).rglob("*.py")):
            digest.update(b"hidden\0" + path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    settings = [options.timeout, options.test_timeout, options.budget]
    digest.update(json.dumps(settings).encode())
    return digest.hexdigest()


def notebook_key(path: Path, fingerprint: str) -> str:
    """The journal key of a notebook: where it is, what it holds, and how it is graded."""
    digest = hashlib.sha256(fingerprint.encode() + b"\0" + str(path.resolve()).encode() + b"\0")
    try:
        # Only a regular file is read: a named pipe posing as a notebook would block forever.
        digest.update(path.read_bytes() if path.is_file() else b"not a regular file")
    except OSError as error:
        digest.update(f"unreadable: {error}".encode())
    return digest.hexdigest()


# --- the workers -----------------------------------------------------------------


class _Worker:
    """One ``course_lib.grading.worker`` process and the notebook it is grading."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "course_lib.grading.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            # Its own session: Ctrl-C in the terminal reaches the batch only.
            start_new_session=True,
        )
        self.ready = False
        self.keeps_budget = False  # grade_notebook stops at the budget itself
        self.task: int | None = None  # index of the submission being graded
        self.started = 0.0

    @property
    def stdout(self) -> IO[str]:
        assert self.process.stdout is not None
        return self.process.stdout

    def send(self, index: int, submission: Submission, options: Options, hide: Sequence[Path]) -> None:
        task = {
            "path": str(submission.path),
            "hidden": str(options.hidden) if options.hidden is not None else None,
            "timeout": options.timeout,
            "test_timeout": options.test_timeout,
            "budget": options.budget,
            "hide": [str(folder) for folder in hide],
        }
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(task) + "\n")
        self.process.stdin.flush()
        self.task, self.started = index, time.monotonic()

    def deadline(self, budget: float | None) -> float | None:
        """When the notebook being graded has overrun its budget (monotonic seconds)."""
        if budget is None or self.task is None:
            return None
        return self.started + budget + (BUDGET_GRACE if self.keeps_budget else 0.0)

    def receive(self) -> dict[str, Any] | None:
        """The next reply, or None when the worker has died."""
        line = self.stdout.readline()
        if not line.endswith("\n"):
            return None
        try:
            reply = json.loads(line)
        except ValueError:
            return None
        return reply if isinstance(reply, dict) else None

    def kill(self) -> None:
        """Stop the worker and every process it started (its kernels, its sandboxes)."""
        kill_tree(self.process.pid)
        self.process.wait()
        self._close()

    def close(self, timeout: float = 10.0) -> None:
        """Let the worker finish (its stdin ends), or kill it."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self._close()

    def _close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; elsewhere an empty list)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields_after_name = stat.read_text().rpartition(")")[2].split()
            children.setdefault(int(fields_after_name[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    found: list[int] = []
    queue = deque(children.get(pid, []))
    while queue:
        child = queue.popleft()
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants, found before any of them dies."""
    for target in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)


# --- the batch -----------------------------------------------------------------


@dataclass
class _Stop:
    requested: bool = False


def grade_batch(
    submissions: Sequence[Submission],
    options: Options,
    jobs: int,
    journal: Journal | None = None,
    progress: Callable[[str], None] | None = None,
    hide: Sequence[Path] = (),
) -> Outcome:
    """Grade every submission, ``jobs`` at a time, reusing and extending ``journal``.

    ``hide``: folders the notebooks' sandboxes must not see (the output folder).
    """
    say = progress or (lambda message: None)
    total = len(submissions)
    fingerprint = batch_fingerprint(options)
    keys = [notebook_key(submission.path, fingerprint) for submission in submissions]
    results: dict[int, NotebookResult] = {}
    for index, key in enumerate(keys):
        cached = journal.result(key) if journal is not None else None
        if cached is not None:
            results[index] = cached
    outcome = Outcome(reused=len(results))
    todo = deque(index for index in range(total) if index not in results)
    if outcome.reused:
        where = journal.path if journal is not None else ""
        say(f"resuming: {outcome.reused}/{total} already graded (journal {display_name(Path(where))})")
    if todo:
        jobs = max(1, min(jobs, len(todo)))
        say(f"grading {len(todo)} notebook{'s' if len(todo) != 1 else ''} with {jobs} worker(s)")

    def finished(index: int, result: NotebookResult, seconds: float) -> None:
        results[index] = result
        if journal is not None:
            journal.add(keys[index], submissions[index], result, seconds)
        submission = submissions[index]
        score = format_points(result.score)
        if result.grades:
            score += f"/{format_points(result.max_score)}"
        note = "" if result.status == "ok" else f" ({result.status[:80]})"
        say(
            f"graded {len(results)}/{total} {display_name(submission.path)} [{submission.learner}]: "
            f"{score} in {seconds:.1f} s{note}"
        )

    stop = _Stop()
    with _interrupt_handler(stop, say):
        try:
            _run_workers(submissions, options, jobs, todo, stop, finished, hide)
        except KeyboardInterrupt:
            say("abandoned the notebooks in progress")
    outcome.graded = [Graded(submissions[i], results[i]) for i in range(total) if i in results]
    outcome.left = [submissions[i] for i in range(total) if i not in results]
    return outcome


def _run_workers(
    submissions: Sequence[Submission],
    options: Options,
    jobs: int,
    todo: deque[int],
    stop: _Stop,
    finished: Callable[[int, NotebookResult, float], None],
    hide: Sequence[Path],
) -> None:
    workers: list[_Worker] = []
    try:
        while todo or any(worker.task is not None for worker in workers):
            if stop.requested:
                todo.clear()
            while todo and len(workers) < jobs:
                workers.append(_Worker())
            for worker in workers:
                if worker.ready and worker.task is None and todo:
                    index = todo.popleft()
                    worker.send(index, submissions[index], options, hide)
            _wait(workers, options, submissions, finished)
    finally:
        for worker in workers:
            if worker.task is not None:
                worker.kill()
            else:
                worker.close()


def _wait(
    workers: list[_Worker],
    options: Options,
    submissions: Sequence[Submission],
    finished: Callable[[int, NotebookResult, float], None],
) -> None:
    """Wait up to half a second for replies; handle replies, deaths and overruns."""
    now = time.monotonic()
    wait = 0.5
    for worker in workers:
        deadline = worker.deadline(options.budget)
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - now))
    readable, _, _ = select.select([worker.stdout for worker in workers], [], [], wait)
    for worker in list(workers):
        if worker.stdout in readable:
            reply = worker.receive()
            if reply is None:  # the worker died
                code = worker.process.wait()
                worker.close()
                workers.remove(worker)
                if not worker.ready:
                    raise WorkerError(
                        f"a grading worker ({sys.executable} -m course_lib.grading.worker) exited with "
                        f"status {code} before it was ready; its messages are above"
                    )
                if worker.task is not None:
                    index, seconds = worker.task, time.monotonic() - worker.started
                    reason = f"the grader's process died while grading this notebook (exit status {code})"
                    finished(index, stopped_result(submissions[index], reason), seconds)
            elif reply.get("ready"):
                worker.ready, worker.keeps_budget = True, bool(reply.get("budget"))
            elif worker.task is not None:
                index, seconds = worker.task, time.monotonic() - worker.started
                worker.task = None
                if "record" in reply:
                    result = from_record(reply["record"])
                else:
                    result = stopped_result(submissions[index], f"grader error: {reply.get('error')}")
                finished(index, result, seconds)
    now = time.monotonic()
    for worker in list(workers):
        deadline = worker.deadline(options.budget)
        if deadline is not None and now >= deadline and worker.task is not None:
            index = worker.task
            workers.remove(worker)
            worker.kill()
            budget = format_points(options.budget or 0)
            reason = f"grading took longer than the {budget} s budget for one notebook"
            finished(index, stopped_result(submissions[index], reason), now - worker.started)


def stopped_result(submission: Submission, reason: str) -> NotebookResult:
    """A zero for every question of the notebook's lab (when it can be told), with the reason."""
    lab, grades = None, []
    try:
        lab = find_lab(read_notebook(submission.path)) if submission.path.is_file() else None
        if lab is not None:
            for question in questions_for_lab(lab):
                points = format_points(question.points)
                output = f"{question.id} {question.title}: 0/{points} points\n  {reason}"
                grades.append(QuestionGrade(question.id, question.title, 0.0, question.points, output))
    except Exception:  # not a notebook, no bank: the message alone says what happened
        grades = []
    result = NotebookResult(submission.path, lab, grades, message=f"{reason}; it scored 0")
    # Nothing is known about a run that was cut short, the sandbox included.
    return from_record({**to_record(result), "sandbox": STOPPED_SANDBOX})


@contextlib.contextmanager
def _interrupt_handler(stop: _Stop, say: Callable[[str], None]) -> Iterator[None]:
    """First Ctrl-C: finish what is in progress, start nothing new. Second: abandon it."""

    def on_interrupt(signum: int, frame: object) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        say("stopping: the notebooks in progress finish and are kept (Ctrl-C again to abandon them)")

    try:
        previous = signal.signal(signal.SIGINT, on_interrupt)
    except ValueError:  # not the main thread: no handler, Ctrl-C behaves as usual
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
