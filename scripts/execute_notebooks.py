"""Re-run notebooks in place so their committed outputs are fresh (for course authors).

    python scripts/execute_notebooks.py [NOTEBOOK ...]   # default: modules/ and solutions/

Outputs are committed and nbval compares them strictly, so after changing a
notebook or the library run this, read the diff, and commit. The run uses the
embedded defaults (the service variables are unset), the way a learner without
any services sees the course, and strips timing metadata so that re-running an
unchanged notebook changes no byte.

Widget state is kept, so GitHub and nbviewer draw each explorer's first frame
(instead of "Error displaying widget").  The kernel names every widget model
with a random id, so the ids are rewritten to stable ones (see
:func:`stable_widget_ids`): re-running an unchanged notebook still changes no byte.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SERVICE_VARS = ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "RABBITMQ_URL", "NATS_URL")

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MODEL_REF = "IPY_MODEL_"  # how one model's state names another (children, layout, style)
# Fixed namespace for the stable ids: uuid5(namespace, "<notebook stem>/<n>").
ID_NAMESPACE = uuid.UUID("6f1c2c1e-8b4e-4d55-9a0e-3c6f0b1d2a10")


def _references(value: Any) -> list[str]:
    """Model ids that a piece of widget state refers to, in the order they appear."""
    if isinstance(value, str):
        return [value[len(MODEL_REF) :]] if value.startswith(MODEL_REF) else []
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    if isinstance(value, dict):
        return [ref for key in sorted(value) for ref in _references(value[key])]
    return []


def _renamed(value: Any, new_ids: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(MODEL_REF):
        return MODEL_REF + new_ids[value[len(MODEL_REF) :]]
    if isinstance(value, list):
        return [_renamed(item, new_ids) for item in value]
    if isinstance(value, dict):
        return {key: _renamed(item, new_ids) for key, item in value.items()}
    return value


def _widget_views(nb) -> list[dict]:
    """The widget-view output data of every cell, in notebook order."""
    return [
        output["data"][WIDGET_VIEW]
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if WIDGET_VIEW in output.get("data", {})
    ]


def stable_widget_ids(nb, name: str) -> None:
    """Give the widget models ids that depend only on the notebook, not on the run.

    The models are numbered in the order a reader meets them: each displayed
    widget (outputs in cell order), then, depth first, the models its state
    refers to (children, layout, style).  The number n becomes the id
    ``uuid5(ID_NAMESPACE, "<name>/<n>").hex``, written both into the notebook's
    widget state (keys and ``IPY_MODEL_`` references) and into the outputs'
    ``model_id``.  Models that no output shows cannot be drawn by anyone, so
    they are dropped; an output whose model is missing from the state is left
    as it is.
    """
    widgets = nb.metadata.get("widgets", {}).get(WIDGET_STATE)
    if not widgets:
        nb.metadata.pop("widgets", None)
        return
    state: dict[str, dict] = widgets["state"]
    order: list[str] = []
    seen: set[str] = set()

    def visit(model_id: str) -> None:
        if model_id in seen or model_id not in state:
            return
        seen.add(model_id)
        order.append(model_id)
        for ref in _references(state[model_id].get("state", {})):
            visit(ref)

    for view in _widget_views(nb):
        visit(view["model_id"])
    if not order:
        nb.metadata.pop("widgets", None)
        return
    new_ids = {old: uuid.uuid5(ID_NAMESPACE, f"{name}/{n}").hex for n, old in enumerate(order)}
    widgets["state"] = {new_ids[old]: _renamed(copy.deepcopy(state[old]), new_ids) for old in order}
    for view in _widget_views(nb):
        view["model_id"] = new_ids.get(view["model_id"], view["model_id"])


def execute(path: Path, timeout: int = 120) -> float:
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    elapsed = time.perf_counter() - started
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    stable_widget_ids(nb, path.stem)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    for var in SERVICE_VARS:
        os.environ.pop(var, None)
    paths = args.notebooks or sorted(
        p
        for folder in ("modules", "solutions")
        for p in (ROOT / folder).rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    )
    for path in paths:
        elapsed = execute(path)
        shown = path.relative_to(ROOT) if path.is_absolute() and path.is_relative_to(ROOT) else path
        print(f"{elapsed:6.1f} s  {shown}")
        if elapsed > 20:
            print("        warning: over the 20 s budget for one notebook", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
