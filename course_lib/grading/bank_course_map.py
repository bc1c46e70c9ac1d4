"""The practice question of the course map (00): money as integer cents, never a float."""

from __future__ import annotations

from course_lib.grading.questions import Case, Question, register

register(
    Question(
        id="00-q1",
        title="Money to integer cents",
        answer_name="to_cents",
        points=1,
        writes=("course_lib.aggregate.cents",),
        lab="course-map",
        public=[
            Case(args=("29.99",), expected=2999),
            Case(args=("1.15",), expected=115),  # int(float("1.15") * 100) == 114
            Case(args=("0.29",), expected=29),  # int(float("0.29") * 100) == 28
            Case(args=("100",), expected=10000),
            Case(args=("1.005",), raises=ValueError),  # a third decimal is not a cent amount
        ],
    )
)
