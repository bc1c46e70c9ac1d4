"""Every module notebook, as a learner meets it: opened in JupyterLab in Chromium, all cells run.

For each notebook on disk (the list grows as modules land) the test clears the
outputs, runs every cell through JupyterLab's own menu (Run > Run All Cells),
and then checks what a learner would see: every Mermaid block is an SVG image,
every plot an image, every explorer is there, can be reached with Tab and
answers a key press (Enter on a button, an arrow key on a slider) by changing
its screen, and the browser console shows no error.  A screenshot of each
notebook goes to build/screenshots/<notebook>.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from browser_checks import (
    BENIGN_ALWAYS, ROOT, STALE_WIDGET, SCREENSHOTS, benign, count_problem, expected_from,
    lab_diagram_problems, lab_image_count, module_notebooks, wait_for_lab_diagrams,
    wait_for_no_problems,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOKS = module_notebooks()
RUN_TIMEOUT_MS = 180_000
KERNEL_TIMEOUT_MS = 180_000


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


# --------------------------------------------------------------------------
# Driving JupyterLab
# --------------------------------------------------------------------------


def open_notebook(page, lab, relative: str) -> None:
    page.goto(lab.url(f"/lab/tree/{relative}", reset=""))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=KERNEL_TIMEOUT_MS)
    # A kernel's first start on a fresh machine compiles and imports a lot: wait for it.
    page.wait_for_selector(
        ".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=KERNEL_TIMEOUT_MS)


def menu(page, top: str, item: str) -> None:
    """Click a menu bar entry, then an item of the menu it opens."""
    page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def focus_notebook(page) -> None:
    """Click the notebook's first cell: a menu command acts on the notebook that has focus."""
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.click(position={"x": 4, "y": 4})


def menu_until(page, top: str, item: str, done_js: str, what: str, tries: int = 3) -> None:
    """Use a menu command until ``done_js`` holds: a click can be lost while JupyterLab loads.

    On a fresh machine the first notebook opens while JupyterLab is still starting its
    plugins; a menu command then may do nothing (its notebook not yet current). So the
    test waits for the effect it wants, and tries again, instead of trusting one click.
    """
    for attempt in range(tries):
        focus_notebook(page)
        menu(page, top, item)
        try:
            page.wait_for_function(done_js, timeout=20_000)
            return
        except Exception as exc:
            if attempt == tries - 1:
                raise AssertionError(f"{top} > {item}: {what} did not happen in {tries} tries of 20 s") from exc


def clear_outputs(page) -> None:
    """Edit > Clear Outputs of All Cells, so that every prompt shows when its cell has run again."""
    menu_until(page, "Edit", "Clear Outputs of All Cells",
               "() => !document.querySelector('.jp-Notebook .jp-OutputArea-output')",
               "the outputs being cleared")


def run_all_cells(page) -> None:
    """Run > Run All Cells, and wait until every code cell has run (or one failed).

    A click that lands while the kernel is still connecting can be lost; when no
    cell has started after 20 s the menu is used again (three tries in all).
    """
    started = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .some(p => p.textContent.trim() !== '[ ]:')"""
    menu_until(page, "Run", "Run All Cells", started, "a cell starting")
    try:
        page.wait_for_function(
        """() => {
          const error = document.querySelector(
            '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
          if (error && /Traceback|Error/.test(error.textContent)) return true;
          const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')]
            .filter(c => c.querySelector('.jp-InputArea-editor').textContent.trim())
            .map(c => c.querySelector('.jp-InputPrompt').textContent.trim());
          return prompts.every(t => /^\\[\\d+\\]:$/.test(t));
        }""",
            timeout=RUN_TIMEOUT_MS,
        )
    except Exception as exc:
        prompts = page.evaluate("""() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')]
            .map(c => c.querySelector('.jp-InputPrompt').textContent.trim())""")
        status = page.evaluate("""() => [...document.querySelectorAll(
            '.jp-Notebook-ExecutionIndicator')].map(e => e.getAttribute('data-status'))""")
        dialogs = page.evaluate("() => [...document.querySelectorAll('.jp-Dialog')].map(e => e.innerText)")
        raise AssertionError(f"cells did not finish: prompts {prompts}, kernel {status}, "
                             f"dialogs {dialogs}") from exc
    page.wait_for_selector(
        ".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=KERNEL_TIMEOUT_MS)


def cell_errors(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll(
        '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.textContent).filter(t => /Traceback|Error/.test(t)).map(t => t.slice(-600))""")


# --------------------------------------------------------------------------
# Explorers from the keyboard
# --------------------------------------------------------------------------

# Everything a keyboard user can Tab to: ipywidgets' slider readout is an editable <div>.
CONTROLS = "button, [role=slider], select, input, textarea, [contenteditable=true]"


def explorer_controls(explorer) -> list:
    """The interactive elements of an explorer, in document order, that are enabled."""
    return [c for c in explorer.locator(CONTROLS).all()
            if c.is_visible() and c.is_enabled()]


def tab_order_problems(page, explorer) -> list[str]:
    """Focus the first control, press Tab: every control must be reached, in order."""
    controls = explorer_controls(explorer)
    for index, control in enumerate(controls):
        control.evaluate("(e, i) => e.setAttribute('data-course-control', i)", index)
    controls[0].focus()
    reached = []
    for _ in range(len(controls) + 1):
        index = page.evaluate(
            "() => document.activeElement && document.activeElement.getAttribute('data-course-control')")
        if index is None:
            break
        reached.append(int(index))
        page.keyboard.press("Tab")
    missing = sorted(set(range(len(controls))) - set(reached))
    if missing:
        names = [controls[i].evaluate("e => e.outerHTML.slice(0, 120)") for i in missing]
        return [f"Tab does not reach controls {missing}: {names}"]
    return []


def key_for(control) -> str | None:
    """The key a keyboard user presses to use this control, or None to leave it alone."""
    tag, role, kind, classes = control.evaluate(
        "e => [e.tagName, e.getAttribute('role') || '', e.type || '', e.className || '']")
    if role == "slider":
        return "ArrowRight"
    if tag == "BUTTON":
        return None if "mod-active" in classes else "Enter"  # the chosen toggle changes nothing
    if tag == "SELECT":
        return "ArrowDown"
    if tag == "INPUT" and kind == "checkbox":
        return "Space"
    if tag == "INPUT" and kind == "text":
        return "type"  # the last resort: type into a text box (see interact_by_keyboard)
    return None  # slider readouts and other text: the slider handle is the control


def interact_by_keyboard(page, explorer) -> str | None:
    """Press the key of each control in turn until the explorer's screen changes.

    Returns a description of the interaction that changed the screen, or None.
    """
    screen = explorer.locator(".course-explorer-screen").first
    keyed = [(key, control) for control in explorer_controls(explorer)
             if (key := key_for(control)) is not None]
    keyed.sort(key=lambda pair: pair[0] == "type")  # buttons, sliders, menus first
    for key, control in keyed:
        before = screen.inner_text()
        control.focus()
        if key == "type":
            page.keyboard.press("End")
            page.keyboard.type(".eu")
        else:
            page.keyboard.press(key)
        deadline = time.monotonic() + 15  # a kernel round trip; slow on a loaded 2-core machine
        while time.monotonic() < deadline:
            if screen.inner_text() != before:
                label = control.evaluate("e => e.textContent.trim() || e.getAttribute('aria-valuetext') || e.tagName")
                return f"{key} on {label!r}"
            time.sleep(0.1)
    return None


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def no_stale_screenshots():
    """build/screenshots/ holds one picture per notebook on disk: drop those of removed ones."""
    stems = {notebook.stem for notebook in NOTEBOOKS}
    for old in SCREENSHOTS.glob("*.png"):
        if old.stem not in stems:  # also last run's FAILED-<notebook>.png
            old.unlink()


def save_screenshot(page, path: Path) -> None:
    """The notebook from its top, with the file browser folded away to give it the width."""
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current.count():
        current.first.click()
    page.evaluate("""() => { for (const e of document.querySelectorAll(
        '.jp-NotebookPanel .jp-WindowedPanel-outer, .jp-NotebookPanel .jp-Notebook')) e.scrollTop = 0; }""")
    time.sleep(0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


@pytest.mark.skipif(not NOTEBOOKS, reason="no module notebooks yet")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_in_jupyterlab_and_shows_everything(notebook, lab, new_page):
    relative = str(notebook.relative_to(ROOT))
    expected = expected_from(notebook)
    page, log = new_page()
    try:
        open_notebook(page, lab, relative)
        clear_outputs(page)
        run_all_cells(page)
        assert not cell_errors(page), f"{relative}: a cell failed:\n" + "\n".join(cell_errors(page))

        problems = wait_for_lab_diagrams(page, expected.diagrams)
        assert not problems, f"{relative}: " + "; ".join(problems)

        problems = wait_for_no_problems(
            count_problem(lambda: lab_image_count(page), expected.images, "plots appeared as images"),
            60, "the plots to decode")
        assert not problems, f"{relative}: " + "; ".join(problems)

        explorer_locator = page.locator(".jp-Notebook .course-explorer")
        problems = wait_for_no_problems(
            count_problem(explorer_locator.count, expected.explorers, "explorers appeared"),
            60, "the widgets to render")
        assert not problems, f"{relative}: " + "; ".join(problems)
        explorers = explorer_locator.all()
        for number, explorer in enumerate(explorers, 1):
            explorer.scroll_into_view_if_needed()
            title = explorer.locator("b").first.inner_text()
            assert explorer_controls(explorer), f"{relative}: explorer {title!r} has no controls"
            problems = tab_order_problems(page, explorer)
            assert not problems, f"{relative}: explorer {title!r}: " + "; ".join(problems)
            done = interact_by_keyboard(page, explorer)
            assert done, (f"{relative}: explorer {number} {title!r}: no key press on any control "
                          "changed its screen")

        save_screenshot(page, SCREENSHOTS / f"{notebook.stem}.png")
        assert (SCREENSHOTS / f"{notebook.stem}.png").stat().st_size > 10_000
        stale = [e for e in log.errors if STALE_WIDGET in e]
        assert len(stale) <= expected.explorers, f"{relative}: {len(stale)} x {STALE_WIDGET!r}"
        errors = [e for e in log.errors if not benign(e, BENIGN_ALWAYS) and STALE_WIDGET not in e]
        assert not errors, f"{relative}: the browser console shows errors:\n" + "\n".join(errors)
    except BaseException:
        # What the page showed when the test failed, to read next to the message.
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(SCREENSHOTS / f"FAILED-{notebook.stem}.png"))
        except Exception:
            pass  # the page itself may be gone; the assertion says what happened
        raise
    finally:
        page.close()
        lab.shut_down_kernels()


def test_lab_checker_reports_a_diagram_that_does_not_render(lab, new_page):
    """Feed JupyterLab a notebook with one broken and one good diagram: the check must say so."""
    broken = lab.root / "selftest" / "broken-diagram.ipynb"
    broken.parent.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook()
    output_cell = nbformat.v4.new_code_cell("diagram", execution_count=1)
    output_cell.outputs = [nbformat.v4.new_output(
        "execute_result", execution_count=1,
        data={"text/vnd.mermaid": "flowchart LR\n    A[never closed --> B", "text/plain": "broken"})]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Selftest\n\n```mermaid\nflowchart LR\n    A --> B\n```"),
        nbformat.v4.new_markdown_cell("```mermaid\nsequenceDiagram\n    A->>B: hi\n    loop\n```"),
        output_cell,
    ]
    nbformat.write(nb, broken)
    assert expected_from(broken).diagrams == 3
    page, _log = new_page()
    try:
        open_notebook(page, lab, "selftest/broken-diagram.ipynb")
        # Wait until all three have settled: two drawn or refused in Markdown, one in an output.
        settled = """() => [...document.querySelectorAll('.jp-Notebook .jp-RenderedMermaid')]
            .filter(e => !e.querySelector('.jp-RenderedMermaid'))
            .filter(e => e.classList.contains('jp-mod-warning') || e.querySelector('figure img'))
            .length >= 3"""
        page.wait_for_function(settled, timeout=90_000)
        problems = lab_diagram_problems(page, expected_from(broken).diagrams)
    finally:
        page.close()
        lab.shut_down_kernels()
    assert any("did not render" in p for p in problems), problems
    assert "1 of 3 Mermaid diagrams became SVG images" in problems, problems
