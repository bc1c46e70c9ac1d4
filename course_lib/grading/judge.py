"""The trusted half of the grader: it holds the tests and never runs learner code.

For one notebook the judge starts a sandbox (``sandbox``), sends it the
notebook's code cells one by one, then -- for every case of every question
-- the answer's name and the case's *inputs* (a public case by its number in
the bank, a hidden one as its arguments). The sandbox replies with plain data
(``channel``): the result, or the exception raised. The judge compares that
with the expected value it never sent, so an answer cannot see what it is
compared with, cannot return an object that equals everything, and cannot
reach the judge's memory, files or processes.

Runs. Questions that name library parts they ask the learner to write
(``Question.writes``) must be graded with those parts refusing, from before
the first cell on. The first run installs the stubs of *every* such question
and grades all questions; the sandbox reports which stubs each cell and case
ran into. A question that ran into a stub it does not own -- a driver that
uses the library, a cell that does -- is graded again in a run with only its
own stubs (questions without ``writes``: one shared run without stubs). Most
notebooks need one run.

Order and text. In each run every public case goes before any hidden case,
and the learner-facing text (cell errors, what an answer printed or raised)
is taken only from public cases: once hidden inputs are inside a sandbox,
only pass/fail leaves it. Every run starts from a fresh copy of the notebook.

Failures. A cell that kills the sandbox or ignores its time limit is skipped
and the run starts again without it; an answer that does the same while
tested scores 0 and the run starts again for the other questions; after a
case times out, the rest of that question's cases fail without running.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import course_lib.grading.channel as channel
from course_lib.grading.feedback import format_points, render
from course_lib.grading.hidden import sandbox_inputs
from course_lib.grading.questions import BANKS_ENV_VAR, Case, Question, banks
from course_lib.grading.runner import (
    UNRUNNABLE,
    CaseResult,
    Outcome,
    finish,
    judge_outcome,
    not_run,
    unanswerable,
)
from course_lib.grading.sandbox import Launch, Sandbox, SandboxPolicy, module_path

MAX_RUNS = 3  # runs of one group lost to cells that crash or hang, before giving up
START_TIMEOUT = 60.0  # seconds for the sandbox to start and import the bank
GRACE = 3.0  # seconds past a cell's or case's own limit before the judge stops waiting


@dataclass
class QuestionGrade:
    """One question's grade for one notebook, as the gradebook reports it."""

    id: str
    title: str
    score: float
    max_score: float
    output: str


@dataclass
class Verdict:
    """What the judge found for one notebook."""

    grades: list[QuestionGrade]
    notes: list[str] = field(default_factory=list)
    message: str = ""
    runs: int = 0  # sandboxes started
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went


@dataclass
class _Plan:
    """One question's cases and what is known about them so far."""

    question: Question
    hidden: list[Case]
    hidden_inputs: list[tuple[tuple, dict[str, Any], Any]]
    public_results: list[CaseResult | None]
    hidden_results: list[CaseResult | None]
    problem: str | None = None  # cannot be called at all (not defined, not callable)
    stuck: str | None = None  # crashed or hung the sandbox while tested: scores 0
    timed_out: bool = False
    done: bool = False  # graded in a run whose stubs it accepts

    def reset(self) -> None:
        """Forget this run's results (graded again elsewhere)."""
        self.public_results = [None] * len(self.public_results)
        self.hidden_results = [None] * len(self.hidden_results)
        self.problem, self.timed_out = None, False


class _Retry(Exception):
    """This run ended early; start a new sandbox for what is left.

    ``cell``: a cell was to blame (it is skipped from now on); otherwise the
    question being tested was, and it scores 0.
    """

    def __init__(self, reason: str, cell: bool) -> None:
        super().__init__(reason)
        self.reason, self.cell = reason, cell


class _OutOfTime(Exception):
    """The notebook's time budget ran out."""


@dataclass
class _Group:
    stubs: tuple[str, ...]
    question_ids: list[str]
    failed_runs: int = 0


class Judge:
    def __init__(
        self,
        notebook_name: str,
        notebook_bytes: bytes,
        cells: Sequence[tuple[int, str]],
        lab: str,
        questions: Sequence[Question],
        hidden: dict[str, list[Case]],
        cell_timeout: float,
        test_timeout: float,
        sandboxed: bool,
        policy: SandboxPolicy | None = None,
        budget: float | None = None,
        hide: Sequence[Path] = (),
    ) -> None:
        self.notebook_name, self.notebook_bytes = notebook_name, notebook_bytes
        self.cells = list(cells)
        self.lab = lab
        self.questions = list(questions)
        self.cell_timeout, self.test_timeout = cell_timeout, test_timeout
        self.started = time.monotonic()
        self.budget_deadline = self.started + budget if budget else None
        self.budget = budget
        self.launch = Launch(
            policy=policy or SandboxPolicy(),
            sandboxed=sandboxed,
            extra_modules=_extra_modules(lab, hidden),
            hide=list(hide),
            env=_passed_env(),
        )
        self.plans = {
            question.id: _Plan(
                question,
                hidden.get(question.id, []),
                [sandbox_inputs(case) for case in hidden.get(question.id, [])],
                [None] * len(question.public),
                [None] * len(hidden.get(question.id, [])),
            )
            for question in self.questions
        }
        self.skipped_cells: dict[int, str] = {}
        self.notes: list[str] | None = None
        self.notes_from_stubs = True  # the notes came from a run with stubs in place
        self.message = ""
        self.runs = 0
        self.seconds = {"sandbox start": 0.0, "cells": 0.0, "cases": 0.0}

    # -- the whole notebook ---------------------------------------------------------------

    def judge(self) -> Verdict:
        every_stub = tuple(dict.fromkeys(name for q in self.questions for name in q.writes))
        queue = deque([_Group(every_stub, [q.id for q in self.questions])])
        try:
            while queue:
                group = queue.popleft()
                while True:
                    pending = [qid for qid in group.question_ids if self._open(self.plans[qid])]
                    if not pending:
                        break
                    moved, retry = self._run(group, pending)
                    queue.extend(self._regroup(moved))
                    group.question_ids = [qid for qid in group.question_ids if qid not in moved]
                    if retry is None:
                        break
                    if retry.cell:
                        group.failed_runs += 1
                    if group.failed_runs >= MAX_RUNS:
                        self.message = f"gave up after {MAX_RUNS} runs: {retry.reason}"
                        for qid in group.question_ids:
                            if self._open(self.plans[qid]):
                                self.plans[qid].stuck = retry.reason
                        break
        except _OutOfTime:
            reason = f"the notebook's time budget of {format_points(self.budget or 0)} s ran out"
            self.message = reason
            for plan in self.plans.values():
                if self._open(plan):
                    plan.stuck = reason
        return Verdict(self._grades(), self._notes(), self.message, self.runs, self.seconds)

    @staticmethod
    def _open(plan: _Plan) -> bool:
        return not plan.done and plan.stuck is None

    @staticmethod
    def _needs_cases(plan: _Plan) -> bool:
        return plan.problem is None and (None in plan.public_results or None in plan.hidden_results)

    def _regroup(self, moved: list[str]) -> list[_Group]:
        """Groups for questions that ran into stubs they do not own."""
        plain = [qid for qid in moved if not self.plans[qid].question.writes]
        groups = [_Group((), plain)] if plain else []
        groups += [
            _Group(self.plans[qid].question.writes, [qid]) for qid in moved if self.plans[qid].question.writes
        ]
        return groups

    # -- one run ----------------------------------------------------------------------------

    def _deadline(self, seconds: float) -> float:
        deadline = time.monotonic() + seconds
        return min(deadline, self.budget_deadline) if self.budget_deadline else deadline

    def _expired(self) -> bool:
        return self.budget_deadline is not None and time.monotonic() >= self.budget_deadline

    def _run(self, group: _Group, question_ids: list[str]) -> tuple[list[str], _Retry | None]:
        """One sandbox: cells, then cases.

        Returns the questions to grade again in another group (they ran into
        stubs they do not own), and why the run ended early, if it did.
        """
        self.runs += 1
        stubs = set(group.stubs)
        moved: list[str] = []
        retry: _Retry | None = None
        graded: list[str] = []
        try:
            with Sandbox(self.launch, self.notebook_name, self.notebook_bytes) as box:
                began = time.monotonic()
                self._start(box, group)
                self.seconds["sandbox start"] += time.monotonic() - began
                began = time.monotonic()
                cell_hits, notes, first_error = self._run_cells(box)
                self.seconds["cells"] += time.monotonic() - began
                if self.notes is None or (self.notes_from_stubs and not stubs):
                    self.notes, self.notes_from_stubs = notes, bool(stubs)
                for qid in question_ids:
                    if (cell_hits & stubs) - set(self.plans[qid].question.writes):
                        moved.append(qid)  # a cell needed a part this question does not ask for
                graded = [qid for qid in question_ids if qid not in moved]
                self._settle(box, graded, first_error)
                began = time.monotonic()
                try:
                    self._run_cases(box, graded, stubs, moved)
                finally:
                    self.seconds["cases"] += time.monotonic() - began
                with _quiet():
                    box.send({"op": "bye"}, time.monotonic() + 1)
        except _Retry as early:
            retry = early
        for qid in moved:
            self.plans[qid].reset()
        for qid in graded:
            plan = self.plans[qid]
            if qid not in moved and plan.stuck is None and not self._needs_cases(plan):
                plan.done = True
        return moved, retry

    def _start(self, box: Sandbox, group: _Group) -> None:
        try:
            box.send(
                {"op": "start", "lab": self.lab, "writes": list(group.stubs)}, self._deadline(START_TIMEOUT)
            )
            reply = box.receive(self._deadline(START_TIMEOUT))
        except (channel.ChannelClosed, channel.ChannelTimeout, channel.NotPlainData) as error:
            if self._expired():
                raise _OutOfTime() from None
            detail = box.startup_error() or type(error).__name__
            raise RuntimeError(f"the sandbox did not start ({detail})") from None
        if not isinstance(reply, dict) or reply.get("op") != "ready":
            raise RuntimeError("the sandbox did not start (unexpected reply)")
        if reply.get("error"):
            raise RuntimeError(f"the sandbox could not load the questions ({str(reply['error'])[:300]})")

    def _exchange(self, box: Sandbox, message: dict[str, Any], seconds: float) -> Any:
        box.send(message, self._deadline(seconds))
        return box.receive(self._deadline(seconds))

    def _run_cells(self, box: Sandbox) -> tuple[set[str], list[str], str | None]:
        """Run every cell not skipped; returns the stubs they hit, the notes and the first error."""
        hits: set[str] = set()
        notes: list[str] = []
        first_error: str | None = None
        for index, source in self.cells:
            if index in self.skipped_cells:
                notes.append(f"{self.skipped_cells[index]}; it was skipped")
                continue
            message = {"op": "cell", "index": index, "source": source, "timeout": self.cell_timeout}
            try:
                reply = self._exchange(box, message, self.cell_timeout + GRACE)
            except (channel.ChannelClosed, channel.NotPlainData):
                self._skip(index, f"cell {index + 1} crashed the kernel")
            except channel.ChannelTimeout:
                if self._expired():
                    raise _OutOfTime() from None
                limit = format_points(self.cell_timeout)
                self._skip(
                    index, f"cell {index + 1} kept running after being interrupted at the {limit} s limit"
                )
            if not isinstance(reply, dict) or reply.get("op") != "cell":
                self._skip(index, f"cell {index + 1} confused the grader")
            hits |= {hit for hit in reply.get("hits", []) if isinstance(hit, str)}
            status, error = reply.get("status"), str(reply.get("error", ""))[:200]
            if status == "timeout":
                limit = format_points(self.cell_timeout)
                notes.append(f"cell {index + 1} was stopped after {limit} s (an endless loop?)")
            elif status == "error":
                note = f"cell {index + 1} raised {error}"
                notes.append(note)
                first_error = first_error or note
        return hits, notes, first_error

    def _skip(self, index: int, reason: str) -> NoReturn:
        self.skipped_cells[index] = reason
        raise _Retry(reason, cell=True)

    def _settle(self, box: Sandbox, question_ids: list[str], first_error: str | None) -> None:
        """End the cell phase; questions whose answer is missing or not callable are unanswerable."""
        try:
            reply = self._exchange(box, {"op": "settle", "questions": question_ids}, 10 + GRACE)
            problems = reply["problems"]
            if not isinstance(problems, dict):
                raise TypeError
        except (channel.ChannelClosed, channel.ChannelTimeout, channel.NotPlainData, KeyError, TypeError):
            if self._expired():
                raise _OutOfTime() from None
            raise _Retry("the sandbox stopped after the last cell", cell=True) from None
        for qid in question_ids:
            plan = self.plans[qid]
            problem = problems.get(qid)
            if problem == "missing":
                name = plan.question.answer_name
                text = f"`{name}` is not defined: did the cell that defines it run without errors?"
                plan.problem = text + (f" ({first_error})" if first_error else "")
            elif isinstance(problem, str):
                plan.problem = problem[:300]

    def _run_cases(self, box: Sandbox, question_ids: list[str], stubs: set[str], moved: list[str]) -> None:
        """Every pending public case, then every pending hidden case; adds questions to move to ``moved``."""
        order = [(qid, False, i) for qid in question_ids for i in range(len(self.plans[qid].public_results))]
        order += [(qid, True, i) for qid in question_ids for i in range(len(self.plans[qid].hidden_results))]
        for qid, is_hidden, number in order:
            plan = self.plans[qid]
            results = plan.hidden_results if is_hidden else plan.public_results
            if qid in moved or plan.problem is not None or plan.stuck or results[number] is not None:
                continue
            case = plan.hidden[number] if is_hidden else plan.question.public[number]
            if plan.timed_out:
                results[number] = not_run(case)
                continue
            message: dict[str, Any] = {"op": "case", "question": qid, "timeout": self.test_timeout}
            if is_hidden:
                message.update(public=None, hidden=plan.hidden_inputs[number])
            else:
                message.update(public=number, hidden=None)
            outcome = self._call(box, plan, message)
            hits = outcome.hits & stubs
            if hits - set(plan.question.writes):
                moved.append(qid)  # it needs a part another question asks for: grade it elsewhere
                continue
            result = judge_outcome(case, outcome, self.test_timeout)
            results[number] = result
            plan.timed_out = plan.timed_out or result.timed_out

    def _call(self, box: Sandbox, plan: _Plan, message: dict[str, Any]) -> Outcome:
        try:
            reply = self._exchange(box, message, self.test_timeout + GRACE)
        except channel.ChannelClosed:
            plan.stuck = "the kernel crashed while testing this answer"
            raise _Retry(plan.stuck, cell=False) from None
        except channel.ChannelTimeout:
            if self._expired():
                raise _OutOfTime() from None
            plan.stuck = "testing this answer did not finish and could not be stopped"
            raise _Retry(plan.stuck, cell=False) from None
        except channel.FrameTooLarge:
            plan.stuck = "the answer sent more data than the grader accepts"
            raise _Retry(plan.stuck, cell=False) from None
        except channel.NotPlainData as refusal:
            return Outcome("not plain", description=f"something the grader cannot accept ({refusal})")
        if isinstance(reply, dict) and reply.get("op") == "error":
            text = f"the grader could not run this test ({str(reply.get('text'))[:200]})"
            return Outcome(UNRUNNABLE, description=text)
        try:
            if not isinstance(reply, dict) or reply.get("op") != "case":
                raise ValueError("not a case reply")
            return Outcome.from_message(reply.get("outcome"))
        except ValueError as error:
            return Outcome("not plain", description=f"a reply the grader cannot read ({error})")

    # -- results ------------------------------------------------------------------------------

    def _grades(self) -> list[QuestionGrade]:
        grades = []
        for question in self.questions:
            plan = self.plans[question.id]
            points = question.points
            if plan.stuck is not None:
                output = f"{question.id} {question.title}: 0/{format_points(points)} points\n  {plan.stuck}"
                grades.append(QuestionGrade(question.id, question.title, 0.0, points, output))
                continue
            if plan.problem is not None:
                result = unanswerable(question, plan.problem, hidden=plan.hidden)
            else:
                public = [r for r in plan.public_results if r is not None]
                hidden = [r for r in plan.hidden_results if r is not None]
                result = finish(question, public, hidden)
            score = min(max(result.score, 0.0), points)
            grades.append(
                QuestionGrade(question.id, question.title, score, points, render(result, graded=True))
            )
        return grades

    def _notes(self) -> list[str]:
        notes = list(self.notes or [])
        notes += [
            f"{qid}: {plan.stuck}; it scored 0"
            for qid, plan in self.plans.items()
            if plan.stuck is not None and plan.stuck != self.message
        ]
        return notes


class _quiet:
    """Ignore a failure to say goodbye to a sandbox that is about to be killed anyway."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *rest: object) -> bool:
        return kind is not None and issubclass(kind, (channel.ChannelClosed, channel.ChannelTimeout, OSError))  # type: ignore[arg-type]


def _extra_modules(lab: str, hidden: dict[str, list[Case]]) -> list[Path]:
    """Files or packages outside course_lib the sandbox must import: the lab's bank, hidden drivers' banks."""
    modules = {banks().get(lab, "")}
    for cases in hidden.values():
        for case in cases:
            function = case.call
            while function is not None and hasattr(function, "func"):
                function = function.func
            if function is not None:
                modules.add(getattr(function, "__module__", ""))
    paths = []
    for module in sorted(modules):
        if module and module.split(".")[0] != "course_lib":
            path = module_path(module)
            if path is not None:
                paths.append(path)
    return paths


def _passed_env() -> dict[str, str]:
    value = os.environ.get(BANKS_ENV_VAR)
    return {BANKS_ENV_VAR: value} if value else {}
