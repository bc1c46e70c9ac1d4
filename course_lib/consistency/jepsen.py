"""Jepsen's logs: read the histories Jepsen recorded while testing etcd, and check them all.

Jepsen tested etcd by having clients read, write and compare-and-set one
register while a nemesis cut the network, and logged every operation as a
line of ``jepsen.util`` output::

    INFO  jepsen.util - 2	:invoke	:cas	[3 0]
    INFO  jepsen.util - 2	:ok	:cas	[3 0]
    INFO  jepsen.util - 4	:info	:write	:timed-out

:func:`parse_jepsen_log` turns one such log into checker operations.
:func:`load_verdicts` and :func:`check_corpus` read a folder of them with
their known verdicts (Porcupine's test data: 102 etcd histories and a
``VERDICTS.txt``). Where that folder is, is the caller's business: this
module never guesses a path.
"""

from __future__ import annotations

import re
import time as _time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from course_lib.consistency.checker import INF, REGISTER, CheckOp, check_linearizable

_LINE = re.compile(r"jepsen\.util - (\S+)\t:(invoke|ok|fail|info)\t:(read|write|cas)\t(.*)$")


def _parse_value(text: str) -> Any:
    text = text.strip()
    if text == "nil":
        return None
    if text.startswith(":"):
        return text  # a keyword such as :timed-out
    if text.startswith("["):
        return tuple(_parse_value(part) for part in text.strip("[]").split())
    try:
        return int(text)
    except ValueError:
        return text


def parse_jepsen_log(source: str | Path) -> list[CheckOp]:
    """Parse a Jepsen ``jepsen.util`` log of a single register into checker operations.

    ``source`` is a path or the log's text (anything containing ``jepsen.util``).
    Times are line numbers (the log is in real-time order). Lines that are not
    operations (setup, nemesis) are skipped.
    """
    text = str(source) if isinstance(source, str) and "jepsen.util" in source else Path(source).read_text()
    ops: list[CheckOp] = []
    open_calls: dict[str, tuple[int, str, Any]] = {}  # process -> (line, f, invoked value)
    # (call line, process, f, invoked value, completion line or inf, ok/fail/info, returned value)
    completed: list[tuple[int, str, str, Any, float, str, Any]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        match = _LINE.search(line)
        if match is None:
            continue
        process, kind, f, raw = match.groups()
        value = _parse_value(raw)
        if kind == "invoke":
            if process in open_calls:
                raise ValueError(f"line {line_no}: process {process} invokes while its previous call is open")
            open_calls[process] = (line_no, f, value)
            continue
        if process not in open_calls:
            raise ValueError(f"line {line_no}: process {process} completes a call it never invoked")
        call_line, call_f, invoked = open_calls.pop(process)
        completed.append((call_line, process, call_f, invoked, line_no, kind, value))
    for process, (call_line, f, invoked) in open_calls.items():
        completed.append((call_line, process, f, invoked, INF, "info", None))  # pending at the end
    for call_line, process, f, invoked, ret, kind, value in sorted(completed, key=lambda c: c[0]):
        if f == "read":
            if kind != "ok":
                continue  # a failed or unknown read constrains nothing
            ops.append(CheckOp(call_line, process, "read", "", None, value, call_line, ret))
        elif f == "write":
            if kind == "fail":
                continue
            ops.append(
                CheckOp(
                    call_line, process, "write", "", invoked, None, call_line, ret if kind == "ok" else INF
                )
            )
        else:
            output = {"ok": True, "fail": False}.get(kind)
            ops.append(
                CheckOp(
                    call_line,
                    process,
                    "cas",
                    "",
                    tuple(invoked),
                    output,
                    call_line,
                    INF if output is None else ret,
                )
            )
    return ops


def load_verdicts(folder: str | Path) -> dict[str, str]:
    """The known verdicts of a Jepsen corpus: ``{file name: "linearizable" or "not-linearizable"}``.

    ``folder`` holds the histories (``etcd_000.log`` ...) and a ``VERDICTS.txt``
    with one ``<file> <verdict>`` line per history. Raises FileNotFoundError,
    naming the folder, when there is no ``VERDICTS.txt`` in it.
    """
    folder = Path(folder)
    verdicts_file = folder / "VERDICTS.txt"
    if not verdicts_file.is_file():
        raise FileNotFoundError(
            f"no VERDICTS.txt in {folder}: a Jepsen corpus folder holds the history logs "
            "(etcd_000.log ...) and a VERDICTS.txt with one '<file> <verdict>' line per log "
            "(the course's copy is ../shared/conformance/linearizability/jepsen-etcd beside the project)"
        )
    return dict(line.split() for line in verdicts_file.read_text().splitlines() if line.strip())


def check_corpus(
    folder: str | Path, names: Iterable[str] | None = None, timeout: float = 10.0
) -> list[tuple[str, str, str, float]]:
    """Check a Jepsen corpus against its known verdicts: ``(file, expected, got, seconds)`` rows.

    ``folder`` is as for :func:`load_verdicts`; ``names`` picks some of its files
    (default: all of them, in order).
    """
    folder = Path(folder)
    expected = load_verdicts(folder)
    rows = []
    for name in sorted(expected) if names is None else names:
        started = _time.perf_counter()
        verdict = check_linearizable(parse_jepsen_log(folder / name), REGISTER, timeout=timeout)
        rows.append((name, expected[name], verdict.verdict.replace(" ", "-"), _time.perf_counter() - started))
    return rows
