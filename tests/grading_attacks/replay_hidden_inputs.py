# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""Remember the inputs hidden tests call the answers with, and replay them where they are shown.

Hidden inputs must reach the answer (it has to be called with them), so an answer can
record every input that is not a public one (the public cases are in the course's bank)
in memory and in files (its folder, /tmp), and
- later answers return what was recorded, so a *public* test's "actual" value shows it;
- on the first hidden input, when nothing was recorded before, `kafka_partition` kills
  its own process, so that the grader runs the notebook again, and the first cell below
  finds the files and raises an error carrying them (cell errors reach the notes).
On an unanswered lab. Nothing from a hidden case may be shown anywhere: a sandbox must
start every run from the submitted notebook in a fresh folder and /tmp, and never show
what an answer did with a hidden input.
"""

# %%
import os
from pathlib import Path

RECORDS = [Path("course-attack-replay.txt"), Path("/tmp/course-attack-replay.txt")]
replayed = ""
for record in RECORDS:
    try:
        replayed += record.read_text()
    except OSError:
        pass
if replayed:
    leak(replayed)
    raise_leaked()

# %%
from course_lib.grading.questions import get

PUBLIC = {
    question_id: {repr(case.args) for case in get(question_id).public}
    for question_id in ("10.4-q1", "10.4-q2", "10.4-q3")
}
SEEN = []


def remember(question_id, args):
    text = repr(args)
    if text in PUBLIC[question_id]:
        return False
    SEEN.append(text)
    for record in RECORDS:
        try:
            with open(record, "a") as file:
                file.write(text + "\n")
        except OSError:
            pass
    return True


def replay():
    return " ".join(SEEN) or replayed or "nothing yet"


def kafka_partition(key, num_partitions):
    if remember("10.4-q1", (key, num_partitions)) and not replayed:
        os._exit(1)
    return replay()


def range_assign(members, num_partitions):
    remember("10.4-q2", (members, num_partitions))
    print(replay())
    return replay()


def lag_report(end_offsets, committed, log_start):
    remember("10.4-q3", (end_offsets, committed, log_start))
    print(replay())
    return replay()


def consume_once(consumer, process):
    raise RuntimeError(replay())
