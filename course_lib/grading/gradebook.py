"""Grades for instructors: a printed table, Gradescope JSON and a CSV gradebook.

JSON follows Gradescope's ``results.json``::

    {"score": 5.0, "max_score": 9.0, "output": "...",
     "tests": [{"name": "10.1-q1 ...", "score": 1.8, "max_score": 3.0,
                "output": "...", "visibility": "visible"}]}

One notebook gives exactly that shape (so the grader can run as a
Gradescope autograder); several give ``{"submissions": [{"notebook":
"alice/lab.ipynb", ...that shape...}, ...]}``. ``max_score`` is left out
when a file could not be matched to a lab (then it is unknown).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from course_lib.grading.feedback import format_points
from course_lib.grading.grader import NotebookResult
from course_lib.grading.questions import shorten


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
    data["output"] = "\n".join(lines)
    data["tests"] = [
        {
            "name": f"{grade.id} {grade.title}",
            "score": round(grade.score, 4),
            "max_score": grade.max_score,
            "output": grade.output,
            "visibility": "visible",
        }
        for grade in result.grades
    ]
    return data


def gradescope_json(results: Sequence[NotebookResult]) -> dict[str, Any]:
    if len(results) == 1:
        return to_gradescope(results[0])
    return {
        "submissions": [
            {"notebook": display_name(result.path), **to_gradescope(result)} for result in results
        ]
    }


def write_json(results: Sequence[NotebookResult], path: str | Path) -> None:
    text = json.dumps(gradescope_json(results), indent=2, ensure_ascii=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def question_columns(results: Sequence[NotebookResult]) -> list[str]:
    """Question ids in first-seen order (a batch may mix labs)."""
    columns: dict[str, None] = {}
    for result in results:
        columns.update((grade.id, None) for grade in result.grades)
    return list(columns)


def write_csv(results: Sequence[NotebookResult], path: str | Path) -> None:
    """One row per notebook: notebook, a column per question, total, max, status.

    Scores are rounded to two decimals; an empty cell means the notebook has
    no such question (another lab, or it could not be read).
    """
    columns = question_columns(results)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["notebook", *columns, "total", "max", "status"])
        for result in results:
            scores = {grade.id: format_points(grade.score) for grade in result.grades}
            max_score = format_points(result.max_score) if result.grades else ""
            row = [display_name(result.path), *(scores.get(column, "") for column in columns)]
            writer.writerow([*row, format_points(result.score), max_score, result.status])


def format_table(results: Sequence[NotebookResult]) -> str:
    """The score table the command line prints."""
    columns = question_columns(results)
    rows = [["notebook", *columns, "total", "notes"]]
    for result in results:
        scores = {grade.id: format_points(grade.score) for grade in result.grades}
        total = format_points(result.score)
        if result.grades:
            total += f"/{format_points(result.max_score)}"
        notes = "" if result.status == "ok" else shorten(result.status, 100)
        rows.append(
            [display_name(result.path), *(scores.get(column, "") for column in columns), total, notes]
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [value.rjust(width) for value, width in zip(row[1:-1], widths[1:-1], strict=False)]
        cells.append(row[-1])
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
