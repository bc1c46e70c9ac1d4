"""Executed notebooks keep their widget state, with ids that do not change between runs.

GitHub and nbviewer draw a saved widget output only when the notebook's metadata
holds the state of the model it names (and of the models that one refers to);
otherwise they show "Error displaying widget".  scripts/execute_notebooks.py keeps
that state and renames the kernel's random model ids to stable ones.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "execute_notebooks.py"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NOTEBOOKS = sorted(
    p for folder in ("modules", "solutions") for p in (ROOT / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)


def load_script():
    spec = importlib.util.spec_from_file_location("execute_notebooks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def references(value) -> set[str]:
    if isinstance(value, str):
        return {value[len("IPY_MODEL_"):]} if value.startswith("IPY_MODEL_") else set()
    if isinstance(value, list):
        return set().union(*map(references, value)) if value else set()
    if isinstance(value, dict):
        return set().union(*map(references, value.values())) if value else set()
    return set()


def widget_views(nb) -> list[str]:
    return [output["data"][WIDGET_VIEW]["model_id"] for cell in nb.cells
            for output in cell.get("outputs", []) if WIDGET_VIEW in output.get("data", {})]


WITH_WIDGETS = [p for p in NOTEBOOKS if widget_views(nbformat.read(p, as_version=4))]


def test_the_module_notebooks_show_explorers():
    assert len([p for p in WITH_WIDGETS if "modules" in p.parts]) >= 8


@pytest.mark.parametrize("path", WITH_WIDGETS, ids=[str(p.relative_to(ROOT)) for p in WITH_WIDGETS])
def test_every_saved_widget_output_has_its_state(path):
    nb = nbformat.read(path, as_version=4)
    views = widget_views(nb)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    assert state, (f"{path.name} shows widgets but keeps no widget state: "
                   "re-run it with scripts/execute_notebooks.py")
    missing = [view for view in views if view not in state]
    assert not missing, f"{path.name}: outputs name models missing from the state: {missing}"
    # and every model those refer to (children, layout, style) is there too
    dangling = {ref for model in state.values() for ref in references(model["state"])} - set(state)
    assert not dangling, f"{path.name}: the widget state refers to missing models {dangling}"


def fake_run(ids: list[str]) -> nbformat.NotebookNode:
    """A notebook as nbclient leaves it: a VBox with a Button, under kernel-made ids."""
    vbox, button, layout, style, stray = ids
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("explorer", execution_count=1, id="explorer")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/plain": "Explorer", WIDGET_VIEW: {"model_id": vbox, "version_major": 2, "version_minor": 0}})]
    nb.cells = [cell]

    def model(name, **state):
        return {"model_name": name, "model_module": "@jupyter-widgets/controls",
                "model_module_version": "2.0.0", "state": state}

    nb.metadata["widgets"] = {WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": {
        stray: model("LayoutModel"),  # a model no output shows
        style: model("ButtonStyleModel"),
        layout: model("LayoutModel"),
        button: model("ButtonModel", description="go", layout=f"IPY_MODEL_{layout}",
                      style=f"IPY_MODEL_{style}"),
        vbox: model("VBoxModel", children=[f"IPY_MODEL_{button}"], layout=f"IPY_MODEL_{layout}"),
    }}}
    return nb


def test_stable_ids_do_not_depend_on_the_kernels_ids():
    script = load_script()
    first = fake_run(["a1", "b2", "c3", "d4", "e5"])
    second = fake_run(["ff", "ee", "dd", "cc", "bb"])
    script.stable_widget_ids(first, "demo")
    script.stable_widget_ids(second, "demo")
    assert nbformat.writes(first) == nbformat.writes(second)

    state = first.metadata["widgets"][WIDGET_STATE]["state"]
    assert len(state) == 4, "the model no output shows is dropped"
    vbox = widget_views(first)[0]
    assert state[vbox]["model_name"] == "VBoxModel"
    (button,) = references(state[vbox]["state"]["children"])
    assert state[button]["state"]["description"] == "go"
    assert references(state[button]["state"]) <= set(state)
    assert all(len(model_id) == 32 for model_id in state)


def test_no_widgets_means_no_widget_metadata():
    script = load_script()
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": {}, "version_major": 2, "version_minor": 0}}
    script.stable_widget_ids(nb, "empty")
    assert "widgets" not in nb.metadata


@pytest.mark.slow
@pytest.mark.notebooks
def test_executing_twice_gives_the_same_bytes_and_keeps_the_explorer(tmp_path):
    """Run the script on a small notebook with an explorer, twice: no byte may change."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "from course_lib.viz.coupling import CouplingExplorer\nCouplingExplorer()")]
    path = tmp_path / "explorer.ipynb"
    nbformat.write(nb, path)
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, str(SCRIPT), str(path)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        runs.append(path.read_bytes())
    assert runs[0] == runs[1]
    saved = nbformat.read(path, as_version=4)
    state = saved.metadata["widgets"][WIDGET_STATE]["state"]
    (view,) = widget_views(saved)
    assert state[view]["model_name"] == "VBoxModel"
    # the saved first frame holds the explorer's screen text
    text = json.dumps(state)
    assert "place an order" in text and "course-explorer-screen" in text
