"""A question bank for the grader's own tests (lab "lab-demo").

Tests make it importable with PYTHONPATH=tests/grading_fixtures and
COURSE_GRADING_BANKS=lab-demo=bank_demo, so kernels started by the
grader find it too.
"""

from course_lib.grading import Case, Question, register

LAB = "lab-demo"


def count_twice(counter_class):
    """Drive a Counter class answer: two increments, then read the value."""
    counter = counter_class()
    counter.increment()
    counter.increment()
    return counter.value


def count_n(times, counter_class):
    """A driver with a data argument: hidden tests use functools.partial(count_n, 5)."""
    counter = counter_class()
    for _ in range(times):
        counter.increment()
    return counter.value


def reference_add(a, b):
    """The "library's" addition: demo-q1 asks the learner to write it (writes=)."""
    return a + b


register(
    Question(
        id="demo-q1",
        title="Add two numbers",
        answer_name="add",
        points=3,
        lab=LAB,
        writes=("bank_demo.reference_add",),
        public=[
            Case(args=(1, 2), expected=reference_add(1, 2)),
            Case(args=(-1, 1), expected=0),
            Case(args=(0, 0), expected=0),
            Case(args=(2.5, 0.5), expected=3.0),
            Case(args=("a", "b"), expected="ab"),
        ],
    )
)

register(
    Question(
        id="demo-q2",
        title="Is it even?",
        answer_name="is_even",
        points=2,
        lab=LAB,
        public=[
            Case(args=(0,), expected=True),
            Case(args=(1,), expected=False),
            Case(args=(2,), expected=True),
            Case(args=(7,), expected=False),
            Case(args=(-4,), expected=True),
        ],
    )
)

register(
    Question(
        id="demo-q3",
        title="Parse a port number",
        answer_name="parse_port",
        points=2,
        lab=LAB,
        public=[
            Case(args=("80",), expected=80),
            Case(args=("65535",), expected=65535),
            Case(args=("http",), raises=ValueError, match="port"),
            Case(args=("70000",), raises=ValueError, match="range"),
        ],
    )
)

register(
    Question(
        id="demo-q4",
        title="A counter",
        answer_name="Counter",
        points=2,
        lab=LAB,
        public=[
            Case(call=lambda Counter: Counter().value, show="Counter().value", expected=0),
            Case(call=count_twice, show="c = Counter(); c.increment(); c.increment(); c.value", expected=2),
        ],
    )
)
