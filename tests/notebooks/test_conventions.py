"""Every notebook follows the course's conventions (DESIGN.md, "Notebooks" and "Labs")."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p for p in (ROOT / "modules").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def test_there_is_a_course_map_and_at_least_one_module():
    assert (ROOT / "modules" / "00-course-map.ipynb") in MODULES
    assert len(MODULES) >= 2


@pytest.mark.parametrize("path", MODULES, ids=_ids(MODULES))
def test_module_starts_with_title_goals_and_time_and_ends_with_summary_and_next(path):
    cells = nbformat.read(path, as_version=4).cells
    first, last = cells[0], cells[-1]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "What you will learn" in first.source or "what you will learn" in first.source.lower()
    assert "**Time:**" in first.source
    assert last.cell_type == "markdown" and "## Summary" in last.source and "**Next:**" in last.source


@pytest.mark.parametrize("path", MODULES + SOLUTIONS, ids=_ids(MODULES + SOLUTIONS))
def test_every_cell_has_slide_metadata_and_every_code_cell_committed_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        slide = cell.metadata.get("slideshow", {}).get("slide_type")
        assert slide in SLIDE_TYPES, f"cell {index} has no slideshow.slide_type"
        if cell.cell_type == "code" and cell.source.strip():
            assert cell.execution_count is not None, f"cell {index} was not executed before committing"
            for output in cell.get("outputs", []):
                assert output.output_type != "error", f"cell {index} stored an error"


@pytest.mark.parametrize("path", MODULES + SOLUTIONS, ids=_ids(MODULES + SOLUTIONS))
def test_outputs_are_deterministic_and_diagrams_render_offline(path):
    text = path.read_text()
    assert not re.search(r"mermaid\.ink|Mermaid\(", text), "mermaid-py's web renderer fails offline"
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            shown = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert not re.search(r" at 0x[0-9a-f]{6,}", shown), f"cell {index} shows an object address"


def test_every_solution_declares_its_lab_and_has_a_lab():
    assert SOLUTIONS, "no solutions yet"
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata.get("course", {}).get("lab") == path.stem, f"{path.name}: metadata course.lab"
        assert (ROOT / "labs" / path.name).exists(), f"labs/{path.name} is missing: run `make labs`"
    assert {p.name for p in (ROOT / "labs").glob("*.ipynb")} == {p.name for p in SOLUTIONS}


def test_labs_are_generated_from_the_current_solutions():
    """`make labs` would change nothing (the equivalent of `git diff --exit-code labs/` after it)."""
    result = subprocess.run(
        [sys.executable, "-m", "course_lib.grading.labgen", "--check", "solutions", "labs"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_labs_hold_no_solutions():
    for path in (ROOT / "labs").glob("*.ipynb"):
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        assert "NotImplementedError" in text
