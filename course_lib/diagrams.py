"""Draw Mermaid diagrams in a notebook without any network access.

JupyterLab (4.1 and later) ships its own copy of Mermaid and draws any output
whose MIME type is ``text/vnd.mermaid``.  So all a notebook has to do is hand
Jupyter a piece of Mermaid text labelled with that MIME type -- no web
service, no browser extension, nothing to download.

Why not ``mermaid.Mermaid`` from the mermaid-py package?  Creating one sends
the diagram to the mermaid.ink web service to get an SVG back.  Offline that
raises an error, behind a firewall it can hang for a long time.  The builder
classes of mermaid-py (``mermaid.flowchart.FlowChart``, ``Node``, ``Link``,
...) are plain Python, though: they only assemble text in their ``.script``
attribute.  :func:`from_builder` turns such a builder into a :class:`Diagram`.
This module never imports mermaid-py itself, so importing it is cheap and can
never touch the network.

Typical use in a notebook::

    from course_lib.diagrams import mermaid

    mermaid('''
        flowchart LR
            P[Producer] -->|publish| T[(orders topic)]
            T --> C[Consumer]
    ''', caption="A producer publishes to a topic that a consumer reads")

A blank space where a diagram should be is a frustrating way to learn that
a bracket is missing, so :func:`validate` checks the most common mistakes
first and :class:`Diagram` refuses text that fails the check, with an error
that names the line and the problem.
"""

from __future__ import annotations

import difflib
import re
import textwrap
from collections.abc import Collection
from typing import Protocol

__all__ = [
    "MERMAID_MIME_TYPE",
    "DIAGRAM_TYPES",
    "Diagram",
    "DiagramBuilder",
    "MermaidSyntaxError",
    "flowchart",
    "from_builder",
    "mermaid",
    "validate",
]

#: The MIME type JupyterLab (and nbconvert's HTML/slides output) renders as Mermaid.
MERMAID_MIME_TYPE = "text/vnd.mermaid"

#: Words Mermaid 11 accepts as the first line of a diagram ("flowchart LR" -> "flowchart").
DIAGRAM_TYPES: frozenset[str] = frozenset(
    {
        "flowchart",
        "flowchart-elk",
        "graph",
        "sequenceDiagram",
        "classDiagram",
        "classDiagram-v2",
        "stateDiagram",
        "stateDiagram-v2",
        "erDiagram",
        "gantt",
        "pie",
        "journey",
        "gitGraph",
        "mindmap",
        "timeline",
        "quadrantChart",
        "requirementDiagram",
        "C4Context",
        "C4Container",
        "C4Component",
        "C4Dynamic",
        "C4Deployment",
        "sankey",
        "sankey-beta",
        "xychart",
        "xychart-beta",
        "block",
        "block-beta",
        "packet",
        "packet-beta",
        "architecture-beta",
        "kanban",
        "radar-beta",
        "treemap",
        "treemap-beta",
        "zenuml",
    }
)

# Diagram types whose grammar accepts an ``accTitle:`` line right after the
# first line.  Mermaid turns it into the SVG's <title>, which JupyterLab and
# our slide decks use as the image's alt text (see ``Diagram.display_source``).
_TYPES_WITH_ACC_TITLE: frozenset[str] = frozenset(
    {
        "flowchart",
        "graph",
        "sequenceDiagram",
        "classDiagram",
        "stateDiagram",
        "stateDiagram-v2",
        "erDiagram",
        "gantt",
        "pie",
        "journey",
        "gitGraph",
        "requirementDiagram",
        "quadrantChart",
    }
)

_FLOWCHART_DIRECTIONS = ("LR", "RL", "TB", "TD", "BT")

# Blocks in a sequence diagram that must be closed by a line reading "end".
_SEQUENCE_BLOCKS = ("loop", "alt", "opt", "par", "par_over", "critical", "break", "rect", "box")

# Edge text written between the two halves of an arrow: "A -- some text --> B",
# "A == text ==> B", "A -. text .-> B".  Like text between quotes, it is free text.
_INLINE_EDGE_TEXT = re.compile(
    r"(?<![-=.])(?:--|==|-\.)\s(?P<text>.*?)\s*(?:-{2,}[>ox]|-{3,}|={2,}[>ox]|={3,}|\.-+[>ox]?)"
)

_OPENING_TO_CLOSING = {"(": ")", "[": "]", "{": "}"}
_CLOSING = frozenset(_OPENING_TO_CLOSING.values())


class MermaidSyntaxError(ValueError):
    """A mistake found by :func:`validate`, with the line (counted from 1) it is on."""

    def __init__(self, line_number: int, problem: str, line: str = "", column: int | None = None) -> None:
        self.line_number = line_number
        self.problem = problem
        self.line = line
        self.column = column
        message = f"Mermaid diagram, line {line_number}: {problem}"
        if line.strip():
            message += f"\n    {line.strip()}"
            if column is not None:
                message += "\n    " + " " * (column - 1) + "^"
        super().__init__(message)


# --------------------------------------------------------------------------
# Finding the first line ("flowchart LR", "sequenceDiagram", ...)
# --------------------------------------------------------------------------


def _find_header(lines: list[str]) -> int:
    """Return the index of the line that names the diagram type.

    Mermaid allows three things before that line, and mermaid-py's builders
    produce all of them, so they are skipped here:

    * blank lines,
    * YAML front matter between two ``---`` lines (mermaid-py puts the title there),
    * ``%%`` comments and ``%%{init: ...}%%`` directives, which may span lines.
    """
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1

    if index < len(lines) and lines[index].strip() == "---":
        opening = index
        index += 1
        while index < len(lines) and lines[index].strip() != "---":
            index += 1
        if index == len(lines):
            raise MermaidSyntaxError(
                opening + 1, "front matter opened with '---' is never closed by another '---'"
            )
        index += 1

    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped:
            index += 1
        elif stripped.startswith("%%{") and "}%%" not in stripped:
            opening = index
            while index < len(lines) and "}%%" not in lines[index]:
                index += 1
            if index == len(lines):
                raise MermaidSyntaxError(opening + 1, "directive opened with '%%{' is never closed by '}%%'")
            index += 1
        elif stripped.startswith("%%"):
            index += 1
        else:
            return index

    raise MermaidSyntaxError(len(lines), "there is no diagram after the front matter/comments")


def _diagram_type(header: str, line_number: int) -> str:
    """Return the diagram type named by ``header`` or explain what is wrong with it."""
    stripped = header.strip()
    if stripped.startswith(("```", "~~~")):
        raise MermaidSyntaxError(
            line_number,
            "remove the ``` fence lines: they belong around the diagram in a Markdown cell, "
            "not inside the Mermaid text",
            header,
        )
    match = re.match(r"[A-Za-z0-9_-]+", stripped)
    word = match.group(0) if match else stripped.split()[0]
    if word in DIAGRAM_TYPES:
        return word

    problem = f"'{word}' is not a Mermaid diagram type"
    same_ignoring_case = [known for known in DIAGRAM_TYPES if known.lower() == word.lower()]
    close = same_ignoring_case or difflib.get_close_matches(word, sorted(DIAGRAM_TYPES), n=1)
    if close:
        problem += f" -- did you mean '{close[0]}'? (Mermaid is case-sensitive)"
    else:
        problem += "; the first line must name one, e.g. 'flowchart LR' or 'sequenceDiagram'"
    raise MermaidSyntaxError(line_number, problem, header)


# --------------------------------------------------------------------------
# Checks for the body of a diagram
# --------------------------------------------------------------------------


def _is_comment(stripped_line: str) -> bool:
    return stripped_line.startswith("%%")


def _check_flowchart_line(line: str, line_number: int) -> None:
    """Check brackets, quotes and arrows on one flowchart line.

    In a flowchart every node shape is a bracket pair -- ``A[box]``,
    ``B(rounded)``, ``C{decision}``, ``D[(database)]`` -- so an unbalanced
    bracket or quote is almost always a typo.  Text inside double quotes and
    edge text (``A -->|text| B`` or ``A -- text --> B``) is free text and is
    not checked.
    ``A>flag]`` is the one shape that opens with ``>``.
    """
    line = line.strip()  # columns count from the first visible character
    # Scan a copy with inline edge text blanked out (same length, so the
    # columns still match the line shown in error messages).
    scanned = line
    for match in _INLINE_EDGE_TEXT.finditer(line):
        start, end = match.span("text")
        scanned = scanned[:start] + " " * (end - start) + scanned[end:]
    open_brackets: list[tuple[str, int]] = []  # (closing character expected, column)
    quote_column: int | None = None
    in_edge_label = False
    previous = ""
    column = 0
    while column < len(scanned):
        char = scanned[column]
        if quote_column is not None:
            if char == '"':
                quote_column = None
        elif char == '"':
            quote_column = column
        elif in_edge_label:
            if char == "|":
                in_edge_label = False
        elif char == "|" and not open_brackets:
            in_edge_label = True
        elif char in _OPENING_TO_CLOSING:
            open_brackets.append((_OPENING_TO_CLOSING[char], column))
        elif char == ">" and (previous.isalnum() or previous == "_") and not open_brackets:
            open_brackets.append(("]", column))  # the flag shape A>text]
        elif char in _CLOSING:
            if not open_brackets:
                raise MermaidSyntaxError(
                    line_number,
                    f"'{char}' at column {column + 1} has no opening bracket",
                    line,
                    column + 1,
                )
            expected, opened_at = open_brackets.pop()
            if char != expected:
                raise MermaidSyntaxError(
                    line_number,
                    f"the bracket opened at column {opened_at + 1} should be closed with "
                    f"'{expected}', not '{char}' (column {column + 1})",
                    line,
                    column + 1,
                )
        elif (
            char == "-"
            and scanned[column + 1 : column + 2] == ">"
            and previous not in ("-", ".", "=")
            and not open_brackets
        ):
            raise MermaidSyntaxError(
                line_number,
                f"'->' at column {column + 1} is not a flowchart arrow; write '-->'",
                line,
                column + 1,
            )
        previous = char
        column += 1

    if quote_column is not None:
        raise MermaidSyntaxError(
            line_number,
            f"the '\"' at column {quote_column + 1} is never closed",
            line,
            quote_column + 1,
        )
    if in_edge_label:
        raise MermaidSyntaxError(line_number, "an edge label opened with '|' is never closed", line)
    if open_brackets:
        expected, opened_at = open_brackets[-1]
        opening = line[opened_at]
        raise MermaidSyntaxError(
            line_number,
            f"'{opening}' at column {opened_at + 1} is never closed with '{expected}'",
            line,
            opened_at + 1,
        )


def _check_blocks(
    lines: list[str],
    first_index: int,
    opener: re.Pattern[str],
    closer: re.Pattern[str],
    closer_name: str,
    hint: str = "",
) -> None:
    """Check that every block opened by one kind of line is closed by another.

    Flowcharts close ``subgraph`` with ``end``; sequence diagrams close
    ``loop``/``alt``/``opt``/... with ``end``; class, state and ER diagrams
    close ``Name {`` with ``}``.  A missing or extra closer makes Mermaid
    reject the whole diagram.  ``opener`` must capture the opening word in
    group 1 so the error can name it.
    """
    open_blocks: list[tuple[int, str]] = []  # (line index, opening word)
    for index in range(first_index, len(lines)):
        stripped = lines[index].strip()
        if not stripped or _is_comment(stripped):
            continue
        opening = opener.search(stripped)
        if closer.search(stripped):
            if not open_blocks:
                raise MermaidSyntaxError(
                    index + 1, f"'{closer_name}' has nothing to close{hint}", lines[index]
                )
            open_blocks.pop()
        elif opening:
            open_blocks.append((index, opening.group(1)))
    if open_blocks:
        index, word = open_blocks[-1]
        raise MermaidSyntaxError(
            index + 1, f"'{word}' opened here is never closed with '{closer_name}'", lines[index]
        )


def validate(source: str) -> str:
    """Check ``source`` for common Mermaid mistakes and return its diagram type.

    This is a quick sanity check, not a Mermaid parser.  It catches, with the
    line number:

    * an empty diagram, or a first line that is not a diagram type
      (``Flowchart``, ``sequence``, a pasted ````` ```mermaid ````` fence, ...);
    * in flowcharts: unbalanced brackets or quotes on a line, ``->`` instead
      of ``-->``, and ``subgraph`` without ``end`` (or the reverse);
    * in sequence diagrams: ``loop``/``alt``/``opt``/``par``/``critical``/
      ``break``/``rect``/``box`` without ``end`` (or the reverse);
    * in class, state and ER diagrams: a ``{`` block without ``}``.

    Other diagram types only get the first-line check: in them brackets and
    quotes are ordinary text (``A-)B`` is an arrow in a sequence diagram,
    ``}o--||`` a cardinality in an ER diagram), so checking them would raise
    false alarms.

    Raises :class:`MermaidSyntaxError` (a ``ValueError``) for the first
    problem found.
    """
    if not isinstance(source, str):
        raise TypeError(f"a Mermaid diagram must be a str, not {type(source).__name__}")
    if not source.strip():
        raise MermaidSyntaxError(1, "the diagram is empty")

    lines = source.splitlines()
    header_index = _find_header(lines)
    kind = _diagram_type(lines[header_index], header_index + 1)

    if kind in ("flowchart", "flowchart-elk", "graph"):
        for index in range(header_index, len(lines)):
            stripped = lines[index].strip()
            if stripped and not _is_comment(stripped):
                _check_flowchart_line(stripped, index + 1)
        _check_blocks(
            lines,
            header_index + 1,
            opener=re.compile(r"^(subgraph)\b"),
            closer=re.compile(r"^end\s*;?$"),
            closer_name="end",
            hint=" -- no 'subgraph' is open (a node called 'end' must be capitalised, e.g. 'End')",
        )
    elif kind == "sequenceDiagram":
        _check_blocks(
            lines,
            header_index + 1,
            opener=re.compile(r"^(" + "|".join(_SEQUENCE_BLOCKS) + r")(?:\s|$)"),
            closer=re.compile(r"^end\s*;?$"),
            closer_name="end",
            hint=" -- no loop/alt/opt/par/critical/break/rect/box block is open",
        )
    elif kind in ("classDiagram", "classDiagram-v2", "stateDiagram", "stateDiagram-v2", "erDiagram"):
        _check_blocks(
            lines,
            header_index + 1,
            opener=re.compile(r"(\{)$"),
            closer=re.compile(r"^\}"),
            closer_name="}",
        )
    return kind


# --------------------------------------------------------------------------
# The Diagram object Jupyter displays
# --------------------------------------------------------------------------


class Diagram:
    """A Mermaid diagram that Jupyter draws without any network access.

    ``Diagram(source, caption)`` checks ``source`` with :func:`validate`
    (raising ``ValueError`` that names the line and the problem) and keeps a
    tidied copy: the common indentation of a triple-quoted string and blank
    lines around it are removed, exactly as Mermaid itself would ignore them.

    The caption describes the diagram in words.  It is shown above the
    Mermaid text wherever the diagram cannot be drawn (a terminal, a plain-
    text export) and becomes the diagram's alt text for screen readers.
    """

    def __init__(self, source: str, caption: str | None = None) -> None:
        if not isinstance(source, str):
            raise TypeError(f"a Mermaid diagram must be a str, not {type(source).__name__}")
        tidy_source = textwrap.dedent(source).strip("\n").rstrip()
        self._kind = validate(tidy_source)
        self._source = tidy_source
        self._caption = " ".join(caption.split()) if caption and caption.strip() else None

    @property
    def source(self) -> str:
        """The Mermaid text, as written (minus surrounding indentation and blank lines)."""
        return self._source

    @property
    def caption(self) -> str | None:
        """A one-line description of the diagram, or ``None``."""
        return self._caption

    @property
    def kind(self) -> str:
        """The diagram type named on the first line, e.g. ``"flowchart"``."""
        return self._kind

    @property
    def display_source(self) -> str:
        """The Mermaid text sent to Jupyter: :attr:`source` plus the caption as alt text.

        Mermaid turns an ``accTitle: ...`` line into the SVG's ``<title>``,
        which JupyterLab uses as the alt text of the drawn image.  For the
        diagram types that accept it, and when the source has no ``accTitle``
        of its own, the caption is added as that line, right after the line
        naming the diagram type.  Otherwise this is :attr:`source` unchanged.
        """
        if self._caption is None or self._kind not in _TYPES_WITH_ACC_TITLE:
            return self._source
        if re.search(r"^\s*accTitle\s*:", self._source, flags=re.MULTILINE):
            return self._source
        lines = self._source.splitlines()
        header_index = _find_header(lines)
        indent = "    "
        if header_index + 1 < len(lines):
            next_line = lines[header_index + 1]
            indent = next_line[: len(next_line) - len(next_line.lstrip())] or indent
        lines.insert(header_index + 1, f"{indent}accTitle: {self._caption}")
        return "\n".join(lines)

    def _plain_text(self) -> str:
        if self._caption is None:
            return self._source
        return f"{self._caption}\n\n{self._source}"

    def _repr_mimebundle_(
        self, include: Collection[str] | None = None, exclude: Collection[str] | None = None
    ) -> dict[str, str]:
        """Tell Jupyter how to show the diagram.

        ``text/vnd.mermaid`` is drawn by JupyterLab's built-in Mermaid;
        ``text/plain`` is the fallback for every front end that cannot draw
        it.  The result depends only on the source and caption, so
        re-running a notebook never changes its saved outputs.  IPython may
        pass ``include``/``exclude`` to ask for some MIME types only.
        """
        bundle = {MERMAID_MIME_TYPE: self.display_source, "text/plain": self._plain_text()}
        if include:
            bundle = {mime: data for mime, data in bundle.items() if mime in include}
        if exclude:
            bundle = {mime: data for mime, data in bundle.items() if mime not in exclude}
        return bundle

    def __str__(self) -> str:
        return self._source

    def __repr__(self) -> str:
        if self._caption is None:
            return f"Diagram({self._source!r})"
        return f"Diagram({self._source!r}, caption={self._caption!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Diagram):
            return NotImplemented
        return (self._source, self._caption) == (other._source, other._caption)

    def __hash__(self) -> int:
        return hash((self._source, self._caption))


# --------------------------------------------------------------------------
# Convenience functions
# --------------------------------------------------------------------------


def mermaid(source: str, caption: str | None = None) -> Diagram:
    """Return a :class:`Diagram` for ``source``; the last line of a cell displays it."""
    return Diagram(source, caption)


def flowchart(*lines: str, direction: str = "LR", caption: str | None = None) -> Diagram:
    """Build a flowchart from its lines, without writing the ``flowchart LR`` header.

    ``flowchart("P[Producer] --> T[(topic)]", "T --> C[Consumer]")`` is the
    same as ``mermaid("flowchart LR\\n    P[Producer] --> ...")``.
    ``direction`` is where the arrows mostly point: ``LR`` (left to right),
    ``RL``, ``TB``/``TD`` (top to bottom) or ``BT``.
    """
    if direction not in _FLOWCHART_DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(_FLOWCHART_DIRECTIONS)}, not {direction!r}")
    body = "\n".join(f"    {line.strip()}" for line in lines)
    return Diagram(f"flowchart {direction}\n{body}", caption)


class DiagramBuilder(Protocol):
    """Anything with a ``.script`` string, such as mermaid-py's ``FlowChart``."""

    script: str


def from_builder(chart: DiagramBuilder, caption: str | None = None) -> Diagram:
    """Turn a mermaid-py builder (``FlowChart``, ``SequenceDiagram``, ...) into a :class:`Diagram`.

    The builders only assemble Mermaid text in ``chart.script``; reading it
    never touches the network.  (Do not wrap them in ``mermaid.Mermaid``:
    that one calls the mermaid.ink web service.)  Without an explicit
    caption, the builder's ``title`` is used.
    """
    script = getattr(chart, "script", None)
    if not isinstance(script, str):
        raise TypeError(f"expected a mermaid-py builder with a .script string, got {type(chart).__name__}")
    if caption is None:
        title = getattr(chart, "title", None)
        caption = title if isinstance(title, str) and title.strip() else None
    return Diagram(script, caption)
