"""The narrow channel between the judge and a sandboxed notebook: frames of plain data.

A frame is a 4-byte big-endian length and a pickle. The judge's frames to the
sandbox are ordinary pickles (the sandbox may trust the judge). The sandbox's
frames to the judge are read with ``PlainUnpickler``, which builds builtins
(numbers, strings, bytes, lists, tuples, dicts, sets, None) and a short list
of standard and course value types -- nothing else: no class the learner
defined, no subclass of a builtin, so no object with a learner's ``__eq__``
or ``__repr__`` ever exists in the judge. ``check_plain`` then refuses
values too deep or too large to compare and print safely (a pickle can share
one list a million times).

Both sides use ``send`` and ``receive``; ``receive`` takes a deadline, so a
sandbox that stops answering cannot stall the judge.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import io
import os
import pickle
import select
import struct
import time
from typing import Any

MAX_FRAME = 16 * 1024 * 1024  # bytes in one frame from the sandbox
MAX_NODES = 200_000  # values in one result, counting shared ones each time they are reached
MAX_DEPTH = 100  # nesting of one result
PROTOCOL = 4

_HEADER = struct.Struct(">I")

# Exact types a result may be built of; subclasses are refused.
PLAIN_TYPES: frozenset[type] = frozenset(
    {
        type(None),
        bool,
        int,
        float,
        complex,
        str,
        bytes,
        bytearray,
        list,
        tuple,
        dict,
        set,
        frozenset,
        range,
        slice,
        collections.OrderedDict,
        collections.defaultdict,
        collections.Counter,
        collections.deque,
        decimal.Decimal,
        fractions.Fraction,
        datetime.date,
        datetime.time,
        datetime.datetime,
        datetime.timedelta,
        datetime.timezone,
    }
)

# The course's own value types that may cross, as (module, name). Their __eq__
# is course code, and their fields can only hold plain values.
COURSE_VALUE_TYPES: frozenset[tuple[str, str]] = frozenset(
    {
        ("course_lib.log.assignors", "TopicPartition"),
        ("course_lib.dynamo", "VectorClock"),
    }
)

_ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {(kind.__module__, kind.__qualname__) for kind in PLAIN_TYPES if kind is not type(None)}
    | COURSE_VALUE_TYPES
)


class ChannelClosed(EOFError):
    """The other side closed its end (for the judge: the sandbox died)."""


class ChannelTimeout(TimeoutError):
    """No complete frame arrived before the deadline."""


class NotPlainData(ValueError):
    """A value the judge does not accept: a refused type, too deep or too large."""


class FrameTooLarge(NotPlainData):
    """A frame longer than ``MAX_FRAME``: the channel cannot be trusted to be in step after it."""


class PlainUnpickler(pickle.Unpickler):
    """An unpickler that can only build ``PLAIN_TYPES`` and ``COURSE_VALUE_TYPES``."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise NotPlainData(f"refused to build {module}.{name}: not a plain value type")
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise NotPlainData("refused a persistent id")


def loads_plain(data: bytes) -> Any:
    """Unpickle ``data`` from the sandbox, refusing anything but plain values."""
    try:
        value = PlainUnpickler(io.BytesIO(data)).load()
    except NotPlainData:
        raise
    except Exception as error:  # a truncated or malformed pickle
        raise NotPlainData(f"unreadable data ({type(error).__name__})") from None
    check_plain(value)
    return value


def _course_type(kind: type) -> bool:
    return (kind.__module__, kind.__qualname__) in COURSE_VALUE_TYPES


def check_plain(value: Any, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``NotPlainData`` unless ``value`` is plain, at most ``max_depth`` deep
    and ``max_nodes`` large (shared parts counted every time they are reached)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise NotPlainData(f"more than {max_nodes:,} values")
        if depth > max_depth:
            raise NotPlainData(f"nested more than {max_depth} levels deep")
        kind = type(item)
        if kind in (list, tuple, set, frozenset, collections.deque):
            stack.extend((child, depth + 1) for child in item)
        elif kind in (dict, collections.OrderedDict, collections.defaultdict, collections.Counter):
            for key, child in item.items():
                stack.append((key, depth + 1))
                stack.append((child, depth + 1))
            factory = getattr(item, "default_factory", None)
            if factory is not None and factory not in PLAIN_TYPES:
                raise NotPlainData("a defaultdict whose default is not a plain type")
        elif kind in PLAIN_TYPES:
            continue
        elif _course_type(kind):
            fields = getattr(item, "__dict__", None)
            if isinstance(item, tuple):  # a NamedTuple
                stack.extend((child, depth + 1) for child in item)
            if fields:
                stack.extend((child, depth + 1) for child in fields.values())
        else:
            raise NotPlainData(f"an object of type {kind.__module__}.{kind.__qualname__}")


def to_plain(value: Any) -> Any:
    """``value`` itself if it may cross to the judge (numpy scalars become numbers).

    Raises ``NotPlainData`` naming the first refused type. Used by the sandbox
    to tell the learner *why* a result was refused; the judge checks again.
    """
    value = _numpy_to_python(value)
    check_plain(value)
    return value


def _numpy_to_python(value: Any) -> Any:
    kind = type(value)
    if kind.__module__ == "numpy" and hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    return value


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=PROTOCOL)


def send(fd: int, value: Any, deadline: float | None = None) -> None:
    """Write one frame to ``fd``; with a deadline, give up with ``ChannelTimeout``."""
    data = dumps(value)
    _write_all(fd, _HEADER.pack(len(data)) + data, deadline)


def send_bytes(fd: int, data: bytes, deadline: float | None = None) -> None:
    _write_all(fd, _HEADER.pack(len(data)) + data, deadline)


def receive_bytes(fd: int, deadline: float | None = None, limit: int = MAX_FRAME) -> bytes:
    """Read one frame's payload; ``ChannelClosed`` at end of file, ``ChannelTimeout`` late."""
    (length,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if length > limit:
        raise FrameTooLarge(f"a message of {length:,} bytes (the limit is {limit:,})")
    return _read_exact(fd, length, deadline)


def receive_plain(fd: int, deadline: float | None = None) -> Any:
    """The judge's read: one frame, unpickled with ``PlainUnpickler``."""
    return loads_plain(receive_bytes(fd, deadline))


def receive(fd: int) -> Any:
    """The sandbox's read: one frame from the judge, trusted."""
    return pickle.loads(receive_bytes(fd, None, limit=1 << 31))


def _wait(fd: int, for_write: bool, deadline: float | None) -> None:
    if deadline is None:
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ChannelTimeout()
    poller = select.poll()  # not select(): it fails for descriptors above 1023
    poller.register(fd, select.POLLOUT if for_write else select.POLLIN)
    if not poller.poll(remaining * 1000):
        raise ChannelTimeout()


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while size:
        _wait(fd, False, deadline)
        try:
            chunk = os.read(fd, min(size, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes, deadline: float | None) -> None:
    view = memoryview(data)
    while view:
        _wait(fd, True, deadline)
        try:
            written = os.write(fd, view[: 1 << 16])
        except BlockingIOError:
            continue
        except BrokenPipeError:
            raise ChannelClosed() from None
        view = view[written:]
