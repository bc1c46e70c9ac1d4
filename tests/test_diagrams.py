"""Tests for course_lib.diagrams: offline Mermaid diagrams for notebooks."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest

from course_lib.diagrams import (
    DIAGRAM_TYPES,
    MERMAID_MIME_TYPE,
    Diagram,
    MermaidSyntaxError,
    flowchart,
    from_builder,
    mermaid,
    validate,
)

PIPELINE = """
    flowchart LR
        P[Producer] -->|publish| T[(orders topic)]
        T --> C[Consumer]
"""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every attempt to open a network connection fail loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# --------------------------------------------------------------------------
# The MIME bundle Jupyter sees
# --------------------------------------------------------------------------


def test_mime_bundle_has_mermaid_and_plain_text() -> None:
    diagram = mermaid(PIPELINE)
    bundle = diagram._repr_mimebundle_()
    assert set(bundle) == {"text/vnd.mermaid", "text/plain"}
    assert MERMAID_MIME_TYPE == "text/vnd.mermaid"
    assert bundle["text/vnd.mermaid"] == diagram.source
    assert bundle["text/plain"] == diagram.source


def test_source_is_dedented_and_stripped() -> None:
    diagram = mermaid(PIPELINE)
    assert diagram.source == (
        "flowchart LR\n"
        "    P[Producer] -->|publish| T[(orders topic)]\n"
        "    T --> C[Consumer]"
    )
    assert str(diagram) == diagram.source
    assert diagram.kind == "flowchart"


def test_mime_bundle_is_deterministic() -> None:
    first = Diagram(PIPELINE, caption="Orders flow")
    second = Diagram(PIPELINE, caption="Orders flow")
    assert first._repr_mimebundle_() == first._repr_mimebundle_()
    assert first._repr_mimebundle_() == second._repr_mimebundle_()
    assert first == second
    assert hash(first) == hash(second)
    assert first != Diagram(PIPELINE)


def test_include_and_exclude_filter_the_bundle() -> None:
    diagram = mermaid(PIPELINE)
    assert set(diagram._repr_mimebundle_(include=["text/plain"])) == {"text/plain"}
    assert set(diagram._repr_mimebundle_(exclude=["text/plain"])) == {"text/vnd.mermaid"}


def test_ipython_displays_the_bundle() -> None:
    from IPython.core.formatters import DisplayFormatter

    data, _metadata = DisplayFormatter().format(mermaid(PIPELINE, caption="Orders"))
    assert data["text/vnd.mermaid"].startswith("flowchart LR")
    assert data["text/plain"].startswith("Orders\n\nflowchart LR")


# --------------------------------------------------------------------------
# Captions
# --------------------------------------------------------------------------


def test_caption_heads_the_plain_text() -> None:
    diagram = mermaid(PIPELINE, caption="A producer publishes\n   to a topic")
    assert diagram.caption == "A producer publishes to a topic"
    assert diagram._repr_mimebundle_()["text/plain"] == (
        "A producer publishes to a topic\n\n" + diagram.source
    )


def test_caption_becomes_acc_title_after_the_header() -> None:
    diagram = mermaid(PIPELINE, caption="Orders flow")
    lines = diagram._repr_mimebundle_()["text/vnd.mermaid"].splitlines()
    assert lines[0] == "flowchart LR"
    assert lines[1] == "    accTitle: Orders flow"
    assert lines[2:] == diagram.source.splitlines()[1:]
    # The learner's own text is unchanged.
    assert "accTitle" not in diagram.source


def test_caption_after_front_matter_and_directive() -> None:
    source = '---\ntitle: Pipeline\n---\n%%{\n  init: {"theme": "forest"}\n}%%\nsequenceDiagram\n  A->>B: hi'
    lines = Diagram(source, caption="Greeting").display_source.splitlines()
    assert lines[6] == "sequenceDiagram"
    assert lines[7] == "  accTitle: Greeting"


def test_existing_acc_title_is_kept() -> None:
    source = "flowchart LR\n    accTitle: Mine\n    A --> B"
    assert Diagram(source, caption="Other").display_source == source


def test_no_acc_title_for_diagram_types_without_it() -> None:
    source = "mindmap\n  root((events))\n    ordering\n    delivery"
    diagram = Diagram(source, caption="What events need")
    assert diagram._repr_mimebundle_()["text/vnd.mermaid"] == source
    assert diagram._repr_mimebundle_()["text/plain"].startswith("What events need\n\n")


@pytest.mark.parametrize("caption", [None, "", "   "])
def test_blank_caption_means_no_caption(caption: str | None) -> None:
    diagram = Diagram(PIPELINE, caption=caption)
    assert diagram.caption is None
    assert diagram._repr_mimebundle_()["text/plain"] == diagram.source
    assert repr(diagram) == f"Diagram({diagram.source!r})"


def test_repr_shows_caption() -> None:
    assert repr(Diagram("graph TD\n A-->B", "x")) == "Diagram('graph TD\\n A-->B', caption='x')"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def test_flowchart_helper_writes_the_header() -> None:
    diagram = flowchart("P[Producer] --> T[(topic)]", "T --> C[Consumer]", direction="TB")
    assert diagram.source == "flowchart TB\n    P[Producer] --> T[(topic)]\n    T --> C[Consumer]"


def test_flowchart_helper_rejects_unknown_direction() -> None:
    with pytest.raises(ValueError, match="direction must be one of"):
        flowchart("A --> B", direction="left")


def test_flowchart_builder_converts_without_network(
    no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mermaid as mermaid_py
    from mermaid.flowchart import FlowChart, Link, Node

    def no_web_service(*args: object, **kwargs: object) -> None:
        raise AssertionError("mermaid.Mermaid must never be created: it calls mermaid.ink")

    monkeypatch.setattr(mermaid_py.Mermaid, "__init__", no_web_service)

    producer = Node("Producer")
    topic = Node("Orders topic", shape="cylindrical")
    consumer = Node("Consumer", shape="round-edge")
    chart = FlowChart(
        "Order pipeline",
        nodes=[producer, topic, consumer],
        links=[Link(producer, topic, message="publish"), Link(topic, consumer)],
        orientation="LR",
    )
    diagram = from_builder(chart)
    assert diagram.kind == "flowchart"
    assert diagram.caption == "Order pipeline"
    assert diagram.source == chart.script.strip("\n")
    bundle = diagram._repr_mimebundle_()
    assert 'producer["Producer"]' in bundle["text/vnd.mermaid"]
    assert "accTitle: Order pipeline" in bundle["text/vnd.mermaid"]


def test_sequence_builder_converts(no_network: None) -> None:
    from mermaid.sequence import Actor, Link, SequenceDiagram

    alice, bob = Actor("Alice"), Actor("Bob")
    chart = SequenceDiagram("Hello", [alice, bob, Link(alice, bob, "Solid-arrow", "hi")])
    diagram = from_builder(chart, caption="Alice greets Bob")
    assert diagram.kind == "sequenceDiagram"
    assert diagram.caption == "Alice greets Bob"


def test_from_builder_needs_a_script() -> None:
    with pytest.raises(TypeError, match="builder with a .script"):
        from_builder(object())  # type: ignore[arg-type]


def test_importing_mermaid_py_and_this_module_makes_no_connection() -> None:
    """Run in a fresh interpreter so nothing is already imported."""
    code = textwrap.dedent(
        """
        import socket, sys

        def refuse(*args, **kwargs):
            raise SystemExit("network access attempted during import")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        import course_lib
        before = set(sys.modules)
        import course_lib.diagrams
        loaded = set(sys.modules) - before
        assert not any(name.split(".")[0] in {"mermaid", "requests"} for name in loaded), loaded

        import mermaid, mermaid.flowchart, mermaid.sequence, mermaid.erdiagram
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip() == "ok"


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------

VALID = {
    "flowchart shapes": """
        flowchart LR
            A["f(x"] -.-> B{ok?}
            B -- yes --> C[(db)]
            B ==>|"no (retry)"| A
            E>flag] --> F((circle))
            A -- text with ( --> F
            G[/in/] --> H[\\out\\] --> I{{hex}}
            A <--> B
            e1@{ shape: rect }
            click A "https://example.com" _blank
            %% an (unbalanced comment
            subgraph S [Sub graph]
                direction TB
                X --> Y
            end
    """,
    "graph one line": "graph TD;A-->B;",
    "sequence": """
        sequenceDiagram
            A-)B: async (x
            alt ok
                B-->>A: y
            else no
                B--xA: z
            end
            box Aqua group
                participant C
            end
    """,
    "class": """
        classDiagram
            class Shape{
                <<interface>>
                +area() float
            }
            Shape <|-- Square
    """,
    "er": """
        erDiagram
            CUSTOMER ||--o{ ORDER : places
            ORDER ||--|{ LINE-ITEM : contains
            CUSTOMER {
                string name
            }
    """,
    "state": "stateDiagram-v2\n    state Busy {\n        [*] --> Working\n    }",
    "pie with parens": 'pie title Pets\n    "Dogs" : 386\n    "Cats (x" : 85',
    "gitGraph colon": "gitGraph:\n    commit",
    "front matter": "---\ntitle: T\n---\n%% comment\nflowchart LR\n    A --> B",
}


@pytest.mark.parametrize("source", VALID.values(), ids=VALID.keys())
def test_valid_diagrams_pass(source: str) -> None:
    Diagram(source)


def test_validate_returns_the_diagram_type() -> None:
    assert validate("sequenceDiagram\n  A->>B: hi") == "sequenceDiagram"
    assert {"flowchart", "sequenceDiagram", "stateDiagram-v2", "block-beta"} <= DIAGRAM_TYPES


INVALID = [
    # (source, line number, words in the message)
    ("", 1, "empty"),
    ("   \n\n", 1, "empty"),
    ("Flowchart LR\n  A --> B", 1, "did you mean 'flowchart'"),
    ("sequenceDiagramm\n  A->>B: x", 1, "did you mean 'sequenceDiagram'"),
    ("boxes\n  A --> B", 1, "not a Mermaid diagram type"),
    ("```mermaid\nflowchart LR\n  A --> B\n```", 1, "fence"),
    ("---\ntitle: x\nflowchart LR\n  A --> B", 1, "front matter"),
    ("%% only a comment", 1, "no diagram"),
    ("flowchart LR\n  A[Producer --> B", 2, "'[' at column 2 is never closed"),
    ("flowchart LR\n  A --> B\n  B(x] --> C", 3, "should be closed with ')'"),
    ("flowchart LR\n  A --> B)", 2, "')' at column 8 has no opening bracket"),
    ('flowchart LR\n  A["Producer] --> B', 2, "'\"' at column 3 is never closed"),
    ("flowchart LR\n  A -->|publish B", 2, "edge label"),
    ("flowchart LR\n  A -> B", 2, "'->' at column 3 is not a flowchart arrow"),
    ("flowchart LR\n  subgraph Kafka\n    A --> B\n", 2, "'subgraph' opened here is never closed"),
    ("flowchart LR\n  A --> B\n  end", 3, "'end' has nothing to close"),
    ("sequenceDiagram\n  loop every second\n    A->>B: ping", 2, "'loop' opened here"),
    ("sequenceDiagram\n  alt ok\n    A->>B: x\n  end\n  end", 5, "'end' has nothing to close"),
    ("classDiagram\n  class Order {\n    +id int", 2, "'{' opened here is never closed"),
    ("erDiagram\n  A {\n    string x\n  }\n  }", 5, "'}' has nothing to close"),
]


@pytest.mark.parametrize(("source", "line_number", "words"), INVALID)
def test_invalid_diagrams_name_line_and_problem(source: str, line_number: int, words: str) -> None:
    with pytest.raises(MermaidSyntaxError) as caught:
        validate(source)
    assert caught.value.line_number == line_number
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"Mermaid diagram, line {line_number}: ")


def test_diagram_raises_value_error_with_line() -> None:
    with pytest.raises(ValueError, match=r"line 3: .*never closed") as caught:
        mermaid("flowchart LR\n    A --> B\n    B --> C[(store)\n")
    message = str(caught.value)
    # The offending line is shown, with a caret under the column.
    assert message.splitlines()[1].strip() == "B --> C[(store)"
    assert message.splitlines()[2].index("^") == 4 + message.splitlines()[1].strip().index("[")


def test_non_string_source_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Diagram(None)  # type: ignore[arg-type]
