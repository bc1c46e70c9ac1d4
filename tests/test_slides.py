"""Tests for scripts/build_slides.py: offline reveal.js decks with Mermaid diagrams.

The decks are built from a small notebook made here and from every notebook
under modules/ (there may be none yet).  Building needs the slide assets from
the npm registry; without npm (or without the registry) the tests are skipped,
unless COURSE_REQUIRE_SERVICES=1, in which case they fail.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "build_slides.py"
MODULES = ROOT / "modules"

pytestmark = pytest.mark.slow

FLOWCHART = """flowchart LR
    P[Producer] -->|publish| T[(orders topic)]
    T --> C[Consumer]"""
CLASS_DIAGRAM = """classDiagram
    class EventStore{
        <<interface>>
        +append(event) int
    }
    EventStore <|-- KafkaStore"""
SEQUENCE = """sequenceDiagram
    accTitle: The broker delivers what the producer sends
    P->>B: send <b>order</b> & more
    B-->>C: deliver"""


def load_build_slides() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_slides", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def skip_or_fail(reason: str) -> None:
    if os.environ.get("COURSE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (COURSE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def build_slides() -> ModuleType:
    pytest.importorskip("nbconvert")
    return load_build_slides()


@pytest.fixture(scope="module")
def slide_assets(build_slides: ModuleType) -> None:
    """Make sure node_modules/ holds the pinned assets, installing them if npm can."""
    if not build_slides.missing_assets():
        return
    if shutil.which("npm") is None:
        skip_or_fail("npm is not installed, and the slide assets are not in node_modules/")
    try:
        build_slides.ensure_node_modules(skip_npm=False)
    except build_slides.BuildError as error:
        skip_or_fail(f"could not install the slide assets with npm: {error}")


def run_build(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


def make_test_notebook(path: Path) -> None:
    def markdown(source: str, slide_type: str) -> nbformat.NotebookNode:
        return nbformat.v4.new_markdown_cell(source, metadata={"slideshow": {"slide_type": slide_type}})

    output_cell = nbformat.v4.new_code_cell(
        "from course_lib.diagrams import mermaid\nmermaid(SEQUENCE)",
        metadata={"slideshow": {"slide_type": "slide"}},
        execution_count=1,
    )
    output_cell.outputs = [
        nbformat.v4.new_output(
            "execute_result",
            data={"text/vnd.mermaid": SEQUENCE, "text/plain": SEQUENCE},
            execution_count=1,
        )
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.cells = [
        markdown(f"# Events\n\nLittle's law: $L = \\lambda W$\n\n```mermaid\n{FLOWCHART}\n```", "slide"),
        markdown(f"## An interface\n\n```mermaid\n{CLASS_DIAGRAM}\n```", "subslide"),
        output_cell,
        markdown("Say that the broker keeps the order per partition.", "notes"),
        markdown("```mermaid\nflowchart LR\n    Skipped --> Cell\n```", "skip"),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def module_notebooks() -> list[Path]:
    if not MODULES.is_dir():
        return []
    return sorted(
        path for path in MODULES.rglob("*.ipynb") if ".ipynb_checkpoints" not in path.parts
    )


@dataclass
class Built:
    out: Path
    decks: dict[Path, Path] = field(default_factory=dict)  # notebook -> deck
    log: str = ""


@pytest.fixture(scope="module")
def built(slide_assets: None, tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("slides")
    out = base / "out"
    result = Built(out)

    test_notebook = base / "notebooks" / "00-selftest" / "demo.ipynb"
    make_test_notebook(test_notebook)
    run = run_build("--skip-npm", "--out", out, "--root", base / "notebooks", test_notebook)
    assert run.returncode == 0, run.stdout + run.stderr
    result.decks[test_notebook] = out / "00-selftest" / "demo.slides.html"
    result.log += run.stdout

    notebooks = module_notebooks()
    if notebooks:
        run = run_build("--skip-npm", "--out", out, *notebooks)
        assert run.returncode == 0, run.stdout + run.stderr
        result.log += run.stdout
        for notebook in notebooks:
            relative = notebook.relative_to(MODULES).with_suffix(".slides.html")
            result.decks[notebook] = out / relative
    return result


# --------------------------------------------------------------------------
# Reading a deck with html.parser
# --------------------------------------------------------------------------


@dataclass
class Page:
    scripts: list[dict[str, str | None]] = field(default_factory=list)
    inline_scripts: list[str] = field(default_factory=list)
    links: list[dict[str, str | None]] = field(default_factory=list)
    media: list[tuple[str, str]] = field(default_factory=list)  # (tag, src)
    styles: list[str] = field(default_factory=list)  # <style> contents and style="" attributes
    mermaid_nodes: list[str] = field(default_factory=list)  # text of class="mermaid" elements
    mermaid_outputs: list[str] = field(default_factory=list)  # same, inside text/vnd.mermaid outputs
    sections: int = 0


class PageParser(HTMLParser):
    MEDIA = {"img", "iframe", "video", "audio", "source", "embed", "object", "track"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._open: list[str] = []  # tags whose text is being collected
        self._text: list[str] = []
        self._in_mermaid_output = 0
        self._depth = 0

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        classes = (attrs.get("class") or "").split()
        if attrs.get("style"):
            self.page.styles.append(attrs["style"] or "")
        if tag == "section":
            self.page.sections += 1
        if tag == "script":
            self.page.scripts.append(attrs)
        elif tag == "link":
            self.page.links.append(attrs)
        elif tag in self.MEDIA:
            for name in ("src", "data", "poster"):
                if attrs.get(name):
                    self.page.media.append((tag, attrs[name] or ""))
        if tag == "div" and attrs.get("data-mime-type") == "text/vnd.mermaid":
            self._in_mermaid_output += 1
        if tag in ("script", "style") or "mermaid" in classes:
            self._open.append("mermaid" if "mermaid" in classes else tag)
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if self._open and (tag == self._open[-1] or (self._open[-1] == "mermaid" and tag == "pre")):
            kind = self._open.pop()
            text = "".join(self._text)
            if kind == "script" and text.strip():
                self.page.inline_scripts.append(text)
            elif kind == "style":
                self.page.styles.append(text)
            elif kind == "mermaid":
                self.page.mermaid_nodes.append(text.strip())
                if self._in_mermaid_output:
                    self.page.mermaid_outputs.append(text.strip())
                    self._in_mermaid_output -= 1

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text.append(data)


def parse_deck(deck: Path) -> Page:
    parser = PageParser()
    parser.feed(deck.read_text(encoding="utf-8"))
    parser.close()
    return parser.page


REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_REMOTE = re.compile(r"""(url\(\s*['"]?\s*(https?:)?//|@import\s+['"]\s*(https?:)?//)""", re.IGNORECASE)
CSS_LOCAL = re.compile(r"""url\(\s*['"]?(?!data:|#|(?:https?:)?//)([^'")]+)['"]?\s*\)""", re.IGNORECASE)


def local_file(deck: Path, url: str) -> Path:
    return (deck.parent / unquote(urlsplit(url).path)).resolve()


def required_modules(script: str) -> list[str]:
    """The file URLs an inline script loads with require([...])."""
    urls = []
    for listing in re.findall(r"require\(\s*(?:\{.*?\}\s*,\s*)?\[(.*?)\]", script, flags=re.DOTALL):
        urls += re.findall(r"""["']([^"']+\.js)["']""", listing)
    return urls


def normalise(source: str) -> str:
    return "\n".join(line.strip() for line in source.strip().splitlines())


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_one_deck_per_notebook(built: Built) -> None:
    decks = sorted(built.out.rglob("*.slides.html"))
    assert sorted(built.decks.values()) == decks
    for notebook, deck in built.decks.items():
        assert deck.is_file(), f"no deck for {notebook}"
        assert str(deck.relative_to(built.out)) in built.log  # one line printed per deck
    assert (built.out / "index.html").is_file()
    assert (built.out / "assets" / "VERSIONS.json").is_file()


def test_decks_load_nothing_from_other_machines(built: Built) -> None:
    for deck in built.decks.values():
        page = parse_deck(deck)
        remote = [s["src"] for s in page.scripts if s.get("src") and REMOTE.match(s["src"] or "")]
        remote += [l["href"] for l in page.links if l.get("href") and REMOTE.match(l["href"] or "")]
        remote += [css for css in page.styles if CSS_REMOTE.search(css)]
        remote += [url for script in page.inline_scripts for url in required_modules(script) if REMOTE.match(url)]
        assert not remote, f"{deck.name} loads {remote}"
        # ES-module imports cannot work from file:// and were nbconvert's way to load Mermaid from a CDN.
        assert not [s for s in page.scripts if s.get("type") == "module"], deck.name
        for script in page.inline_scripts:
            assert not re.search(r"""(import\s*\(|from\s+)\s*['"](https?:)?//""", script), deck.name


def test_notebook_content_loads_nothing_from_other_machines(built: Built) -> None:
    for notebook, deck in built.decks.items():
        remote = [f"<{tag} {src}>" for tag, src in parse_deck(deck).media if REMOTE.match(src)]
        assert not remote, (
            f"{notebook.name} shows {remote} from the internet; slides must work offline: "
            "attach the image to the Markdown cell or save it next to the notebook"
        )


def test_every_referenced_asset_exists(built: Built) -> None:
    for deck in built.decks.values():
        page = parse_deck(deck)
        urls = [s["src"] for s in page.scripts if s.get("src")]
        urls += [l["href"] for l in page.links if l.get("href") and "stylesheet" in (l.get("rel") or "")]
        urls += [src for _tag, src in page.media if not src.startswith("data:")]
        urls += [url for script in page.inline_scripts for url in required_modules(script)]
        assert urls, deck.name
        for url in urls:
            assert url and not url.startswith("/"), f"{deck.name}: {url} is not a relative URL"
            assert local_file(deck, url).is_file(), f"{deck.name}: {url} does not exist"

        # MathJax 2 loads each name in ?config=A,B as config/A.js, config/B.js.
        mathjax = [url for url in urls if "MathJax.js" in url]
        assert len(mathjax) == 1, deck.name
        query = urlsplit(mathjax[0]).query
        for name in re.search(r"config=([^&]+)", query).group(1).split(","):
            assert (local_file(deck, mathjax[0]).parent / "config" / f"{name}.js").is_file(), name

        # Stylesheets: no remote @import/url(), every local url() exists (e.g. theme fonts).
        stylesheets = [local_file(deck, l["href"]) for l in page.links if l.get("href")]
        seen: set[Path] = set()
        while stylesheets:
            css_file = stylesheets.pop()
            if css_file in seen:
                continue
            seen.add(css_file)
            css = css_file.read_text(encoding="utf-8")
            css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)  # URLs in comments load nothing
            assert not CSS_REMOTE.search(css), f"{css_file} loads from the internet"
            for url in CSS_LOCAL.findall(css):
                target = (css_file.parent / unquote(urlsplit(url).path)).resolve()
                assert target.is_file(), f"{css_file.name}: {url} does not exist"
                if target.suffix == ".css":
                    stylesheets.append(target)


def test_mermaid_blocks_become_mermaid_nodes(built: Built) -> None:
    deck = next(iter(built.decks.values()))
    page = parse_deck(deck)
    nodes = [normalise(node) for node in page.mermaid_nodes]
    assert normalise(FLOWCHART) in nodes
    # Escaped on the way in, so "<<interface>>" is text, not an HTML tag.
    assert normalise(CLASS_DIAGRAM) in nodes
    # Cells marked "skip" are not in the deck.
    assert not any("Skipped" in node for node in nodes)
    assert len(nodes) == 3


def test_mermaid_output_becomes_a_mermaid_node(built: Built) -> None:
    deck = next(iter(built.decks.values()))
    page = parse_deck(deck)
    assert [normalise(node) for node in page.mermaid_outputs] == [normalise(SEQUENCE)]
    assert "send <b>order</b> & more" in page.mermaid_outputs[0]


def test_deck_has_slides_notes_and_diagram_script(built: Built) -> None:
    deck = next(iter(built.decks.values()))
    text = deck.read_text(encoding="utf-8")
    page = parse_deck(deck)
    # Two slides, the first with a sub-slide; reveal.js nests each slide's sub-slides:
    # <section> <section/> <section/> </section> <section> <section/> </section>.
    assert page.sections == 5
    assert '<aside class="notes">' in text
    srcs = [s.get("src") or "" for s in page.scripts]
    mermaid_at = next(i for i, src in enumerate(srcs) if src.endswith("mermaid.min.js"))
    require_at = next(i for i, src in enumerate(srcs) if src.endswith("require.js"))
    assert mermaid_at < require_at
    joined = "\n".join(page.inline_scripts)
    assert "startOnLoad: false" in joined
    assert 'Reveal.on("slidechanged"' in joined
    assert "mermaid.run(" in joined


def test_real_notebook_diagrams_reach_their_decks(built: Built, build_slides: ModuleType) -> None:
    for notebook, deck in built.decks.items():
        expected = [normalise(source) for _cell, source in build_slides.mermaid_sources(nbformat.read(notebook, as_version=4))]
        found = [normalise(node) for node in parse_deck(deck).mermaid_nodes]
        for source in expected:
            assert source in found, f"{notebook.name}: diagram missing from the deck:\n{source}"


# --------------------------------------------------------------------------
# Failure modes (no npm needed)
# --------------------------------------------------------------------------


def test_skip_npm_fails_clearly_without_assets(
    build_slides: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(build_slides, "NODE_MODULES", tmp_path / "node_modules")
    with pytest.raises(build_slides.BuildError, match="(?s)slide assets missing .*mermaid@.*npm install"):
        build_slides.ensure_node_modules(skip_npm=True)


def test_missing_npm_fails_clearly(
    build_slides: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(build_slides, "NODE_MODULES", tmp_path / "node_modules")
    monkeypatch.setattr(build_slides.shutil, "which", lambda name: None)
    with pytest.raises(build_slides.BuildError, match="npm was not found.*Node.js"):
        build_slides.ensure_node_modules(skip_npm=False)


def test_no_notebooks_is_not_an_error(tmp_path: Path) -> None:
    run = run_build("--skip-npm", "--out", tmp_path / "out", "--root", tmp_path)
    assert run.returncode == 0, run.stderr
    assert "No notebooks found" in run.stdout


def test_missing_notebook_is_an_error(tmp_path: Path) -> None:
    run = run_build("--skip-npm", "--out", tmp_path / "out", tmp_path / "nope.ipynb")
    assert run.returncode == 2
    assert "no such notebook" in run.stderr


def test_remote_reference_finder(build_slides: ModuleType) -> None:
    template, content = build_slides.remote_references(
        '<script src="https://cdn.example/x.js"></script>'
        '<link rel="stylesheet" href="//cdn.example/x.css">'
        "<style>@import url(https://fonts.example/css);</style>"
        '<img src="http://example.com/a.png"><a href="https://example.com">a link is fine</a>'
        '<script src="assets/local.js"></script>'
    )
    assert len(template) == 3
    assert content == ["<img src='http://example.com/a.png'>"]
