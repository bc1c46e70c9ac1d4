# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Answers that return objects equal to everything, on an unanswered lab.

`__eq__` returns True, `__ne__` False, the hash is constant; subclasses of int and dict
too, in case only builtin types are let through. Today the grader compares inside the
learner's kernel with `actual == expected`, so q1-q3 pass (10/14). Results must cross to
the judge as plain data, where no learner-defined `__eq__` exists: 0.
The int and dict carry values no test expects (-1, a member nobody asked for), so a
grader that keeps the plain value still scores 0.
"""


# %%
class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __hash__(self):
        return 0

    def __repr__(self):
        return "AlwaysEqual()"


class AlwaysEqualInt(int):
    __eq__ = AlwaysEqual.__eq__
    __ne__ = AlwaysEqual.__ne__
    __hash__ = AlwaysEqual.__hash__


class AlwaysEqualDict(dict):
    __eq__ = AlwaysEqual.__eq__
    __ne__ = AlwaysEqual.__ne__
    __hash__ = AlwaysEqual.__hash__


def kafka_partition(key, num_partitions):
    return AlwaysEqualInt(-1)


def range_assign(members, num_partitions):
    return AlwaysEqualDict({"nobody": [-1]})


def lag_report(end_offsets, committed, log_start):
    return AlwaysEqual()


def consume_once(consumer, process):
    return AlwaysEqual()
