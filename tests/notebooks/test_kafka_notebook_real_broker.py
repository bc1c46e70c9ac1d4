"""The 10.4 notebook runs unchanged against a real Kafka-protocol broker.

It executes with KAFKA_BOOTSTRAP_SERVERS set (so `log_cluster()` returns a broker
connection) and must finish without an error. Cells marked
``# same output on a real broker`` print only what both backends agree on
(partitions, offsets, keys, lag), so their output is compared with the committed,
embedded output.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.conformance, pytest.mark.notebooks, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "modules" / "10-event-driven" / "10.4-kafka.ipynb"
MARK = "# same output on a real broker"


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_the_kafka_notebook_runs_against_the_broker_with_the_same_results(kafka_bootstrap, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    committed = nbformat.read(NOTEBOOK, as_version=4)
    live = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(live, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute(env=dict(os.environ))  # raises CellExecutionError on the first failing cell
    compared = 0
    for index, (before, after) in enumerate(zip(committed.cells, live.cells)):
        if before.cell_type == "code" and MARK in before.source:
            assert _text(after) == _text(before), f"cell {index} printed something else on the broker"
            compared += 1
    assert compared >= 5
    setup = next(c for c in live.cells if c.cell_type == "code" and "log_cluster()" in c.source)
    assert "BrokerConnection" in repr(setup.source) or _text(setup)  # the setup cell ran
