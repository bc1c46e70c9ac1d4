"""The grader's half inside the sandbox: run a notebook's cells, then call its answers.

``python -m course_lib.grading.sandbox_runner --in FD --out FD ...`` is what
``sandbox.Sandbox`` starts. In order, before any learner code:

1. set its resource limits (address space, CPU seconds, file size,
   processes) -- they hold for everything it starts;
2. point file descriptors 1 and 2 at /dev/null, so nothing the notebook
   prints can reach the judge except through the protocol below;
3. read the judge's ``start`` message, import the lab's question bank
   (public code: the drivers of ``Case(call=...)`` live there), make
   ``check()`` a no-op, and replace the library parts the questions being
   graded ask the learner to write with refusing stubs (``references``).

Then it serves the judge's requests, one frame each way (``channel``):
``cell`` runs one code cell with IPython's ``InteractiveShell`` (magics and
``display`` work as in Jupyter) under a time limit; ``settle`` ends the cell
phase (killing any process the cells left behind) and says which answers
are defined; ``case`` calls an answer -- or a public driver with it -- for
one case and returns the result as plain data. Nothing here is trusted: the
judge treats every reply as a claim, and compares it with expected values
this process never receives.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import course_lib.grading.channel as channel
from course_lib.grading.check import while_grading
from course_lib.grading.questions import Case, get, questions_for_lab
from course_lib.grading.references import install, take_hits
from course_lib.grading.runner import (
    PRINTED_CHARS,
    LimitedText,
    TestTimeout,
    answer_problem,
    call_answer,
    time_limit,
)


def _apply_limits(args: argparse.Namespace) -> None:
    limits = [
        (resource.RLIMIT_AS, args.memory, args.memory),
        (resource.RLIMIT_CPU, args.cpu, args.cpu + 2),  # SIGXCPU first, SIGKILL 2 s later
        (resource.RLIMIT_FSIZE, args.file_size, args.file_size),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if args.processes > 0:
        limits.append((resource.RLIMIT_NPROC, args.processes, args.processes))
    for kind, soft, hard in limits:
        if soft > 0:
            _lower(kind, soft, hard)


def _lower(kind: int, soft: int, hard: int) -> None:
    """Set a limit, never above what is already allowed (raising needs privileges).

    A system that does not support a limit (macOS and RLIMIT_AS) keeps running without it.
    """
    try:
        current_soft, current_hard = resource.getrlimit(kind)
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
            soft = min(soft, hard)
        resource.setrlimit(kind, (soft, hard))
    except (ValueError, OSError):
        pass


class Runner:
    def __init__(self, in_fd: int, out_fd: int, sandboxed: bool) -> None:
        self.in_fd, self.out_fd = in_fd, out_fd
        self.sandboxed = sandboxed
        self.pid = os.getpid()
        self.shell: Any = None

    def reply(self, message: dict[str, Any]) -> None:
        if os.getpid() != self.pid:
            os._exit(0)  # a child the notebook forked must not speak for the runner
        try:
            channel.send(self.out_fd, message)
        except channel.ChannelClosed:
            os._exit(0)

    def serve(self) -> None:
        handlers = {"start": self.start, "cell": self.cell, "settle": self.settle, "case": self.case}
        while True:
            try:
                message = channel.receive(self.in_fd)
            except (channel.ChannelClosed, OSError):
                return
            except Exception as error:  # e.g. a hidden case whose driver cannot be imported here
                self.reply({"op": "error", "text": f"{type(error).__name__}: {error}"[:300]})
                continue
            handler = handlers.get(message.get("op"))
            if handler is None:  # "bye"
                return
            try:
                reply = handler(message)
            except Exception as error:  # a bug of ours must not look like the notebook's crash
                reply = {"op": "error", "text": f"{type(error).__name__}: {error}"[:300]}
            self.reply(reply)

    # -- the requests -----------------------------------------------------------------

    def start(self, message: dict[str, Any]) -> dict[str, Any]:
        while_grading()
        try:
            questions_for_lab(message["lab"])  # before the stubs: banks compute with the library
        except Exception as error:
            return {"op": "ready", "error": f"{type(error).__name__}: {error}", "missing": []}
        _forget_expected_values(message["lab"])
        installed = install(message.get("writes", []))
        installed.originals.clear()  # never restored here: drop the only references to the real code
        self.shell = _make_shell()
        take_hits()
        return {"op": "ready", "error": None, "missing": installed.missing}

    def cell(self, message: dict[str, Any]) -> dict[str, Any]:
        take_hits()
        printed = LimitedText(PRINTED_CHARS)
        error: BaseException | None = None
        try:
            with time_limit(float(message["timeout"])), redirect_stdout(printed), redirect_stderr(printed):
                result = self.shell.run_cell(message["source"], store_history=False)
            error = result.error_before_exec or result.error_in_exec
        except TestTimeout as timeout:  # the alarm rang outside the cell's own code
            error = timeout
        except BaseException as other:
            error = other
        status = "ok" if error is None else "timeout" if isinstance(error, TestTimeout) else "error"
        text = "" if error is None or status == "timeout" else _error_text(error)
        return {
            "op": "cell",
            "index": message["index"],
            "status": status,
            "error": text,
            "hits": sorted(take_hits()),
        }

    def settle(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.sandboxed and os.getpid() == 2 and os.getppid() == 1:
            # Every other process in this PID namespace was started by the notebook.
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
        problems: dict[str, str | None] = {}
        for question_id in message["questions"]:
            question = get(question_id)
            if question.answer_name not in self.shell.user_ns:
                problems[question_id] = "missing"
                continue
            try:
                with time_limit(5.0):  # answer_problem may call the answer's __repr__
                    problems[question_id] = answer_problem(question, self.shell.user_ns[question.answer_name])
            except (TestTimeout, Exception):
                problems[question_id] = f"{question.answer_name} cannot be used as an answer"
        return {"op": "answers", "problems": problems}

    def case(self, message: dict[str, Any]) -> dict[str, Any]:
        question = get(message["question"])
        if message.get("public") is not None:
            case = question.public[message["public"]]
        else:
            args, kwargs, call = message["hidden"]
            case = Case(args=args, kwargs=kwargs, call=call, show="(hidden)" if call is not None else None)
        answer = self.shell.user_ns.get(question.answer_name)
        outcome = call_answer(answer, case, float(message["timeout"]), catch_all=True)
        reply = outcome.to_message()
        try:
            size = len(channel.dumps(reply))
        except Exception as error:  # plain data always pickles; this is a safety net
            reply.update(kind="not plain", value=None, description=f"a result that cannot be sent ({error})")
        else:
            if size > channel.MAX_FRAME - 4096:
                description = f"a result of {size:,} bytes (the grader accepts up to {channel.MAX_FRAME:,})"
                reply.update(kind="not plain", value=None, description=description)
        return {"op": "case", "outcome": reply}


def _forget_expected_values(lab: str) -> None:
    """Drop the public cases' expected values and comparisons: this side never needs them.

    The bank was imported for its drivers; its cases still hold what the judge
    expects. Scanning memory or frames for them then finds nothing. (They stay
    *public*: printed by check() and written in the bank's source, so an answer that
    memorises them earns the public share at most; hidden cases decide the rest.)
    """
    for question in questions_for_lab(lab):
        for case in question.public:
            case.expected = None
            case.compare = None


def _make_shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class QuietShell(InteractiveShell):
        def showtraceback(self, *args: Any, **kwargs: Any) -> None:
            """Errors are reported to the judge, not printed."""

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "NoColor"
    return QuietShell.instance(config=config)


def _error_text(error: BaseException) -> str:
    """``ename: evalue`` as a notebook shows it, without IPython's cell file names."""
    try:
        value = str(error)
    except Exception:
        value = ""
    value = re.sub(r"\((?:<ipython-input-[^()]*>|[^()]*\.py), (line \d+)\)", r"(\1)", value)
    text = type(error).__name__ + (f": {value}" if value else "")
    return text if len(text) <= 200 else text[:196] + " ..."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading.sandbox_runner")
    parser.add_argument("--in", dest="in_fd", type=int, required=True)
    parser.add_argument("--out", dest="out_fd", type=int, required=True)
    parser.add_argument("--memory", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--file-size", type=int, default=0)
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--sandboxed", action="store_true")
    args = parser.parse_args(argv)
    _apply_limits(args)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    runner = Runner(args.in_fd, args.out_fd, args.sandboxed)
    runner.serve()
    sys.stdout.flush()
    os._exit(0)  # skip whatever atexit handlers the notebook registered


if __name__ == "__main__":
    sys.exit(main())
