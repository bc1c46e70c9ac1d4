"""Grades for instructors: a printed table, Gradescope JSON and a CSV gradebook.

JSON follows Gradescope's ``results.json``::

    {"score": 5.0, "max_score": 9.0, "output": "...",
     "tests": [{"name": "10.1-q1 ...", "score": 1.8, "max_score": 3.0,
                "status": "failed", "output": "...", "visibility": "visible"}],
     "extra_data": {"notebook": "...", "learner": "...", "sandbox": "bubblewrap"}}

One notebook gives exactly that shape (so the grader can run as a
Gradescope autograder); several give ``{"sandbox": ..., "submissions":
[{"notebook": "alice/lab.ipynb", "learner": "alice", "sandbox": ...,
...that shape...}, ...]}``. ``max_score`` is left out when a file could
not be matched to a lab (then it is unknown).

Every output says whether the notebooks ran in the sandbox: a line in the
table and in each ``output``, a ``sandbox`` field in the JSON, a column in
the CSV.

``to_record``/``from_record`` turn a result into plain JSON data and back,
for the batch's journal and its worker processes.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from course_lib.grading.feedback import format_points
from course_lib.grading.grader import NotebookResult, QuestionGrade
from course_lib.grading.questions import shorten
from course_lib.grading.submissions import Submission

# What a result says when the grader that made it does not report a sandbox.
SANDBOX_UNKNOWN = "not sandboxed: this grader runs notebooks in ordinary kernels"


@dataclass
class Graded:
    """A submission and its result, as the gradebook lists them."""

    submission: Submission
    result: NotebookResult


def sandbox_of(result: NotebookResult) -> str:
    """ "bubblewrap", or "not sandboxed: <why>"."""
    return str(getattr(result, "sandbox", "") or SANDBOX_UNKNOWN)


def sandbox_line(value: str) -> str:
    """The one line a report gives the sandbox."""
    return value if value.startswith("not sandboxed") else f"sandbox: {value}"


def sandbox_summary(entries: Sequence[Graded | NotebookResult]) -> str:
    """One line for a batch: the sandbox every notebook ran in, or each kind with its count."""
    counts = Counter(sandbox_of(entry.result) for entry in _entries(entries))
    if len(counts) == 1:
        (value, count), *_ = counts.items()
        return f"{sandbox_line(value)} ({count} notebook{'s' if count != 1 else ''})"
    return "; ".join(f"{sandbox_line(value)} ({count})" for value, count in counts.most_common())


def display_name(path: Path) -> str:
    """The path relative to the current folder when it is inside it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def to_gradescope(result: NotebookResult) -> dict[str, Any]:
    data: dict[str, Any] = {"score": round(result.score, 4)}
    if result.grades:
        data["max_score"] = result.max_score
    lines = [result.message] if result.message else []
    if result.grades:
        lines.insert(
            0, f"{result.lab}: {format_points(result.score)}/{format_points(result.max_score)} points"
        )
    lines += result.notes
    lines.append(sandbox_line(sandbox_of(result)))
    data["output"] = "\n".join(lines)
    data["tests"] = [
        {
            "name": f"{grade.id} {grade.title}",
            "score": round(grade.score, 4),
            "max_score": grade.max_score,
            "status": "passed" if grade.score >= grade.max_score else "failed",
            "output": grade.output,
            "visibility": "visible",
        }
        for grade in result.grades
    ]
    return data


def gradescope_json(entries: Sequence[Graded | NotebookResult]) -> dict[str, Any]:
    graded = _entries(entries)
    if len(graded) == 1:
        entry = graded[0]
        return {**to_gradescope(entry.result), "extra_data": _identity(entry)}
    return {
        "sandbox": sandbox_summary(graded),
        "submissions": [{**_identity(entry), **to_gradescope(entry.result)} for entry in graded],
    }


def write_json(entries: Sequence[Graded | NotebookResult], path: str | Path) -> None:
    text = json.dumps(gradescope_json(entries), indent=2, ensure_ascii=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def question_columns(entries: Sequence[Graded | NotebookResult]) -> list[str]:
    """Question ids in first-seen order (a batch may mix labs)."""
    columns: dict[str, None] = {}
    for entry in _entries(entries):
        columns.update((grade.id, None) for grade in entry.result.grades)
    return list(columns)


def write_csv(entries: Sequence[Graded | NotebookResult], path: str | Path) -> None:
    """One row per notebook: learner, name, notebook, a column per question, total, max, status, sandbox.

    Scores are rounded to two decimals; an empty cell means the notebook has
    no such question (another lab, or it could not be read).
    """
    graded = _entries(entries)
    columns = question_columns(graded)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["learner", "name", "notebook", *columns, "total", "max", "status", "sandbox"])
        for entry in graded:
            result = entry.result
            scores = {grade.id: format_points(grade.score) for grade in result.grades}
            max_score = format_points(result.max_score) if result.grades else ""
            row = [entry.submission.learner, entry.submission.name, display_name(result.path)]
            row += [scores.get(column, "") for column in columns]
            writer.writerow([*row, format_points(result.score), max_score, result.status, sandbox_of(result)])


def format_table(entries: Sequence[Graded | NotebookResult]) -> str:
    """The score table the command line prints, with the sandbox line under it."""
    graded = _entries(entries)
    columns = question_columns(graded)
    rows = [["learner", "notebook", *columns, "total", "notes"]]
    for entry in graded:
        result = entry.result
        scores = {grade.id: format_points(grade.score) for grade in result.grades}
        total = format_points(result.score)
        if result.grades:
            total += f"/{format_points(result.max_score)}"
        notes = "" if result.status == "ok" else shorten(result.status, 100)
        row = [entry.submission.learner, display_name(result.path)]
        rows.append([*row, *(scores.get(column, "") for column in columns), total, notes])
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [value.rjust(width) for value, width in zip(row[2:-1], widths[2:-1], strict=False)]
        cells.append(row[-1])
        lines.append("  ".join(cells).rstrip())
    if graded:
        lines += ["", sandbox_summary(graded)]
    return "\n".join(lines)


# --- results as plain data (the journal, the worker processes) ---------------


def to_record(result: NotebookResult) -> dict[str, Any]:
    """Every field of the result as JSON-ready data, plus its ``sandbox``."""
    data: dict[str, Any] = {}
    for item in fields(result):
        value = getattr(result, item.name)
        if item.name == "path":
            value = str(value)
        elif item.name == "grades":
            value = [{part.name: getattr(grade, part.name) for part in fields(grade)} for grade in value]
        data[item.name] = value
    data["sandbox"] = sandbox_of(result)
    return data


def from_record(data: dict[str, Any]) -> NotebookResult:
    """The result ``to_record`` described (fields this version does not know become attributes)."""
    known = {item.name for item in fields(NotebookResult)}
    grade_fields = {item.name for item in fields(QuestionGrade)}
    values = {key: value for key, value in data.items() if key in known}
    values["path"] = Path(values["path"])
    values["grades"] = [
        QuestionGrade(**{key: value for key, value in grade.items() if key in grade_fields})
        for grade in values.get("grades", [])
    ]
    result = NotebookResult(**values)
    for key, value in data.items():
        if key not in known:
            try:
                setattr(result, key, value)  # e.g. ``sandbox`` from a grader that reports one
            except AttributeError:
                pass  # a frozen or slotted result: the field is simply not carried over
    return result


def _identity(entry: Graded) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "notebook": display_name(entry.result.path),
        "learner": entry.submission.learner,
    }
    if entry.submission.name:
        identity["name"] = entry.submission.name
    identity["sandbox"] = sandbox_of(entry.result)
    return identity


def _entries(entries: Sequence[Graded | NotebookResult]) -> list[Graded]:
    """Bare results (older callers) are listed under their file name as the learner."""
    return [
        entry if isinstance(entry, Graded) else Graded(Submission(entry.path, Path(entry.path).stem), entry)
        for entry in entries
    ]
