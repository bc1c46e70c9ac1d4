"""``python -m course_lib.grading.release [TARGET]``: the course as learners get it.

``make release`` builds ``build/release/``: the module notebooks, the labs,
the library, Binder's files, the docs, the README, the licence, pyproject and
the Makefile -- and not ``solutions/``, ``tests/`` (they hold known answers),
hidden tests or CI. That folder is what a learners' repository (and Binder)
should serve; docs/INSTRUCTORS.md says how.

One more thing would give answers away: a question bank computes the
expected values of its public cases with reference code, which for many
questions *is* the answer (``_reconcile`` in the lab 11.4 bank, say). So the
release's banks are **frozen**: each bank is run once, the values its
``Case(args=..., kwargs=..., expected=...)`` calls received are written into
the module as plain literals (``_FROZEN``), and the private helpers no
longer needed are dropped. The frozen bank registers the same questions
with the same cases -- ``build_release`` checks that -- so ``check()`` gives
learners exactly the feedback it gives in the full course. Values that are
not plain literals (an object, a function) keep the code that makes them.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from course_lib.grading.questions import BANKS, Case, Question, questions_for_lab, readable

# What a learner gets, relative to the project's root (missing ones are skipped).
RELEASED = (
    "README.md",
    "LICENSE",
    "LICENSE.md",
    "LICENSE.txt",
    "pyproject.toml",
    "Makefile",
    "package.json",
    ".gitignore",
    "course_lib",
    "modules",
    "labs",
    "binder",
    "docs",
    "scripts",
    "templates",
    "data",
)
NEVER = ("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info", ".pytest_cache", ".hypothesis")
CASE_VALUES = ("args", "kwargs", "expected")  # the Case(...) arguments that are frozen
FROZEN_TABLE = "_FROZEN"
FROZEN_FUNCTION = "_course_frozen"
_RECORD_FUNCTION = "_course_record"


class ReleaseError(RuntimeError):
    """The release cannot be built as asked (a target inside the project, a bank that changed)."""


def build_release(project: Path, target: Path) -> list[str]:
    """Build the learners' copy of ``project`` in ``target`` (replacing it); returns what was done."""
    project, target = project.resolve(), target.resolve()
    if not (project / "course_lib").is_dir():
        raise ReleaseError(f"{project} is not the course's root folder (it has no course_lib/)")
    if target == project or project.is_relative_to(target) or target.is_relative_to(project / "course_lib"):
        raise ReleaseError(f"refusing to replace {target}: it holds the project itself")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    done = []
    for name in RELEASED:
        source = project / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns(*NEVER), symlinks=True)
        elif source.is_file():
            shutil.copy2(source, target / name)
        else:
            continue
        done.append(f"copied {name}")
    for lab, module in sorted(BANKS.items()):
        path = target / (module.replace(".", "/") + ".py")
        if not path.is_file():
            continue
        original = summarize(questions_for_lab(lab))
        frozen = freeze_bank(module, path.read_text(encoding="utf-8"), str(path))
        if summarize(_registered_by(module, frozen, str(path), lab)) != original:
            raise ReleaseError(f"the frozen {module} does not register the same cases as the original")
        path.write_text(frozen, encoding="utf-8")
        done.append(f"froze {module}")
    return done


# --- freezing a bank -------------------------------------------------------------


def freeze_bank(module: str, source: str, filename: str = "<bank>") -> str:
    """``source`` with every literal Case argument frozen and unused private helpers removed."""
    tree = ast.parse(source, filename)
    recorded: dict[int, list[str] | None] = {}

    def record(site: int, value: Any) -> Any:
        values = recorded.setdefault(site, [])
        if values is not None:
            text = literal(value)
            if text is None:
                recorded[site] = None  # this argument keeps its code
            else:
                values.append(text)
        return value

    _execute(
        module, _rewrite(tree, lambda site, value: _call(_RECORD_FUNCTION, site, value)), filename, record
    )
    frozen_sites = {site for site, values in recorded.items() if values is not None}
    frozen = _rewrite(
        tree,
        lambda site, value: _call(FROZEN_FUNCTION, site) if site in frozen_sites else value,
    )
    table = ", ".join(f"{site}: [{', '.join(recorded[site] or [])}]" for site in sorted(frozen_sites))
    helpers = ast.parse(
        f"{FROZEN_TABLE} = {{{table}}}\n\ndef {FROZEN_FUNCTION}(site):\n    return _FROZEN[site].pop(0)\n"
    ).body
    frozen.body[_preamble_length(frozen) : _preamble_length(frozen)] = helpers
    _drop_unused_private(frozen)
    header = (
        f"# Generated by `make release` from {module}: the values its cases were built from are\n"
        f"# frozen in {FROZEN_TABLE}, so the reference code that computed them is not shipped.\n"
    )
    return header + ast.unparse(frozen) + "\n"


def literal(value: Any) -> str | None:
    """``repr(value)`` if it reads back as the same value (a plain literal), else None."""
    try:
        text = repr(value)
        back = ast.literal_eval(text)
    except Exception:  # an object without a literal form, or a repr that raises
        return None
    return text if repr(back) == text else None


def _rewrite(tree: ast.Module, replace: Callable[[int, ast.expr], ast.expr]) -> ast.Module:
    """A copy of ``tree`` with each Case(...) keyword value in CASE_VALUES passed through ``replace``."""

    class Rewriter(ast.NodeTransformer):
        site = 0

        def visit_Call(self, node: ast.Call) -> ast.AST:
            self.generic_visit(node)
            if _is_case(node.func):
                for keyword in node.keywords:
                    if keyword.arg in CASE_VALUES:
                        keyword.value = replace(self.site, keyword.value)
                        self.site += 1
            return node

    copy = ast.parse(ast.unparse(tree))
    result = Rewriter().visit(copy)
    assert isinstance(result, ast.Module)
    return ast.fix_missing_locations(result)


def _is_case(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "Case") or (
        isinstance(func, ast.Attribute) and func.attr == "Case"
    )


def _call(function: str, site: int, *args: ast.expr) -> ast.expr:
    return ast.Call(ast.Name(function, ast.Load()), [ast.Constant(site), *args], [])


def _execute(module: str, tree: ast.Module, filename: str, record: Callable[[int, Any], Any] | None) -> None:
    """Run a bank's code as ``module`` (so its classes and dataclasses resolve), then restore sys.modules."""
    namespace = types.ModuleType(module)
    namespace.__file__ = filename
    if record is not None:
        setattr(namespace, _RECORD_FUNCTION, record)
    previous = sys.modules.get(module)
    sys.modules[module] = namespace
    try:
        exec(compile(tree, filename, "exec"), namespace.__dict__)
    finally:
        if previous is not None:
            sys.modules[module] = previous
        else:
            sys.modules.pop(module, None)


def _registered_by(module: str, source: str, filename: str, lab: str) -> list[Question]:
    """The questions ``source`` registers for ``lab`` (it replaces the bank's in the registry)."""
    _execute(module, ast.parse(source, filename), filename, None)
    return questions_for_lab(lab)


def _preamble_length(tree: ast.Module) -> int:
    """Statements that must stay first: the docstring and ``from __future__`` imports."""
    count = 0
    for statement in tree.body:
        is_docstring = (
            count == 0 and isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
        )
        if is_docstring or (isinstance(statement, ast.ImportFrom) and statement.module == "__future__"):
            count += 1
        else:
            break
    return count


def _drop_unused_private(tree: ast.Module) -> None:
    """Remove top-level private functions, classes and constants nothing else uses.

    Public names stay (hidden tests may import them, as ``envelope`` from the
    lab 10.1 bank); so does anything decorated, or an assignment that calls
    something (it may register a question).
    """
    changed = True
    while changed:
        changed = False
        for statement in list(tree.body):
            names = _private_names(statement)
            if not names:
                continue
            used = {
                node.id
                for other in tree.body
                if other is not statement
                for node in ast.walk(other)
                if isinstance(node, ast.Name)
            }
            if not names & used:
                tree.body.remove(statement)
                changed = True


def _private_names(statement: ast.stmt) -> set[str]:
    if isinstance(statement, (ast.FunctionDef, ast.ClassDef)) and not statement.decorator_list:
        return {statement.name} if statement.name.startswith("_") else set()
    if isinstance(statement, ast.Assign) and not any(
        isinstance(n, ast.Call) for n in ast.walk(statement.value)
    ):
        targets = statement.targets
        if all(isinstance(t, ast.Name) and t.id.startswith("_") for t in targets):
            return {t.id for t in targets if isinstance(t, ast.Name)}
    return set()


# --- comparing banks ------------------------------------------------------------------


def summarize(questions: list[Question]) -> list[tuple[Any, ...]]:
    """What a learner meets of a lab's questions: every field, each case's values and callables' names."""
    return [
        (
            question.id,
            question.title,
            question.answer_name,
            question.points,
            question.lab,
            [_case_summary(case) for case in question.public],
        )
        for question in questions
    ]


def _case_summary(case: Case) -> tuple[str, ...]:
    parts = []
    for name, value in sorted(vars(case).items()):
        if callable(value):
            parts.append(f"{name}={getattr(value, '__qualname__', type(value).__name__)}")
        else:
            parts.append(f"{name}={readable(value, limit=sys.maxsize)}")  # no memory addresses
    return tuple(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grading.release",
        description="Build the learners' copy of the course: no solutions, no tests, frozen question banks.",
    )
    parser.add_argument("target", nargs="?", type=Path, default=Path("build/release"), help="(build/release)")
    parser.add_argument(
        "--project", type=Path, default=Path.cwd(), help="the course's root (the current folder)"
    )
    args = parser.parse_args(argv)
    try:
        done = build_release(args.project, args.target)
    except ReleaseError as error:
        parser.exit(2, f"release: {error}\n")
    frozen = sum(line.startswith("froze") for line in done)
    print(f"release: {args.target} ({len(done) - frozen} folders and files, {frozen} frozen question banks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
