"""The dependency rules of docs/ARCHITECTURE.md, checked on the source.

- The core (every module of course_lib except ``viz`` and ``grading``) never imports
  ``course_lib.viz``, ``course_lib.grading``, ipywidgets, matplotlib, IPython or pytest:
  it must run anywhere a Python runs, including a browser kernel and a grader's sandbox.
- ``viz`` may import the core, never ``grading``.
- course_lib's own modules import each other at the top of the file (no import hidden in
  a function to break a cycle), and those imports form no cycle.
- Nothing in course_lib builds a path out of the package (the ``../shared`` folder is the
  tests' business, not the library's).

Each rule is a plain function over a folder, so a test can hand it a small package that
breaks the rule and see it fail: a check that cannot fail proves nothing.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "course_lib"

FORBIDDEN_IN_CORE = ("course_lib.viz", "course_lib.grading", "ipywidgets", "matplotlib", "IPython", "pytest")
FORBIDDEN_IN_VIZ = ("course_lib.grading", "pytest")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name of the importing file
    target: str  # dotted name imported
    line: int
    top_level: bool  # at module level (not inside a function or class body's method)


def module_name(package_dir: Path, path: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module of ``from X import ...``, relative imports included."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Collector(ast.NodeVisitor):
    def __init__(self, importer: str, is_package: bool) -> None:
        self.importer, self.is_package = importer, is_package
        self.depth = 0  # inside how many function bodies
        self.found: list[Import] = []
        self.type_checking = 0

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        # `if TYPE_CHECKING:` imports never run: they are no runtime dependency.
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
        if name == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _add(self, target: str, line: int) -> None:
        self.found.append(Import(self.importer, target, line, self.depth == 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve(self.importer, self.is_package, node)
        self._add(base, node.lineno)
        for alias in node.names:  # `from course_lib import viz` imports the submodule
            self._add(f"{base}.{alias.name}", node.lineno)


def imports_of(package_dir: Path) -> list[Import]:
    found: list[Import] = []
    for path in sorted(package_dir.rglob("*.py")):
        name = module_name(package_dir, path)
        collector = _Collector(name, path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(), str(path)))
        found += collector.found
    return found


def _is(target: str, prefix: str) -> bool:
    return target == prefix or target.startswith(prefix + ".")


def _layer(module: str, package: str) -> str:
    rest = module[len(package) + 1 :].split(".")[0] if module != package else ""
    return rest if rest in ("viz", "grading") else "core"


def layer_problems(package_dir: Path) -> list[str]:
    """Core importing viz/grading/widgets/plots/pytest, viz importing grading."""
    package = package_dir.name
    problems = []
    for imp in imports_of(package_dir):
        layer = _layer(imp.importer, package)
        forbidden = {"core": FORBIDDEN_IN_CORE, "viz": FORBIDDEN_IN_VIZ}.get(layer, ())
        forbidden = tuple(f.replace("course_lib", package, 1) for f in forbidden)
        for bad in forbidden:
            if _is(imp.target, bad):
                problems.append(f"{imp.importer} (line {imp.line}) is {layer} and imports {imp.target}")
    return sorted(set(problems))


def cycle_problems(package_dir: Path) -> list[str]:
    """Function-level imports of the package's own modules, and cycles among its modules."""
    package = package_dir.name
    modules = {module_name(package_dir, p) for p in package_dir.rglob("*.py")}
    problems, graph = [], {m: set() for m in modules}
    for imp in imports_of(package_dir):
        if not _is(imp.target, package):
            continue
        target = imp.target if imp.target in modules else imp.target.rsplit(".", 1)[0]
        if target not in modules or target == imp.importer:
            continue
        # A package's __init__ may import its own submodules; a submodule importing its
        # package's __init__ would run that first: counted as an edge like any other.
        if not imp.top_level:
            problems.append(f"{imp.importer} (line {imp.line}) imports {target} inside a function")
            continue
        graph[imp.importer].add(target)
    # Iterative depth-first search for a back edge.
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                cycle = path[path.index(child) :] + [child]
                problems.append("import cycle: " + " -> ".join(cycle))
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    return sorted(set(problems))


def outside_path_problems(package_dir: Path) -> list[str]:
    """String constants that name the course's shared folder beside the project."""
    problems = []
    for path in sorted(package_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value == "shared":
                problems.append(f"{path.relative_to(package_dir.parent)} (line {node.lineno}) names 'shared'")
    return problems


# --------------------------------------------------------------------------
# The rules hold for course_lib
# --------------------------------------------------------------------------


def test_core_modules_never_import_viz_grading_widgets_plots_or_pytest():
    assert layer_problems(PACKAGE) == []


def test_course_lib_imports_form_no_cycle_and_none_hides_in_a_function():
    assert cycle_problems(PACKAGE) == []


def test_course_lib_builds_no_path_out_of_the_package():
    assert outside_path_problems(PACKAGE) == []


def test_architecture_doc_names_every_core_module():
    """docs/ARCHITECTURE.md lists each module, so a new one cannot land undocumented."""
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(PACKAGE, path)
        if name.count(".") == 1 and name.split(".")[1] not in ("__main__",) and f"`{name.split('.')[1]}" not in doc:
            missing.append(name)
    assert missing == [], f"docs/ARCHITECTURE.md does not mention {missing}"


# --------------------------------------------------------------------------
# ... and each rule fails on a package that breaks it
# --------------------------------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "course_lib"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    "source",
    [
        "from course_lib.viz import explorer\n",
        "import matplotlib.pyplot as plt\n",
        "def show():\n    import ipywidgets\n",
        "from .grading import check\n",
        "import pytest\n",
    ],
)
def test_layer_rule_fails_when_a_core_module_imports_a_front_end(tmp_path, source):
    package = _package(tmp_path, {"log.py": source, "viz/__init__.py": "", "grading/__init__.py": ""})
    problems = layer_problems(package)
    assert problems and problems[0].startswith("course_lib.log "), problems


def test_layer_rule_allows_viz_on_top_of_the_core(tmp_path):
    package = _package(tmp_path, {"log.py": "", "viz/__init__.py": "from course_lib import log\nimport ipywidgets\n"})
    assert layer_problems(package) == []


def test_cycle_rule_fails_on_a_cycle_and_on_a_hidden_import(tmp_path):
    package = _package(
        tmp_path,
        {
            "a.py": "from course_lib import b\n",
            "b.py": "import course_lib.a\n",
            "c.py": "def f():\n    from course_lib.a import x\n",
            "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from course_lib.a import x\n",
        },
    )
    problems = cycle_problems(package)
    assert "import cycle: course_lib.a -> course_lib.b -> course_lib.a" in problems, problems
    assert "course_lib.c (line 2) imports course_lib.a inside a function" in problems, problems
    assert not any("course_lib.d" in p for p in problems), problems


def test_outside_path_rule_fails_on_a_path_into_shared(tmp_path):
    package = _package(tmp_path, {"data.py": "from pathlib import Path\nP = Path('..') / 'shared'\n"})
    assert outside_path_problems(package) == ["course_lib/data.py (line 2) names 'shared'"]
