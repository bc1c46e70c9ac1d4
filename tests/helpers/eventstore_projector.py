"""A projection engine process, for tests/test_cqrs.py to SIGKILL at random moments.

    eventstore_projector.py EVENTS_DB LIST_VIEW_DB [REDIS_URL PREFIX]

Feeds a SqlListView (and, with a Redis URL, a RedisDashboard on that real Redis)
from the event store file in small batches, printing the list view's checkpoint
after each round, until every event is applied; then prints "done".
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from course_lib.backends import redis_client  # noqa: E402
from course_lib.cqrs import ProjectionEngine, RedisDashboard, SqlListView  # noqa: E402
from course_lib.eventstore import SQLiteEventStore  # noqa: E402


def main(events_db: str, view_db: str, redis_url: str | None = None, prefix: str = "") -> None:
    store = SQLiteEventStore(events_db)
    projections = [SqlListView(view_db)]
    if redis_url:
        projections.append(RedisDashboard(redis_client(redis_url), prefix=prefix))
    engine = ProjectionEngine(store, projections, batch_size=7)
    print("ready", flush=True)
    while engine.run_once():
        print(projections[0].checkpoint(), flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
