"""A process that appends to a SQLiteEventStore and prints what was acknowledged.

Spawned by tests/test_eventstore_crash.py, never imported. Two modes:

* ``crash DB SEED``: append batches of 1-5 events forever; after each commit print
  ``ack <last version> <batch number> <batch size>`` and flush. The parent kills it
  with SIGKILL at a random moment.
* ``race DB NAME N``: wait for a ``go`` line on stdin, then for expected versions
  0..N-1 try to append one event; print ``won V`` or ``lost V`` for each.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from course_lib.events import new_event  # noqa: E402
from course_lib.eventstore import ConcurrencyError, SQLiteEventStore  # noqa: E402

STREAM = "order-crash"


def crash(path: str, seed: int) -> None:
    rng = random.Random(seed)
    store = SQLiteEventStore(path)
    version = store.current_version(STREAM)
    batch_number = 0
    while True:
        batch_number += 1
        size = rng.randint(1, 5)
        tag = f"{seed}-{batch_number}"
        events = [new_event("ItemAdded", STREAM, "Order",
                            {"batch": tag, "index": i, "size": size, "padding": "x" * rng.randint(0, 4000)})
                  for i in range(size)]
        result = store.append(STREAM, events, expected_version=version)
        version = result.version
        print(f"ack {version} {tag} {size}", flush=True)  # only after the commit returned


def race(path: str, name: str, n: int) -> None:
    store = SQLiteEventStore(path)
    print("ready", flush=True)
    sys.stdin.readline()  # both processes start appending at the same moment
    for expected in range(n):
        event = new_event("ItemAdded", "order-race", "Order", {"writer": name, "expected": expected})
        try:
            store.append("order-race", [event], expected_version=expected)
            print(f"won {expected}", flush=True)
        except ConcurrencyError as error:
            assert error.expected == expected and error.actual > expected, error
            print(f"lost {expected}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "crash":
        crash(sys.argv[2], int(sys.argv[3]))
    else:
        race(sys.argv[2], sys.argv[3], int(sys.argv[4]))
