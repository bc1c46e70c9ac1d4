"""Checking and grading the course's lab notebooks.

In a lab notebook::

    from course_lib.grading import check
    check("10.1-q1", find_problems)   # public tests only: "public tests: 5/8 — hidden tests will also count"

For instructors::

    python -m course_lib.grading submissions/ --hidden hidden/ --jobs 2 --json results.json --csv grades.csv
    python -m course_lib.grading.labgen solutions labs [--check]

Each notebook is graded in a bubblewrap sandbox (``COURSE_GRADING_SANDBOX=off``
grades without one, ``=bwrap`` refuses to); every result says which.

Modules: ``questions`` (cases, questions, the bank registry), ``runner``
(time-limited test runs), ``feedback`` (the learner's text), ``check``,
``hidden`` (instructor-only tests), ``references`` (library parts a
question asks for, refusing while it is graded), ``grader`` (grading
notebooks), ``judge`` (the trusted side: tests and comparisons),
``sandbox`` and ``sandbox_runner`` (where and how a notebook runs while
graded), ``channel`` (plain data between the two), ``gradebook`` (table,
JSON, CSV), ``batch`` and ``worker`` (a class in parallel, with a journal
that lets an interrupted run resume), ``submissions`` (LMS folder layouts
and learner ids), ``release`` (the learners' copy, banks frozen),
``autograder`` (the Gradescope zip), ``labmaker`` and ``labgen`` (labs from
solutions, and its command line).
"""

from course_lib.grading.check import CheckReport, check
from course_lib.grading.grader import NotebookResult, QuestionGrade, grade_notebook, grade_paths
from course_lib.grading.labmaker import generate_labs, make_lab
from course_lib.grading.questions import Case, Question, get, questions_for_lab, register

__all__ = [
    "Case",
    "CheckReport",
    "NotebookResult",
    "Question",
    "QuestionGrade",
    "check",
    "generate_labs",
    "get",
    "grade_notebook",
    "grade_paths",
    "make_lab",
    "questions_for_lab",
    "register",
]
