"""A module presents as slides inside JupyterLab, with jupyterlab-rise (/rise/<notebook>).

Unlike the decks of `make slides`, RISE is a third-party app: the test checks
that it presents (reveal.js lays out the slides, the first shows the module's
title, the arrow key moves on) but does not hold its console to the course's
standard.  jupyterlab-rise 0.43.1 on JupyterLab 4.6 logs "Shared module
@jupyterlab/console doesn't exist", a stream of "Maximum call stack size exceeded"
from its own bundle, and 404s for the optional rise.css/<notebook>.css, while
presenting fine.  Its default theme ("simple") asks fonts.googleapis.com for two
fonts; those requests are blocked here and are the only ones tolerated.
"""

from __future__ import annotations

import pytest
from browser_checks import ROOT, module_notebooks

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOKS = module_notebooks()
THEME_FONTS = "https://fonts.googleapis.com/css?family="  # RISE's default theme, see above


def first_module() -> str | None:
    """The first module notebook after the course map (the one an instructor opens first)."""
    modules = [p for p in NOTEBOOKS if p.parent != ROOT / "modules"] or NOTEBOOKS
    return str(modules[0].relative_to(ROOT)) if modules else None


@pytest.mark.skipif(not NOTEBOOKS, reason="no module notebooks yet")
def test_a_module_presents_with_rise(lab, new_page):
    relative = first_module()
    page, log = new_page()
    try:
        page.goto(lab.url(f"/rise/{relative}"))
        page.wait_for_selector(".reveal .slides section", timeout=60_000)
        page.wait_for_function(
            "() => document.querySelector('.reveal').classList.contains('ready')", timeout=60_000)
        sections = page.locator(".reveal .slides section").count()
        assert sections >= 2, f"RISE made {sections} slide(s) of {relative}"
        # the title slide shows the notebook's first heading
        title = page.locator(".reveal .slides section.present h1").first.inner_text()
        assert title.strip(), "the first slide shows no title"
        # and the presenter can move on with the keyboard
        before = page.evaluate("() => document.querySelector('.reveal .slides section.present').innerText")
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "(before) => document.querySelector('.reveal .slides section.present').innerText !== before",
            arg=before, timeout=10_000)
        leaks = [url for url in log.blocked if not url.startswith(THEME_FONTS)]
        assert not leaks, f"RISE asked other machines for {sorted(set(leaks))}"
    finally:
        page.close()
        lab.shut_down_kernels()
