"""Every diagram and plot says in words what it shows; explorers work from the keyboard.

Static checks over every notebook on disk (modules/ and solutions/):

* a ```mermaid block in Markdown is followed by an italic caption (a paragraph that
  opens with ``*...*``), in the same cell or at the start of the next Markdown cell;
* a ``text/vnd.mermaid`` output carries its caption as alt text (``Diagram(...,
  caption=...)`` puts an ``accTitle:`` line in the source, which Mermaid turns into
  the SVG's <title>), or the next Markdown cell starts with an italic caption;
* a cell that draws a plot (an ``image/png`` output) is followed by a Markdown cell
  that starts with an italic caption, or preceded by one that ends with it.

The keyboard side (Tab reaches every control of an explorer, Enter presses a
button, an arrow key moves a slider) is checked in a real browser by
tests/browser/test_notebooks_in_lab.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(
    p for folder in ("modules", "solutions") for p in (ROOT / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
# A caption is a paragraph that opens with a span in italics (it may wrap over several
# lines, and plain text may follow it, e.g. a pointer to a benchmark).
ITALIC = re.compile(r"^\s*(\*[^*\s][^*]*(?<!\s)\*|_[^_\s][^_]*(?<!\s)_)(?!\w)", re.DOTALL)
ACC_TITLE = re.compile(r"^\s*accTitle\s*:\s*\S", re.MULTILINE)


def paragraphs(lines: list[str]) -> list[str]:
    """The text split at blank lines."""
    found, current = [], []
    for line in lines + [""]:
        if line.strip():
            current.append(line)
        elif current:
            found.append("\n".join(current))
            current = []
    return found


def starts_with_caption(cell) -> bool:
    found = paragraphs(cell.source.splitlines()) if cell is not None and cell.cell_type == "markdown" else []
    return bool(found) and bool(ITALIC.match(found[0]))


def ends_with_caption(cell) -> bool:
    found = paragraphs(cell.source.splitlines()) if cell is not None and cell.cell_type == "markdown" else []
    return bool(found) and bool(ITALIC.match(found[-1]))


def markdown_block_problems(cells, index: int) -> list[str]:
    """```mermaid blocks in a Markdown cell without an italic caption after them."""
    problems = []
    source = cells[index].source.splitlines()
    inside, number = False, 0
    for at, line in enumerate(source):
        if not inside and line.strip() == "```mermaid":
            inside, number = True, number + 1
        elif inside and line.strip().startswith("```"):
            inside = False
            rest = paragraphs(source[at + 1:])
            if rest:
                captioned = bool(ITALIC.match(rest[0]))
            else:
                following = cells[index + 1] if index + 1 < len(cells) else None
                captioned = starts_with_caption(following)
            if not captioned:
                problems.append(f"cell {index}: ```mermaid block {number} has no italic caption "
                                "line (*...*) right after it")
    return problems


def output_problems(cells, index: int) -> list[str]:
    problems = []
    cell = cells[index]
    following = cells[index + 1] if index + 1 < len(cells) else None
    previous = cells[index - 1] if index > 0 else None
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        diagram = data.get("text/vnd.mermaid")
        if diagram is not None and not ACC_TITLE.search(diagram) and not starts_with_caption(following):
            problems.append(f"cell {index}: its Mermaid output has no caption (pass caption= to "
                            "Diagram/mermaid, or start the next Markdown cell with *...*)")
        if "image/png" in data and not (starts_with_caption(following) or ends_with_caption(previous)):
            problems.append(f"cell {index}: its plot has no italic caption in the Markdown cell "
                            "after it (or at the end of the one before)")
    return problems


def caption_problems(path: Path) -> list[str]:
    cells = nbformat.read(path, as_version=4).cells
    problems = []
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            problems += markdown_block_problems(cells, index)
        elif cell.cell_type == "code":
            problems += output_problems(cells, index)
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS])
def test_every_diagram_and_plot_has_a_caption(path):
    problems = caption_problems(path)
    assert not problems, f"{path.relative_to(ROOT)}:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------
# The checker itself can fail
# --------------------------------------------------------------------------


def notebook(*cells) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def plot_cell():
    cell = nbformat.v4.new_code_cell("plt.plot([1, 2])", execution_count=1)
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})]
    return cell


def diagram_cell(source: str):
    cell = nbformat.v4.new_code_cell("mermaid(...)", execution_count=1)
    cell.outputs = [nbformat.v4.new_output(
        "execute_result", execution_count=1, data={"text/vnd.mermaid": source, "text/plain": source})]
    return cell


def test_checker_reports_each_missing_caption(tmp_path):
    md = nbformat.v4.new_markdown_cell
    bad = notebook(
        md("## Flow\n\n```mermaid\nflowchart LR\n    A --> B\n```\n\nSome prose."),
        diagram_cell("flowchart LR\n    A --> B"),
        md("Not a caption."),
        plot_cell(),
    )
    path = tmp_path / "bad.ipynb"
    nbformat.write(bad, path)
    problems = caption_problems(path)
    assert [p.split(":")[0] for p in problems] == ["cell 0", "cell 1", "cell 3"], problems

    good = notebook(
        md("## Flow\n\n```mermaid\nflowchart LR\n    A --> B\n```\n*A sends to B.*"),
        md("```mermaid\nflowchart LR\n    B --> C\n```"),
        md("*B passes it on to C.*"),
        diagram_cell("flowchart LR\n    accTitle: A sends to B\n    A --> B"),
        plot_cell(),
        md("*Latency grows with load.*\n\nMore text."),
        md("*The same data, as a histogram.*"),
        plot_cell(),
    )
    nbformat.write(good, path)
    assert caption_problems(path) == []
