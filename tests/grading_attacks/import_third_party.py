# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""A third-party equivalent as the answer, on an unanswered lab: kafka-python's murmur2.

`kafka.partitioner.default.murmur2` is what the course's partitioner is checked against,
so `(murmur2(key) & 0x7FFFFFFF) % n` passes q1 today (4/14). The question names it among
the parts the learner must write, so it refuses too: 0, with the note.
"""

# %%
from kafka.partitioner.default import murmur2


def kafka_partition(key, num_partitions):
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions
