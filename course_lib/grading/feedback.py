"""The text a learner reads about one question.

The same words appear under a ``check(...)`` cell and in the graded
report, so learners recognise them. The text is deterministic -- no
timings, addresses or random ids -- because nbval compares notebook
outputs byte for byte. ``check`` never shows points: hidden tests may
still count at grading time ("public tests: 5/5 -- hidden tests will also
count"), and a hidden case may weigh more than a public one.
"""

from __future__ import annotations

from course_lib.grading.runner import CaseResult, QuestionResult

HIDDEN_COUNT = "hidden tests will also count"
MAX_FAILURES_SHOWN = 5
FAIL = "✗"


def format_points(value: float) -> str:
    """3 -> '3', 1.8 -> '1.8', 2/3 -> '0.67'."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def render(result: QuestionResult, graded: bool = False) -> str:
    """Describe a question's result.

    ``graded=False`` is what ``check`` shows: public tests only, no points,
    and that hidden tests will also count. ``graded=True`` is the grade
    report: hidden tests are counted and listed as passed/failed, never with
    their inputs.
    """
    lines = [summary_line(result, graded)]
    if result.problem:
        lines.append(f"  {result.problem}")
    else:
        failures = [
            (f"test {number}", case) for number, case in enumerate(result.public, 1) if not case.passed
        ]
        for label, case in failures[:MAX_FAILURES_SHOWN]:
            lines.extend(_describe_failure(label, case))
        if len(failures) > MAX_FAILURES_SHOWN:
            lines.append(f"  ... and {len(failures) - MAX_FAILURES_SHOWN} more failing public tests")
        for number, case in enumerate(result.hidden, 1):
            if not case.passed:
                lines.append(f"  {FAIL} hidden test {number}: failed")
    return "\n".join(lines)


def summary_line(result: QuestionResult, graded: bool = True) -> str:
    question = result.question
    public_passed = sum(case.passed for case in result.public)
    if not graded:
        counts = f"public tests: {public_passed}/{len(result.public)}"
        return f"{question.id} {question.title}: {counts} — {HIDDEN_COUNT}"
    counts = f"public tests: {public_passed}/{len(result.public)} passed"
    if result.hidden:
        hidden_passed = sum(case.passed for case in result.hidden)
        counts += f", hidden tests: {hidden_passed}/{len(result.hidden)} passed"
    points = f"{format_points(result.score)}/{format_points(question.points)} points"
    return f"{question.id} {question.title}: {counts} ({points})"


def _describe_failure(label: str, case: CaseResult) -> list[str]:
    lines = [
        f"  {FAIL} {label}: input: {case.shown_input}",
        f"      expected: {case.expected}",
        f"      actual:   {case.actual}",
    ]
    if case.printed:
        first, *rest = case.printed.splitlines()
        lines.append(f"      printed:  {first}")
        lines.extend(f"                {line}" for line in rest)
    return lines
