"""Re-run notebooks in place so their committed outputs are fresh (for course authors).

    python scripts/execute_notebooks.py [NOTEBOOK ...]   # default: modules/ and solutions/

Outputs are committed and nbval compares them strictly, so after changing a
notebook or the library run this, read the diff, and commit. The run uses the
embedded defaults (the service variables are unset), the way a learner without
any services sees the course, and strips timing metadata so that re-running an
unchanged notebook changes no byte.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SERVICE_VARS = ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "RABBITMQ_URL", "NATS_URL")


def execute(path: Path, timeout: int = 120) -> float:
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    elapsed = time.perf_counter() - started
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)  # widget state holds model ids that change every run
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    for var in SERVICE_VARS:
        os.environ.pop(var, None)
    paths = args.notebooks or sorted(
        p for folder in ("modules", "solutions") for p in (ROOT / folder).rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    )
    for path in paths:
        elapsed = execute(path)
        print(f"{elapsed:6.1f} s  {path.relative_to(ROOT) if path.is_absolute() else path}")
        if elapsed > 20:
            print(f"        warning: over the 20 s budget for one notebook", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
