"""Library parts a question asks the learner to write, made to refuse while it is graded.

``Question(writes=("course_lib.log.assignors.assign_range", ...))`` names the
course's (and third-party) implementations of what the question asks for.
``install`` replaces the *code* of each named function -- for a class, of each
method it defines -- with a stub that raises ``ReferenceUnavailable``.
Swapping ``__code__`` in place, rather than rebinding a name, means every alias
(``from course_lib.log import assign_range as mine``) and every internal caller
hits the stub too. The sandbox installs the stubs before any learner code runs
and never restores them; ``check`` installs them only while its cases run.

Each stub records that it was called (``take_hits``), even when the answer
catches the exception, so the grader knows an answer leaned on a part it was
asked to write. Reading the library's source file and copying it -- or
loading it again, with ``importlib.reload`` say -- is copying, like copying
from a classmate: this cannot see it.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import CodeType, FunctionType
from typing import Any, NoReturn

_hits: set[str] = set()
_stub_codes: dict[int, CodeType] = {}  # free-variable count -> template stub code


class ReferenceUnavailable(BaseException):
    """Raised by a library part the question being graded asks the learner to write.

    A ``BaseException``, so that an answer's ``except Exception`` does not turn
    it into a plausible wrong result.
    """


def refuse(name: str) -> NoReturn:
    """What every stub does: remember the call, then raise."""
    _hits.add(name)
    raise ReferenceUnavailable(
        f"{name} is off limits here: the question being graded asks you to write it yourself"
    )


def take_hits() -> set[str]:
    """The parts whose stubs ran since the last call (and forget them)."""
    hits = set(_hits)
    _hits.clear()
    return hits


def note(answer_name: str, parts: Iterable[str]) -> str:
    """The learner's note for an answer that used parts its question asks for."""
    names = ", ".join(sorted(parts))
    return f"this question asks you to write {answer_name} yourself: {names} is off limits for it"


def resolve(name: str) -> Any:
    """The object a dotted name refers to, importing its module; None if there is none.

    ``course_lib.log.partitioner.murmur2`` imports ``course_lib.log.partitioner``
    and takes ``murmur2``; ``course_lib.dynamo.MerkleTree.diff`` takes a method.
    A third-party library that is not installed simply resolves to None.
    """
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        except Exception:  # a module that fails on import is not there either
            return None
        try:
            for attribute in parts[split:]:
                target = getattr(target, attribute)
        except AttributeError:
            return None
        return target
    return None


def functions_of(target: Any) -> list[FunctionType]:
    """The Python functions whose code runs when ``target`` is used.

    A function (and what ``functools.wraps`` says it wraps), or every method,
    static method, class method and property a class defines itself.
    """
    found: list[FunctionType] = []

    def add(value: Any) -> None:
        while isinstance(value, functools.partial):
            value = value.func
        seen = 0
        while isinstance(value, FunctionType) and value not in found and seen < 20:
            found.append(value)
            value = getattr(value, "__wrapped__", None)
            seen += 1

    if isinstance(target, type):
        for value in vars(target).values():
            if isinstance(value, (staticmethod, classmethod)):
                add(value.__func__)
            elif isinstance(value, property):
                for accessor in (value.fget, value.fset, value.fdel):
                    add(accessor)
            elif isinstance(value, functools.cached_property):
                add(value.func)
            else:
                add(value)
    else:
        add(getattr(target, "__func__", target))
    return found


@dataclass
class Installed:
    """Stubs in place; ``restore`` puts the original code back."""

    originals: list[tuple[FunctionType, CodeType]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # names that resolve to nothing here

    def restore(self) -> None:
        for function, code in reversed(self.originals):
            function.__code__ = code
        self.originals.clear()


def install(names: Iterable[str]) -> Installed:
    """Replace the code of every named part with a refusing stub."""
    installed = Installed()
    for name in names:
        target = resolve(name)
        functions = functions_of(target) if target is not None else []
        if not functions:
            installed.missing.append(name)
        for function in functions:
            if any(function is done for done, _code in installed.originals):
                continue
            installed.originals.append((function, function.__code__))
            function.__code__ = _stub_for(function.__code__, name)
    return installed


@contextmanager
def refusing(names: Iterable[str]) -> Iterator[Installed]:
    """Stubs in place for the duration of the block (what ``check`` uses)."""
    installed = install(names)
    try:
        yield installed
    finally:
        installed.restore()


def _stub_for(original: CodeType, name: str) -> CodeType:
    """A stub with as many free variables as ``original`` (``__code__`` assignment requires it).

    The stub runs with the *original* function's globals, so it reaches
    ``refuse`` through ``__import__`` rather than a global name.
    """
    count = len(original.co_freevars)
    template = _stub_codes.get(count)
    if template is None:
        template = _stub_codes[count] = _make_template(count)
    consts = tuple(name if const == "<part>" else const for const in template.co_consts)
    return template.replace(co_consts=consts, co_name=original.co_name)


def _make_template(free: int) -> CodeType:
    cells = [f"_cell{i}" for i in range(free)]
    lines = ["def _outer():"]
    if cells:
        lines.append(f"    {' = '.join(cells)} = None")
    lines.append("    def stub(*args, **kwargs):")
    if cells:
        lines.append(f"        ({', '.join(cells)},)")
    lines.append("        __import__('course_lib.grading.references', fromlist=['refuse']).refuse('<part>')")
    lines.append("    return stub")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<course stub>", "exec"), namespace)
    code: CodeType = namespace["_outer"]().__code__
    return code
