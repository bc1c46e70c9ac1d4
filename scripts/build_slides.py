"""Build one offline reveal.js slide deck per course notebook.

    python scripts/build_slides.py [--out build/slides] [--skip-npm] [NOTEBOOK ...]

Without NOTEBOOK arguments every ``modules/**/*.ipynb`` is built.  A notebook
``modules/10-event-driven/01-events.ipynb`` becomes
``build/slides/10-event-driven/01-events.slides.html``; notebooks outside
``--root`` (default ``modules/``) go straight into ``--out``.  Decks show the
outputs saved in the notebook; nothing is executed.

``jupyter nbconvert --to slides`` loads reveal.js, require.js, jQuery,
MathJax and Mermaid from CDNs.  This script instead installs them from the
npm registry (``package.json``; into ``node_modules/``, never committed),
copies the files the decks need to ``<out>/assets/`` and points every deck at
them with RELATIVE URLs.  The folder works opened from disk or from any web
server, and a deck never asks another machine for anything.  The template
``templates/course_reveal`` draws Mermaid diagrams (```` ```mermaid ```` blocks
in Markdown cells and ``text/vnd.mermaid`` outputs, see course_lib.diagrams)
slide by slide.

Exit status: 0 when every deck was built, 1 when a notebook failed to
convert, 2 when the assets or tools are missing.
"""

from __future__ import annotations

import argparse
import fnmatch
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
TEMPLATE_NAME = "course_reveal"
NODE_MODULES = ROOT / "node_modules"
DEFAULT_THEME = "white"  # reveal.js themes such as "simple" @import Google Fonts


@dataclass(frozen=True)
class Asset:
    """Files of one npm package that the decks load, copied to ``assets/<package>/``."""

    package: str
    paths: tuple[str, ...]  # files or folders inside the package


ASSETS = (
    Asset("reveal.js", ("dist", "plugin/notes")),
    Asset("mermaid", ("dist/mermaid.min.js",)),
    Asset("requirejs", ("require.js",)),
    Asset("jquery", ("dist/jquery.min.js",)),
    # MathJax 2 (the version nbconvert's template drives): the TeX input,
    # CommonHTML output and its web fonts -- 5 MB of the package's 70 MB.
    Asset(
        "mathjax",
        (
            "MathJax.js",
            "config/TeX-AMS_CHTML-full.js",
            "config/Safe.js",  # the URL asks for config=TeX-AMS_CHTML-full,Safe
            "extensions",
            "jax/input/TeX",
            "jax/output/CommonHTML",
            "jax/output/PreviewHTML",
            "jax/output/NativeMML",
            "jax/element",
            "fonts/HTML-CSS/TeX/woff",
            "localization/en",
        ),
    ),
)
SKIPPED_FILES = ("*.map", "*.esm.js", "*.d.ts")  # source maps and ES-module builds are not loaded

# Relative to <out>/assets/.
REVEAL_DIR = "reveal.js"
REQUIRE_JS = "requirejs/require.js"
JQUERY_JS = "jquery/dist/jquery.min.js"
MERMAID_JS = "mermaid/dist/mermaid.min.js"
MATHJAX_JS = "mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"


class BuildError(Exception):
    """A problem that stops the whole build (missing tools or assets)."""


# --------------------------------------------------------------------------
# Assets
# --------------------------------------------------------------------------


def pinned_versions() -> dict[str, str]:
    """The versions package.json asks for, e.g. {"mermaid": "11.17.2", ...}."""
    manifest = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    return dict(manifest["dependencies"])


def installed_version(package: str) -> str | None:
    manifest = NODE_MODULES / package / "package.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text(encoding="utf-8")).get("version")


def missing_assets() -> list[str]:
    """Packages (with the wanted version) that node_modules/ lacks or has in another version."""
    missing = []
    for package, version in pinned_versions().items():
        if installed_version(package) != version:
            missing.append(f"{package}@{version}")
    for asset in ASSETS:
        if any(name.startswith(f"{asset.package}@") for name in missing):
            continue  # the whole package is missing or outdated: no need to list its files
        for path in asset.paths:
            if not (NODE_MODULES / asset.package / path).exists():
                missing.append(f"{asset.package}/{path}")
    return missing


def ensure_node_modules(skip_npm: bool) -> None:
    """Run ``npm install`` when node_modules/ lacks the pinned assets."""
    missing = missing_assets()
    if not missing:
        return
    if skip_npm:
        raise BuildError(
            f"slide assets missing from {NODE_MODULES}: {', '.join(missing)}\n"
            "Run `npm install --no-audit --no-fund` in the repository root, "
            "or build without --skip-npm."
        )
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError(
            "npm was not found, and it is needed once to download the slide assets "
            f"({', '.join(missing)}). Install Node.js 18 or later (it includes npm), "
            "then run `make slides` again."
        )
    print(f"Installing slide assets with npm ({len(missing)} missing) ...", flush=True)
    result = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=ROOT)
    if result.returncode != 0:
        raise BuildError(f"`npm install` failed with exit status {result.returncode}")
    still_missing = missing_assets()
    if still_missing:
        raise BuildError(f"still missing after npm install: {', '.join(still_missing)}")


def copy_assets(assets_dir: Path) -> None:
    """Copy the files the decks load from node_modules/ to ``assets_dir``."""
    for asset in ASSETS:
        for path in asset.paths:
            source = NODE_MODULES / asset.package / path
            target = assets_dir / asset.package / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(
                    source,
                    target,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(*SKIPPED_FILES),
                )
            else:
                shutil.copy2(source, target)
    versions = {asset.package: installed_version(asset.package) for asset in ASSETS}
    (assets_dir / "VERSIONS.json").write_text(json.dumps(versions, indent=2) + "\n", encoding="utf-8")


def check_theme(assets_dir: Path, theme: str) -> None:
    """Refuse reveal.js themes that load their fonts from the internet."""
    themes_dir = assets_dir / REVEAL_DIR / "dist" / "theme"
    theme_css = themes_dir / f"{theme}.css"
    offline = sorted(
        css.stem for css in themes_dir.glob("*.css") if not remote_css_urls(css.read_text("utf-8"))
    )
    if not theme_css.is_file():
        raise BuildError(f"unknown reveal.js theme {theme!r}; offline themes: {', '.join(offline)}")
    if remote_css_urls(theme_css.read_text("utf-8")):
        raise BuildError(
            f"the reveal.js theme {theme!r} loads fonts from the internet; pick one of: {', '.join(offline)}"
        )


# --------------------------------------------------------------------------
# Checking a deck for requests to other machines
# --------------------------------------------------------------------------

_REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
_CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s]+)""", re.IGNORECASE)


def remote_css_urls(css: str) -> list[str]:
    return _CSS_URL.findall(css)


class _RemoteReferenceFinder(HTMLParser):
    """Collect what a page would fetch from other machines.

    ``<a href>`` is a link the reader may follow, not something the page
    loads, so it is not reported.
    """

    LOADING_ATTRIBUTES = {"src", "href", "data", "poster", "srcset"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.template_refs: list[str] = []  # <script>, <link>, CSS: come from the template
        self.content_refs: list[str] = []  # <img>, <iframe>, ...: come from notebook cells
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            if name == "style":
                self.content_refs += [f"<{tag} style> {url}" for url in remote_css_urls(value)]
            if tag == "a" or name not in self.LOADING_ATTRIBUTES or not _REMOTE.match(value):
                continue
            found = self.template_refs if tag in ("script", "link") else self.content_refs
            found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.template_refs += [f"<style> {url}" for url in remote_css_urls(data)]


def remote_references(page: str) -> tuple[list[str], list[str]]:
    """Return (template references, notebook-content references) to other machines."""
    finder = _RemoteReferenceFinder()
    finder.feed(page)
    finder.close()
    return finder.template_refs, finder.content_refs


# --------------------------------------------------------------------------
# Converting notebooks
# --------------------------------------------------------------------------


def make_exporter(assets_url: str, theme: str):
    """A SlidesExporter using templates/course_reveal and assets under ``assets_url``."""
    import jinja2
    from nbconvert import SlidesExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
    from traitlets.config import Config

    class MermaidEscapingRenderer(IPythonRenderer):
        """nbconvert's Markdown renderer, escaping the text of ```mermaid blocks.

        nbconvert 7.17 copies the text of a ```mermaid block into the page
        unescaped, so "<<interface>>" or "<br>" in a diagram becomes an HTML
        tag and the diagram breaks.  Mermaid decodes &lt; back to < itself.
        """

        def block_mermaidjs(self, code: str) -> str:
            escaped = html.escape(code.strip(), quote=False)
            return f'<div class="jp-Mermaid"><pre class="mermaid">\n{escaped}\n</pre></div>'

    class CourseSlidesExporter(SlidesExporter):
        @jinja2.pass_context
        def markdown2html(self, context, source):  # same as nbconvert's, other renderer
            cell = context.get("cell", {})
            renderer = MermaidEscapingRenderer(
                escape=False,
                attachments=cell.get("attachments", {}),
                embed_images=self.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=self.anchor_link_text,
                exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options,
            )
            return MarkdownWithMath(renderer=renderer).render(source)

    config = Config()
    config.TemplateExporter.extra_template_basedirs = [str(TEMPLATES)]
    config.SlidesExporter.template_name = TEMPLATE_NAME
    config.SlidesExporter.reveal_url_prefix = f"{assets_url}/{REVEAL_DIR}"
    config.SlidesExporter.reveal_theme = theme
    config.SlidesExporter.reveal_scroll = True  # long slides scroll instead of being cut off
    config.HTMLExporter.require_js_url = f"{assets_url}/{REQUIRE_JS}"
    config.HTMLExporter.jquery_url = f"{assets_url}/{JQUERY_JS}"
    config.HTMLExporter.mathjax_url = f"{assets_url}/{MATHJAX_JS}"
    config.HTMLExporter.embed_images = True  # local images in Markdown cells travel inside the deck
    config.HTMLExporter.jupyter_widgets_base_url = ""
    exporter = CourseSlidesExporter(config=config)
    # Not configurable (no config=True tag in nbconvert 7.17), but plain attributes.
    exporter.mermaid_js_url = f"{assets_url}/{MERMAID_JS}"
    exporter.mermaid_layout_elk_js_url = ""
    return exporter


_MERMAID_FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*mermaid[^\n]*\n(?P<source>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def mermaid_sources(notebook) -> list[tuple[int, str]]:
    """(cell number, Mermaid text) of every diagram in a notebook's slides.

    Diagrams are ```mermaid blocks in Markdown cells and text/vnd.mermaid
    outputs of code cells.  Cells marked as "skip" in the slideshow are left
    out, as they are from the deck.
    """
    found = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.get("metadata", {}).get("slideshow", {}).get("slide_type") == "skip":
            continue
        if cell.cell_type == "markdown":
            found += [(number, match.group("source")) for match in _MERMAID_FENCE.finditer(cell.source)]
        elif cell.cell_type == "code":
            for output in cell.get("outputs", []):
                source = output.get("data", {}).get("text/vnd.mermaid")
                if source is not None:
                    found.append((number, "".join(source) if isinstance(source, list) else source))
    return found


def warn_about_diagrams(notebook_path: Path) -> None:
    """Print a warning for each diagram that course_lib.diagrams.validate rejects.

    Mermaid shows a "Syntax error" bomb in place of such a diagram; the
    warning says which cell and line to fix.
    """
    import nbformat

    try:
        from course_lib.diagrams import validate
    except ImportError:  # the course library is not installed: skip the check
        return
    notebook = nbformat.read(notebook_path, as_version=4)
    for cell_number, source in mermaid_sources(notebook):
        try:
            validate(source)
        except ValueError as error:
            first_line = str(error).splitlines()[0]
            print(f"  warning: {notebook_path.name}, cell {cell_number}: {first_line}", file=sys.stderr)


def deck_path(notebook: Path, root: Path, out: Path) -> Path:
    """Where the deck for ``notebook`` goes: its path below ``root``, under ``out``."""
    notebook = notebook.resolve()
    try:
        relative = notebook.relative_to(root.resolve())
    except ValueError:
        relative = Path(notebook.name)
    return out / relative.with_suffix(".slides.html")


def build_deck(notebook: Path, deck: Path, assets_dir: Path, theme: str) -> str:
    """Convert one notebook and write its deck; return a one-line summary."""
    assets_url = Path(os.path.relpath(assets_dir, deck.parent)).as_posix()
    exporter = make_exporter(assets_url, theme)
    page, _resources = exporter.from_filename(str(notebook))

    template_refs, content_refs = remote_references(page)
    if template_refs:
        raise BuildError(f"the deck would load files from the internet: {template_refs}")
    for reference in content_refs:
        print(f"  warning: {notebook.name} loads {reference} from the internet", file=sys.stderr)

    warn_about_diagrams(notebook)

    deck.parent.mkdir(parents=True, exist_ok=True)
    deck.write_text(page, encoding="utf-8")
    slides = page.count("<section")
    diagrams = page.count('<pre class="mermaid">')
    return f"{slides} slide sections, {diagrams} diagrams"


def write_index(out: Path) -> None:
    """Write ``<out>/index.html`` linking to every deck in ``out``."""
    decks = sorted(out.rglob("*.slides.html"))
    items = "\n".join(
        f'  <li><a href="{html.escape(deck.relative_to(out).as_posix())}">'
        f"{html.escape(deck.relative_to(out).as_posix().removesuffix('.slides.html'))}</a></li>"
        for deck in decks
    )
    (out / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        "<title>Course slides</title></head>\n<body>\n<h1>Course slides</h1>\n"
        f"<ul>\n{items}\n</ul>\n</body>\n</html>\n",
        encoding="utf-8",
    )


def find_notebooks(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.parts and not fnmatch.fnmatch(path.name, ".*")
    )


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        metavar="NOTEBOOK",
        help="notebooks to build (default: every modules/**/*.ipynb)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "slides", help="output folder (default: build/slides)"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT / "modules",
        help="decks keep the folder structure below this folder (default: modules)",
    )
    parser.add_argument("--theme", default=DEFAULT_THEME, help=f"reveal.js theme (default: {DEFAULT_THEME})")
    parser.add_argument(
        "--skip-npm", action="store_true", help="never run npm; fail if node_modules/ lacks the assets"
    )
    args = parser.parse_args(argv)

    notebooks = args.notebooks or find_notebooks(args.root)
    if not notebooks:
        print(f"No notebooks found under {display(args.root)}; no slides to build.")
        return 0
    for notebook in notebooks:
        if not notebook.is_file():
            print(f"error: no such notebook: {notebook}", file=sys.stderr)
            return 2
    decks = [deck_path(notebook, args.root, args.out) for notebook in notebooks]
    duplicates = {deck for deck in decks if decks.count(deck) > 1}
    if duplicates:
        print(f"error: several notebooks would write {sorted(map(str, duplicates))}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    assets_dir = args.out / "assets"
    try:
        import nbconvert  # noqa: F401
    except ImportError:
        print("error: nbconvert is not installed; run `pip install -e '.[dev]'`", file=sys.stderr)
        return 2
    try:
        ensure_node_modules(skip_npm=args.skip_npm)
        copy_assets(assets_dir)
        check_theme(assets_dir, args.theme)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    failures = 0
    for notebook, deck in zip(notebooks, decks, strict=False):
        try:
            summary = build_deck(notebook, deck, assets_dir, args.theme)
        except Exception as error:  # one broken notebook must not hide the others
            failures += 1
            print(f"FAILED {display(notebook)}: {type(error).__name__}: {error}", file=sys.stderr)
        else:
            print(f"{display(notebook)} -> {display(deck)} ({summary})")
    write_index(args.out)

    elapsed = time.perf_counter() - started
    built = len(notebooks) - failures
    print(f"Built {built} of {len(notebooks)} decks in {display(args.out)} ({elapsed:.1f} s).")
    if failures:
        print(f"error: {failures} notebook(s) failed to convert", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
