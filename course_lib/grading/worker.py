"""``python -m course_lib.grading.worker``: one of a batch's grading processes.

The batch (``course_lib.grading.batch``) starts a few of these and hands each
one notebook at a time. A worker is a separate process so that the batch can
stop it -- and everything it started -- when a notebook overruns its time
budget, and so that whatever goes wrong while one notebook is graded (the
grader running out of memory, say) costs that notebook only.

The protocol is JSON lines. The batch writes tasks on the worker's stdin::

    {"path": "submissions/alice/lab.ipynb", "hidden": null, "timeout": 30, "test_timeout": 3,
     "budget": 300, "hide": ["build/grades"]}

and the worker answers each on its stdout, after one ``{"ready": true, "budget": ...}``
(whether this grader stops a notebook at its budget itself)::

    {"record": {...the NotebookResult, see gradebook.to_record...}}

``budget`` and ``hide`` (folders the notebook's sandbox must not see) are
passed on to ``grade_notebook`` when it takes them.

Anything else that writes to the worker's stdout (a library's warning) is
sent to stderr instead, so it cannot corrupt the replies.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from course_lib.grading.gradebook import to_record
from course_lib.grading.grader import grade_notebook

# Keyword arguments of grade_notebook beyond the four every version takes.
_EXTRAS = {"budget", "hide"} & set(inspect.signature(grade_notebook).parameters)


def serve(tasks: TextIO, replies: TextIO) -> None:
    """Grade each task read from ``tasks``, answering on ``replies``, until ``tasks`` ends."""
    _send(replies, {"ready": True, "budget": "budget" in _EXTRAS})
    for line in tasks:
        if not line.strip():
            continue
        task = json.loads(line)
        extras = {name: task[name] for name in _EXTRAS if task.get(name)}
        try:
            result = grade_notebook(
                Path(task["path"]),
                task.get("hidden"),
                float(task["timeout"]),
                float(task["test_timeout"]),
                **extras,
            )
            reply: dict[str, Any] = {"record": to_record(result)}
        except Exception as error:  # grade_notebook should not raise; if it does, say so
            reply = {"error": f"{type(error).__name__}: {error}"}
        _send(replies, reply)


def _send(replies: TextIO, message: dict[str, Any]) -> None:
    replies.write(json.dumps(message, ensure_ascii=False, default=str) + "\n")
    replies.flush()


def main() -> int:
    # Ctrl-C belongs to the batch, which decides what to do with notebooks in progress.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
