"""Every slide deck from `make slides`, presented in Chromium from disk (file://).

The decks are built once (scripts/build_slides.py into a temporary folder), then
each one is stepped through with Reveal.next() to its last slide; on every slide
each Mermaid diagram must have become an SVG, no request may leave the machine
(every request is recorded; anything but file:/data:/loopback is blocked and
fails the test) and the console must stay free of errors.  A deck built from a
notebook with a broken diagram proves that the check can fail.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from browser_checks import (
    BENIGN_ALWAYS, ROOT, benign, module_notebooks, skip_or_fail,
    step_through_deck,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCRIPT = ROOT / "scripts" / "build_slides.py"
NOTEBOOKS = module_notebooks()


def build(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # Without --skip-npm: on a fresh clone the first build installs the pinned assets.
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def decks(tmp_path_factory) -> Path:
    """All module decks, built once into a temporary folder (the same layout as build/slides)."""
    out = tmp_path_factory.mktemp("decks")
    run = build("--out", out)
    if run.returncode == 2:  # the slide assets could not be installed (no npm, no registry)
        skip_or_fail(f"could not build the decks: {run.stderr.strip()}")
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def deck_path(out: Path, notebook: Path) -> Path:
    return out / notebook.relative_to(ROOT / "modules").with_suffix(".slides.html")


def present(page, log, deck: Path) -> tuple[int, int, list[str]]:
    page.goto(deck.as_uri())
    slides, drawn, problems = step_through_deck(page)
    # Every diagram in the deck (speaker notes aside) must have been drawn by now.
    in_deck = page.evaluate(
        "() => [...document.querySelectorAll('.reveal .slides pre.mermaid')]"
        ".filter(e => !e.closest('aside.notes')).length")
    if drawn != in_deck:
        problems.append(f"{drawn} of the deck's {in_deck} diagrams were drawn")
    return slides, drawn, problems


@pytest.mark.skipif(not NOTEBOOKS, reason="no module notebooks yet")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS])
def test_deck_presents_every_slide_offline_with_its_diagrams(notebook, decks, new_page):
    deck = deck_path(decks, notebook)
    assert deck.is_file(), f"make slides did not build {deck.name}"
    page, log = new_page()
    slides, drawn, problems = present(page, log, deck)
    assert slides >= 2, f"{deck.name} has only {slides} slide(s)"
    assert not problems, f"{deck.name}: " + "; ".join(problems)
    assert not log.blocked, f"{deck.name} asked other machines for: {sorted(set(log.blocked))}"
    outside = [url for url in log.requests if not url.startswith(("file:", "data:", "blob:"))]
    assert not outside, f"{deck.name} requested: {sorted(set(outside))}"
    errors = [e for e in log.errors if not benign(e, BENIGN_ALWAYS)]
    assert not errors, f"{deck.name}: console errors:\n" + "\n".join(errors)


def test_deck_checker_reports_a_diagram_that_does_not_render(tmp_path, new_page, decks):
    """A deck with one good and two broken diagrams: the check must name the broken ones."""
    # `decks` built the real decks first, which installs the slide assets on a fresh clone.
    notebook = tmp_path / "nb" / "broken.ipynb"
    notebook.parent.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    cell = nbformat.v4.new_code_cell("diagram", execution_count=1,
                                     metadata={"slideshow": {"slide_type": "slide"}})
    cell.outputs = [nbformat.v4.new_output(
        "execute_result", execution_count=1,
        data={"text/vnd.mermaid": "flowchart LR\n    A[never closed --> B", "text/plain": "x"})]
    slide = {"slideshow": {"slide_type": "slide"}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Good\n\n```mermaid\nflowchart LR\n    A --> B\n```",
                                      metadata=slide),
        nbformat.v4.new_markdown_cell("## Bad\n\n```mermaid\nflowchart LR\n    A -> B{\n```",
                                      metadata=slide),
        cell,
    ]
    nbformat.write(nb, notebook)
    out = tmp_path / "out"
    run = build("--out", out, "--root", notebook.parent, notebook)
    assert run.returncode == 0, run.stdout + run.stderr
    page, log = new_page()
    slides, drawn, problems = present(page, log, out / "broken.slides.html")
    assert slides == 3 and drawn == 1, (slides, drawn, problems)
    assert any(p.startswith("slide 1.0: diagram 1 did not render") for p in problems), problems
    assert any(p.startswith("slide 2.0: diagram 1 did not render") for p in problems), problems
    assert "1 of the deck's 3 diagrams were drawn" in problems
