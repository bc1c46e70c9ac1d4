# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""The course's own implementation as the answer, on an unanswered lab.

`from course_lib.log import partition_for, assign_range` -- the reference the bank
computes its expected values with -- passes q1 and q2 today (7/14). Item 3 of the issue:
while a question runs, the library parts it asks the learner to write refuse ("this
question asks you to write ... yourself"), aliases included, so this scores 0 with that
note.
"""

# %%
from course_lib.log import assign_range, partition_for

kafka_partition = partition_for


def range_assign(members, num_partitions):
    assignment = assign_range({member: ["t"] for member in members}, {"t": num_partitions})
    return {member: [tp.partition for tp in tps] for member, tps in assignment.items()}
