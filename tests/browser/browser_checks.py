"""What the browser tests look for, as plain functions that return a list of problems.

Kept apart from the tests so that a test can feed them a deliberately broken
diagram and show that they report it (a checker that cannot fail proves nothing).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

# Skip on a learner's machine, fail in CI: the one rule for every test (tests/service_checks.py).
from service_checks import skip_or_fail as skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"


def module_notebooks() -> list[Path]:
    """Every module notebook on disk (the list grows as modules land)."""
    return sorted(
        p for p in (ROOT / "modules").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    )


MERMAID_BLOCK = re.compile(r"^```mermaid\s*$", re.MULTILINE)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# Console messages that are not problems of the course, each with the reason why.
# Everything else the page logs as an error fails the test.
#
# STALE_WIDGET: opening a notebook whose saved outputs show widgets from a kernel
# that is gone.  jupyterlab_widgets only restores models from the notebook's
# metadata when its "saveState" setting is on, so once the new kernel connects it
# logs this once for each saved widget output (even after the outputs were
# cleared: the render was already under way).  Tolerated at most once per saved
# widget output; the widgets that running the cells creates are checked
# separately (every explorer must appear and answer the keyboard).
STALE_WIDGET = "widget model not found"
# Messages tolerated anywhere (none so far: add one only with its reason).
BENIGN_ALWAYS: dict[str, str] = {}


def benign(message: str, allow: dict[str, str]) -> bool:
    return any(pattern in message for pattern in allow)


@dataclass(frozen=True)
class Expected:
    """What a notebook should show once run: counted from its file."""

    diagrams: int   # ```mermaid blocks in Markdown + text/vnd.mermaid outputs
    images: int     # image/png outputs (matplotlib plots)
    explorers: int  # widget outputs (every explorer is one)


def expected_from(path: Path) -> Expected:
    nb = nbformat.read(path, as_version=4)
    diagrams = images = explorers = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            diagrams += len(MERMAID_BLOCK.findall(cell.source))
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            diagrams += "text/vnd.mermaid" in data
            images += "image/png" in data
            explorers += WIDGET_VIEW in data
    return Expected(diagrams, images, explorers)


# --------------------------------------------------------------------------
# JupyterLab
# --------------------------------------------------------------------------

# JupyterLab 4 draws each Mermaid block into a .jp-RenderedMermaid element: a
# <figure><img src="data:image/svg+xml,..."> when Mermaid drew it, or, when it
# could not, the class jp-mod-warning and a <details> holding Mermaid's error.
LAB_DIAGRAMS_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-RenderedMermaid')]
  .filter(e => !e.querySelector('.jp-RenderedMermaid'))
  .map(e => {
    const img = e.querySelector('figure img');
    const src = img ? img.getAttribute('src') || '' : '';
    return {
      drawn: !e.classList.contains('jp-mod-warning') && src.startsWith('data:image/svg+xml'),
      error: e.classList.contains('jp-mod-warning') ? e.innerText.slice(0, 300) : '',
    };
  })"""

LAB_UNDRAWN_JS = """() => [...document.querySelectorAll(
  '.jp-Notebook pre > code.language-mermaid, .jp-Notebook pre.mermaid:not([data-processed])')].length"""


def lab_diagram_problems(page, expected: int) -> list[str]:
    """Problems with the Mermaid diagrams in the open notebook (empty list: all drawn)."""
    diagrams = page.evaluate(LAB_DIAGRAMS_JS)
    problems = [f"diagram {i + 1} did not render: {d['error'] or '(not drawn yet)'}"
                for i, d in enumerate(diagrams) if not d["drawn"]]
    drawn = sum(d["drawn"] for d in diagrams)
    if drawn != expected:
        problems.append(f"{drawn} of {expected} Mermaid diagrams became SVG images")
    undrawn = page.evaluate(LAB_UNDRAWN_JS)
    if undrawn:
        problems.append(f"{undrawn} Mermaid blocks are still shown as code")
    return problems


def wait_for_no_problems(check, timeout_s: float, what: str, interval_s: float = 0.25) -> list[str]:
    """Call ``check()`` (which returns a list of problems) until it returns none or time runs out.

    A browser draws asynchronously: JupyterLab loads its Mermaid renderer the first time a
    diagram appears (seconds on a cold machine), widgets render after their cell has run,
    images decode after they are inserted. So a test waits for what it checks, with a
    generous timeout, instead of checking at a fixed moment. Returns ``[]`` when all is
    well, else the last problems seen, with a line saying how long it waited.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        problems = check()
        if not problems:
            return []
        if time.monotonic() >= deadline:
            return [*problems, f"(still so after waiting {timeout_s:g} s for {what})"]
        time.sleep(interval_s)


def count_problem(count, expected: int, what: str):
    """A check for wait_for_no_problems: ``count()`` (read once per poll) must equal ``expected``."""

    def check() -> list[str]:
        found = count()
        return [] if found == expected else [f"{found} of {expected} {what}"]

    return check


def wait_for_lab_diagrams(page, expected: int, timeout_s: float = 90) -> list[str]:
    """Wait until JupyterLab has drawn (or refused) all ``expected`` Mermaid diagrams."""
    return wait_for_no_problems(
        lambda: lab_diagram_problems(page, expected), timeout_s, "Mermaid to draw the diagrams"
    )


def lab_image_count(page) -> int:
    return page.evaluate("""() => [...document.querySelectorAll(
      '.jp-Notebook .jp-RenderedImage img')].filter(i => i.naturalWidth > 0).length""")


# --------------------------------------------------------------------------
# reveal.js decks (scripts/build_slides.py, templates/course_reveal)
# --------------------------------------------------------------------------

# The template marks a diagram <pre class="mermaid">; mermaid.run() replaces its
# text with an <svg> and sets data-processed.  On a syntax error (the template
# passes suppressErrors) Mermaid 11 leaves no diagram SVG, or draws its error
# picture, an <svg aria-roledescription="error">.
DECK_DIAGRAMS_JS = """(slide) => [...slide.querySelectorAll('pre.mermaid')].map(e => {
    const svg = e.querySelector('svg');
    const role = svg ? svg.getAttribute('aria-roledescription') || '' : '';
    return {
      drawn: !!svg && role !== 'error' && !/Syntax error/i.test(svg.textContent),
      text: (svg ? svg.textContent : e.textContent).trim().slice(0, 120),
    };
  })"""


def deck_slide_problems(page, where: str) -> tuple[int, list[str]]:
    """Diagrams on the current slide: (how many were drawn, problems)."""
    slide = page.evaluate_handle("() => Reveal.getCurrentSlide()")
    diagrams = page.evaluate(DECK_DIAGRAMS_JS, slide)
    problems = [f"{where}: diagram {i + 1} did not render ({d['text']!r})"
                for i, d in enumerate(diagrams) if not d["drawn"]]
    return sum(d["drawn"] for d in diagrams), problems


def wait_for_slide_diagrams(page, timeout_ms: int = 30_000) -> None:
    """Wait until Mermaid has processed every diagram on the current slide."""
    page.wait_for_function(
        """() => [...Reveal.getCurrentSlide().querySelectorAll('pre.mermaid')]
                 .every(e => e.hasAttribute('data-processed'))""",
        timeout=timeout_ms,
    )


def step_through_deck(page) -> tuple[int, int, list[str]]:
    """Visit every slide and fragment with Reveal.next(); return (slides, diagrams, problems)."""
    # reveal.js is loaded through require.js, so it is no global: ask require.js for it,
    # with the same URL the deck's own scripts use.
    page.wait_for_function("() => window.require && window.mermaid", timeout=30_000)
    page.evaluate("""() => new Promise((resolve, reject) => {
        const text = [...document.scripts].map(s => s.textContent).join('\\n');
        const url = text.match(/require\\(\\[\\s*"([^"]*reveal\\.js)"/)[1];
        require([url], R => { window.Reveal = R; resolve(); }, reject);
    })""")
    page.wait_for_function("() => Reveal.isReady()", timeout=30_000)
    total = page.evaluate("() => Reveal.getTotalSlides()")
    seen: set[tuple[int, int]] = set()
    drawn, problems = 0, []
    for _step in range(10_000):
        indices = page.evaluate("() => Reveal.getIndices()")
        key = (indices["h"], indices.get("v") or 0)
        if key not in seen:
            seen.add(key)
            where = f"slide {key[0]}.{key[1]}"
            try:
                wait_for_slide_diagrams(page)
            except Exception:
                problems.append(f"{where}: Mermaid did not process every diagram within 30 s")
            count, found = deck_slide_problems(page, where)
            drawn += count
            problems += found
        if page.evaluate("() => Reveal.isLastSlide() && !Reveal.availableFragments().next"):
            break
        page.evaluate("() => Reveal.next()")
    if len(seen) != total:
        problems.append(f"visited {len(seen)} of {total} slides")
    return len(seen), drawn, problems
