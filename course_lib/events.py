"""The event envelope: one validated, immutable shape for every event in the course.

On the wire an event is a JSON object with camelCase keys::

    {"eventId": "evt_a1b2c3d4-...", "eventType": "OrderPlaced",
     "aggregateId": "order_12345", "aggregateType": "Order",
     "timestamp": "2026-05-15T14:30:00.000Z", "version": 1,
     "metadata": {"correlationId": "req_xyz789", "causationId": "cmd_abc123",
                  "userId": "user_456", "source": "order-service"},
     "payload": {"orderId": "order_12345", ...}}

Everything but ``payload`` is the *envelope*, the same for every event type, so
brokers, stores and tracing tools can handle events they know nothing about.
``metadata`` carries the two ids that make tracing across async boundaries work:

* ``correlationId`` names the whole conversation. :func:`new_event` starts one
  and, by convention, names it after the new event's own id; :func:`caused_by`
  copies it to every consequence, however many hops away.
* ``causationId`` names the message that directly caused this event (null when
  no cause is recorded). :func:`course_lib.tracing.trace` rebuilds the causal tree from these links.

The rules, checked by :func:`validate`, :meth:`Event.from_dict`,
:meth:`Event.from_json` and ``Event(...)`` itself (so an invalid Event object
cannot exist); every problem is reported at once as (field, rule, message):

======================  ==================================================  ==================
field                   must be                                             rule when not
======================  ==================================================  ==================
(event)                 a JSON object with exactly the 8 keys above         wrong type,
                                                                            missing, unknown field
(event)                 at most MAX_EVENT_BYTES once encoded as UTF-8       too large
(event)                 parseable JSON text, no key twice (from_json only)  not JSON,
                                                                            duplicate key
eventId                 'evt_' + letters, digits or dashes, <= 124 chars    bad id
eventType               PascalCase past-tense fact, like OrderPlaced        bad value
aggregateId             non-empty, <= 128 chars, no whitespace              bad id
aggregateType           PascalCase noun, like Order                         bad value
timestamp               'YYYY-MM-DDTHH:MM:SS.mmmZ', a real UTC time         bad timestamp
version                 an integer >= 1 (true is not 1 here)                wrong type, bad value
metadata                an object with exactly the 4 keys below             same as (event)
metadata.correlationId  an id, like aggregateId                             bad id
metadata.causationId    an id, or null                                      bad id
metadata.userId         an id, or null for system-initiated events          bad id
metadata.source         lowercase words joined by dashes: order-service     bad value
payload                 an object of plain JSON (string keys, no NaN)       wrong type, bad value
payload                 at most MAX_PAYLOAD_DEPTH objects/arrays deep       too deep
======================  ==================================================  ==================

A value of the wrong JSON type anywhere is "wrong type". Timestamps trip people
up most: ``datetime.isoformat()`` gives ``2026-05-15T14:30:00.123456+00:00``,
which is *not* this format; use :func:`format_timestamp`.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_PAYLOAD_DEPTH",
    "EventValidationError",
    "Metadata",
    "Event",
    "validate",
    "format_timestamp",
    "parse_timestamp",
    "utc_millis",
    "SequentialIds",
    "uuid_ids",
    "ManualClock",
    "system_clock",
    "new_event",
    "caused_by",
]

MAX_EVENT_BYTES = 1_048_576
"""1 MiB, Kafka's default producer max.request.size (brokers allow about the same).

An event bigger than this belongs in a blob store, with a reference in the payload.
"""

MAX_PAYLOAD_DEPTH = 100
"""How deeply objects and arrays may nest in a payload (the payload object itself is level 1).

Deep enough for any real document, and far enough below Python's recursion limit
(1,000 frames) that checking, encoding and decoding an event never hits it: a
deeper payload is refused with a clear problem instead of a RecursionError.
"""

Problem = tuple[str, str, str]  # (field, rule, message)
Check = Callable[[str, Any], list[Problem]]  # (field path, value) -> the problems found

_EXAMPLE_EVENT_ID = "evt_a1b2c3d4-e5f6-7890-abcd-ef1234567890"
_EXAMPLE_TIME = "2026-05-15T14:30:00.000Z"
_ID_EXAMPLES = {
    "metadata.correlationId": "req_xyz789",
    "metadata.causationId": "cmd_abc123",
    "metadata.userId": "user_456",
}
# Always used with fullmatch(), so the whole string must match.
_EVENT_ID = re.compile(r"evt_[A-Za-z0-9][A-Za-z0-9-]{0,119}")
_PASCAL_CASE = re.compile(r"[A-Z][A-Za-z0-9]*")
_SOURCE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_TIMESTAMP = re.compile(  # YYYY-MM-DD T HH:MM:SS . mmm Z, each part captured
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{3})Z"
)
_MAX_ID_LENGTH = 128
_WHITESPACE = re.compile(r"\s")  # the same characters as str.isspace()
_VALID_ID = re.compile(rf"\S{{1,{_MAX_ID_LENGTH}}}")  # what _check_id accepts, in one match (for new_event)
# One encoder for the wire format: json.dumps() with these options builds a new one per call.
_WIRE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_DECODER = json.JSONDecoder()


class EventValidationError(ValueError):
    """An event broke one or more envelope rules.

    Validation does not stop at the first mistake: ``problems`` lists every
    (field, rule, message) found, so one run shows everything to fix. The order
    is fixed: known keys in schema order, then unknown keys, then whole-event
    problems. ``field`` and ``rule`` repeat the first problem for convenience.
    """

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)  # keeps the error picklable
        self.problems: list[Problem] = list(problems)
        self.field: str = self.problems[0][0]
        self.rule: str = self.problems[0][1]

    def __str__(self) -> str:
        lines = [f"{field}: {rule}: {message}" for field, rule, message in self.problems]
        if len(lines) == 1:
            return lines[0]
        return f"{len(lines)} problems in event:\n" + "\n".join("  " + line for line in lines)


# --- Checks: each takes (field path, value) and returns the problems it found ---------------


def _short(value: object) -> str:
    """repr() cut to a readable length: error messages must not echo a 1 MiB string."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(value: object) -> str:
    """Name a value's type the way JSON does, since that is what goes on the wire."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({_short(value)})"
    if isinstance(value, (list, dict)):
        return "an array" if isinstance(value, list) else "an object"
    return f"a Python {type(value).__name__}"


def _wrong_type(field: str, expected: str, value: object, fix: str = "") -> Problem:
    message = f"expected {expected}, found {_describe(value)}"
    return (field, "wrong type", f"{message}; {fix}" if fix else message)


def _check_event_id(field: str, value: Any) -> list[Problem]:
    if not isinstance(value, str):
        return [_wrong_type(field, "a string", value)]
    if _EVENT_ID.fullmatch(value):
        return []
    too_long = " (at most 124 characters)" if len(value) > 124 else ""
    return [
        (
            field,
            "bad id",
            f"{_short(value)} must look like 'evt_<letters, digits or dashes>'"
            f"{too_long}, e.g. {_EXAMPLE_EVENT_ID!r}",
        )
    ]


def _check_id(field: str, value: Any) -> list[Problem]:
    if not isinstance(value, str):
        fix = "a root event uses its own eventId" if field == "metadata.correlationId" else ""
        return [_wrong_type(field, "a string", value, fix)]
    if not value:
        reason = "is empty"
    elif len(value) > _MAX_ID_LENGTH:
        reason = f"is {len(value)} characters long"
    elif _WHITESPACE.search(value):
        reason = "contains whitespace"
    else:
        return []
    example = _ID_EXAMPLES.get(field, "order_12345")
    return [
        (
            field,
            "bad id",
            f"{_short(value)} {reason}; an id is one token of at most "
            f"{_MAX_ID_LENGTH} characters with no whitespace, e.g. {example!r}",
        )
    ]


def _check_optional_id(field: str, value: Any) -> list[Problem]:
    if value is None:
        return []
    if not isinstance(value, str):
        return [_wrong_type(field, "a string or null", value)]
    return _check_id(field, value)


def _check_type_name(field: str, value: Any) -> list[Problem]:
    if not isinstance(value, str):
        return [_wrong_type(field, "a string", value)]
    if _PASCAL_CASE.fullmatch(value):
        return []
    if field == "eventType":
        why = "event types are past-tense facts, like 'OrderPlaced' or 'PaymentProcessed'"
    else:
        why = "aggregate types are nouns, like 'Order' or 'Customer'"
    guess = "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", value))
    hint = f"; did you mean {guess!r}?" if guess != value and _PASCAL_CASE.fullmatch(guess) else ""
    return [(field, "bad value", f"{_short(value)} is not PascalCase: {why}{hint}")]


def _check_source(field: str, value: Any) -> list[Problem]:
    if not isinstance(value, str):
        return [_wrong_type(field, "a string", value)]
    if _SOURCE.fullmatch(value):
        return []
    guess = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    hint = f"; did you mean {guess!r}?" if _SOURCE.fullmatch(guess) else ""
    return [
        (
            field,
            "bad value",
            f"{_short(value)} must be the producing service's name in "
            f"lowercase words joined by dashes, like 'order-service'{hint}",
        )
    ]


def _read_timestamp(text: str) -> datetime:
    """Parse the one timestamp shape events use, or raise ValueError saying what is wrong."""
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        hint = ""
        if re.search(r"\.[0-9]{6}|[+-][0-9]{2}:[0-9]{2}$", text):
            hint = "; this looks like datetime.isoformat() output: use format_timestamp(dt) instead"
        raise ValueError(
            f"{_short(text)} must be UTC with milliseconds and a 'Z', like {_EXAMPLE_TIME!r}{hint}"
        )
    year, month, day, hour, minute, second, millis = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=timezone.utc)
    except ValueError as error:
        raise ValueError(f"{text!r} is not a real date and time ({error})") from None


def _check_timestamp(field: str, value: Any) -> list[Problem]:
    if not isinstance(value, str):
        fix = "turn datetimes into text with format_timestamp(dt)" if isinstance(value, datetime) else ""
        return [_wrong_type(field, "a string", value, fix)]
    try:
        _read_timestamp(value)
    except ValueError as error:
        return [(field, "bad timestamp", str(error))]
    return []


def _check_datetime(field: str, value: Any) -> list[Problem]:
    """The Python-side twin of _check_timestamp, for Event.timestamp."""
    if not isinstance(value, datetime):
        return [_wrong_type(field, "a datetime", value, "read wire text with parse_timestamp(text)")]
    offset = value.utcoffset()
    if offset is None:
        problem = "is naive (it has no timezone); use datetime.now(timezone.utc)"
    elif offset:
        problem = "is not in UTC; convert it with utc_millis(dt)"
    elif value.microsecond % 1000:
        problem = "has digits below the millisecond; truncate it with utc_millis(dt)"
    else:
        return []
    return [(field, "bad timestamp", f"{value.isoformat()} {problem}")]


def _check_version(field: str, value: Any) -> list[Problem]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [_wrong_type(field, "an integer", value, "the schema version is a plain number like 1")]
    if value < 1:
        return [
            (
                field,
                "bad value",
                f"{value} is below 1: version is the payload's schema version, "
                "starting at 1 and going up when its shape changes",
            )
        ]
    return []


def _check_json(path: str, value: Any, depth: int = 1) -> list[Problem]:
    """Walk a payload value and report everything that would not survive a JSON round trip.

    ``depth`` counts the objects and arrays around ``value``; the walk stops at
    MAX_PAYLOAD_DEPTH, so a deep (or self-containing) payload is one clear problem.
    """
    if isinstance(value, (list, dict)) and depth > MAX_PAYLOAD_DEPTH:
        return [
            (
                path,
                "too deep",
                f"objects and arrays nest more than {MAX_PAYLOAD_DEPTH} levels deep here "
                "(MAX_PAYLOAD_DEPTH); flatten the data, or check that it does not contain itself",
            )
        ]
    if value is None or isinstance(value, (bool, int, str)):
        return []
    if isinstance(value, float):
        if math.isfinite(value):
            return []
        return [
            (
                path,
                "bad value",
                f"{value!r} is not valid JSON (JSON has no NaN or Infinity); use null for 'no value'",
            )
        ]
    if isinstance(value, list):
        return [
            problem
            for i, item in enumerate(value)
            for problem in _check_json(f"{path}[{i}]", item, depth + 1)
        ]
    if isinstance(value, dict):
        problems = []
        for key, item in value.items():
            if isinstance(key, str):
                problems += _check_json(f"{path}.{key}", item, depth + 1)
            else:
                problems.append((path, "wrong type", f"object keys must be strings, found key {key!r}"))
        return problems
    return [
        _wrong_type(
            path,
            "a JSON value",
            value,
            "convert it first (a list for a tuple, format_timestamp() for a datetime)",
        )
    ]


def _check_payload(field: str, value: Any) -> list[Problem]:
    if not isinstance(value, dict):
        return [_wrong_type(field, "an object", value, 'wrap the data in one, e.g. {"items": [...]}')]
    return _check_json(field, value)


def _check_metadata(field: str, value: Any) -> list[Problem]:
    if not isinstance(value, dict):
        expected = "an object with correlationId, causationId, userId and source"
        return [_wrong_type(field, expected, value)]
    return _check_object(value, _METADATA_CHECKS, prefix="metadata.")


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate `name` was probably meant to be (ignoring case and '_'), if any."""
    by_simple = {candidate.lower().replace("_", ""): candidate for candidate in candidates}
    matches = difflib.get_close_matches(name.lower().replace("_", ""), list(by_simple), cutoff=0.8)
    return by_simple[matches[0]] if matches else None


def _check_object(d: dict[Any, Any], checks: Mapping[str, Check], prefix: str) -> list[Problem]:
    """Check the expected keys in schema order, then report the keys nobody expects."""
    unknown = [key for key in d if key not in checks]
    owner = "metadata" if prefix else "every event"
    problems: list[Problem] = []
    for key, check in checks.items():
        if key in d:
            problems += check(prefix + key, d[key])
            continue
        message = f"{owner} needs {key!r}"
        if key in ("causationId", "userId"):
            message += " (it may be null, but the key must be there)"
        near = _closest(key, [k for k in unknown if isinstance(k, str)])
        if near:
            message += f"; found {near!r} instead: keys are camelCase and case-sensitive"
        problems.append((prefix + key, "missing", message))
    for key in unknown:
        message = (
            f"{key!r} is not one of the {len(checks)} {'metadata' if prefix else 'envelope'} "
            f"keys ({', '.join(checks)}); they are the same for every event, "
            "so put extra data in the payload"
        )
        near = _closest(str(key), checks)
        if near:
            message += f"; did you mean {near!r}?"
        problems.append((prefix + str(key), "unknown field", message))
    return problems


_METADATA_CHECKS: dict[str, Check] = {
    "correlationId": _check_id,
    "causationId": _check_optional_id,
    "userId": _check_optional_id,
    "source": _check_source,
}
_EVENT_CHECKS: dict[str, Check] = {
    "eventId": _check_event_id,
    "eventType": _check_type_name,
    "aggregateId": _check_id,
    "aggregateType": _check_type_name,
    "timestamp": _check_timestamp,
    "version": _check_version,
    "metadata": _check_metadata,
    "payload": _check_payload,
}


def _size_problems(size: int) -> list[Problem]:
    if size <= MAX_EVENT_BYTES:
        return []
    return [
        (
            "(event)",
            "too large",
            f"the encoded event is {size:,} bytes, over the limit of {MAX_EVENT_BYTES:,} "
            "(MAX_EVENT_BYTES); store the large data elsewhere (object storage, a database) "
            "and put a reference to it in the payload: the claim-check pattern",
        )
    ]


_NOT_PLAIN = object()  # what _plain_copy returns when the data holds anything else
_SCALARS = (str, int, bool, type(None))


def _plain_copy(value: Any, depth: int = 1) -> Any:
    """A deep copy of plain JSON data, or _NOT_PLAIN if anything else is inside.

    Plain means *exactly* dict (with str keys), list, str, int, bool, None and
    finite float, nested at most MAX_PAYLOAD_DEPTH deep. Subclasses are not plain:
    json may encode them differently from how they compare. For plain data a JSON
    round trip gives back an equal copy, so this walk gives the same copy, several
    times faster than encoding and decoding; everything else takes the slow path.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is float:
        return value if math.isfinite(value) else _NOT_PLAIN
    if depth > MAX_PAYLOAD_DEPTH:
        return _NOT_PLAIN
    if kind is dict:
        copy = {}
        for key, item in value.items():
            if type(item) not in _SCALARS:  # only containers and floats need a closer look
                item = _plain_copy(item, depth + 1)
            if type(key) is not str or item is _NOT_PLAIN:
                return _NOT_PLAIN
            copy[key] = item
        return copy
    if kind is list:
        items = [item if type(item) in _SCALARS else _plain_copy(item, depth + 1) for item in value]
        return _NOT_PLAIN if any(item is _NOT_PLAIN for item in items) else items
    return _NOT_PLAIN


def _payload_copy(payload: Any) -> tuple[list[Problem], dict[str, Any]]:
    """The event's own copy of its payload, or the problems that make it no JSON object.

    The fast path copies plain data. Anything else (a tuple, an int key, NaN, an
    IntEnum, too deep) is first walked by the checks, which say where the problem
    is; what they let through (subclasses of str, int, float, dict, list) goes
    through a real JSON round trip, and must come back equal to count as JSON.
    """
    copy: Any = _plain_copy(payload) if type(payload) is dict else _NOT_PLAIN
    if copy is not _NOT_PLAIN:
        return [], copy
    problems = _check_payload("payload", payload)
    if problems:
        return problems, {}
    try:
        copy = json.loads(_WIRE.encode(payload))
    except (TypeError, ValueError):
        return _not_plain_json(payload), {}
    if copy != payload:
        return _not_plain_json(payload), {}
    return [], copy


def _huge_integer_problem(error: ValueError) -> list[Problem]:
    """The problem to report when an integer has too many digits to be written as text."""
    limit = sys.get_int_max_str_digits()
    return [
        (
            "payload",
            "too large",
            f"an integer has more than {limit} digits, which Python will not write as JSON text "
            "(sys.get_int_max_str_digits()); send such a number as a string",
        )
    ]


def _encoded(wire: dict[str, Any]) -> tuple[list[Problem], str]:
    """Encode a valid event once: the text it is stored and sent as, and its size checked."""
    try:
        text = _WIRE.encode(wire)
    except ValueError as error:  # only an integer too long for int-to-text gets here
        return _huge_integer_problem(error), ""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return _encoded_problems(wire), ""
    return _size_problems(size), text


def _not_plain_json(payload: Any) -> list[Problem]:
    return _check_payload("payload", payload) or [
        (
            "payload",
            "bad value",
            "does not survive a JSON round trip unchanged; "
            "use only dicts with string keys, lists, strings, numbers, booleans and null",
        )
    ]


def _encoded_problems(d: dict[str, Any]) -> list[Problem]:
    """Problems only the encoded bytes reveal: the size, and text UTF-8 cannot carry."""
    try:
        data = _WIRE.encode(d).encode()
    except UnicodeEncodeError:
        return [
            (
                "(event)",
                "bad value",
                "some text contains a lone surrogate (like '\\ud800'), "
                "which UTF-8 cannot encode; clean the text first",
            )
        ]
    except ValueError as error:
        if "integer string conversion" in str(error):  # the checks cannot see this one
            return _huge_integer_problem(error)
        return []  # NaN and the like: the field checks have already said why
    except (TypeError, RecursionError):
        return []  # not JSON at all: the field checks have already said why
    return _size_problems(len(data))


def validate(d: dict[str, Any]) -> None:
    """Raise EventValidationError listing every problem in a wire-form event (see the rules above)."""
    if not isinstance(d, dict):
        raise EventValidationError(
            [("(event)", "wrong type", f"an event must be a JSON object, found {_describe(d)}")]
        )
    problems = _check_object(d, _EVENT_CHECKS, prefix="") + _encoded_problems(d)
    if problems:
        raise EventValidationError(problems)


# --- Timestamps ------------------------------------------------------------------------------


def utc_millis(dt: datetime) -> datetime:
    """Convert an aware datetime to UTC and drop the digits below the millisecond.

    Naive datetimes are refused: guessing their timezone is how off-by-hours bugs start.
    """
    if type(dt) is datetime and dt.tzinfo is timezone.utc:  # the usual case: the clock's UTC time
        extra = dt.microsecond % 1000
        return dt - timedelta(0, 0, extra) if extra else dt
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, found {type(dt).__name__}")
    if dt.utcoffset() is None:
        raise ValueError(
            f"naive datetime {dt.isoformat()} has no timezone; use datetime.now("
            "timezone.utc), or dt.replace(tzinfo=timezone.utc) if you know it is UTC"
        )
    dt = dt.astimezone(timezone.utc)
    return dt - timedelta(0, 0, dt.microsecond % 1000)  # (days, seconds, microseconds)


def format_timestamp(dt: datetime) -> str:
    """The wire form of a time: '2026-05-15T14:30:00.000Z' (UTC, milliseconds, 'Z')."""
    global _last_formatted
    if type(dt) is not datetime or dt.tzinfo is not timezone.utc:  # already UTC is the usual case
        dt = utc_millis(dt)
    last = _last_formatted  # events made one after another often share their millisecond
    if dt == last[0] and type(dt) is datetime:
        return last[1]
    # A UTC isoformat() is '2026-05-15T14:30:00.123000+00:00', or without the fraction
    # when there are no microseconds: keep the milliseconds (cut, never rounded) and add 'Z'.
    # (Cutting the text is about twice as fast as isoformat(timespec="milliseconds").)
    text = dt.isoformat()
    text = text[:23] + "Z" if dt.microsecond else text[:19] + ".000Z"
    _last_formatted = (dt, text)  # one tuple, replaced whole: safe to share between threads
    return text


_last_formatted = (datetime(1, 1, 1, tzinfo=timezone.utc), "0001-01-01T00:00:00.000Z")


def parse_timestamp(text: str) -> datetime:
    """Read a wire timestamp into an aware UTC datetime; anything else raises EventValidationError."""
    problems = _check_timestamp("timestamp", text)
    if problems:
        raise EventValidationError(problems)
    return _read_timestamp(text)


# --- The event ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metadata:
    """Who and what an event belongs to; causation_id is None only when nothing recorded caused it."""

    correlation_id: str
    causation_id: str | None
    user_id: str | None  # None for system-initiated events
    source: str

    def __post_init__(self) -> None:
        # The same checks as a metadata dict gets, minus missing and unknown keys: a
        # Metadata object always has exactly its four fields.
        problems = _check_id("metadata.correlationId", self.correlation_id)
        problems += _check_optional_id("metadata.causationId", self.causation_id)
        problems += _check_optional_id("metadata.userId", self.user_id)
        problems += _check_source("metadata.source", self.source)
        if problems:
            raise EventValidationError(problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "correlationId": self.correlation_id,
            "causationId": self.causation_id,
            "userId": self.user_id,
            "source": self.source,
        }


@dataclass(frozen=True)
class Event:
    """One fact that happened, in its envelope. Every constructor validates.

    Problems name fields by their wire names (``metadata.correlationId``) even
    for Python objects, so there is one vocabulary for errors. ``version`` is the
    payload's *schema* version, not a position in a stream. ``payload`` is a deep
    copy of what you passed in, and ``to_dict()`` hands out another copy, so no
    caller can change an event behind your back; do not mutate ``event.payload``.

    Validating encodes the event, so the event keeps that text: ``to_json()``
    and the event stores use it as it is, and what they store is exactly what
    was checked, whatever happens to the payload dict afterwards.
    """

    event_id: str
    event_type: str
    aggregate_id: str
    aggregate_type: str
    timestamp: datetime  # aware UTC, millisecond precision
    version: int
    metadata: Metadata
    payload: dict[str, Any] = field(hash=False)  # a dict cannot be hashed; equality still compares it
    # The compact wire JSON, set once by validation; not a field of the envelope itself.
    _json: str = field(init=False, default="", repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        problems = _check_event_id("eventId", self.event_id)
        problems += _check_type_name("eventType", self.event_type)
        problems += _check_id("aggregateId", self.aggregate_id)
        problems += _check_type_name("aggregateType", self.aggregate_type)
        problems += _check_datetime("timestamp", self.timestamp)
        problems += _check_version("version", self.version)
        if not isinstance(self.metadata, Metadata):
            problems.append(_wrong_type("metadata", "a Metadata", self.metadata, "use Metadata(...)"))
        payload_problems, payload = _payload_copy(self.payload)
        if problems or payload_problems:  # every problem at once
            raise EventValidationError(problems + payload_problems)
        # A frozen dataclass may only set its own fields this way, and only here.
        object.__setattr__(self, "payload", payload)
        problems, text = _encoded(self._wire())
        if problems:
            raise EventValidationError(problems)
        object.__setattr__(self, "_json", text)

    def _wire(self) -> dict[str, Any]:
        """The wire form sharing this event's payload: for encoding only, never handed out."""
        return {
            "eventId": self.event_id,
            "eventType": self.event_type,
            "aggregateId": self.aggregate_id,
            "aggregateType": self.aggregate_type,
            "timestamp": format_timestamp(self.timestamp),
            "version": self.version,
            "metadata": self.metadata.to_dict(),
            "payload": self.payload,
        }

    def to_dict(self) -> dict[str, Any]:
        """The wire form: camelCase keys in schema order. A fresh copy you may change."""
        wire: dict[str, Any] = _DECODER.decode(self._json)
        return wire

    def to_json(self, indent: int | None = None) -> str:
        """Compact JSON for the wire (the text validation produced), or indented for people."""
        if indent is None:
            return self._json
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        """Validate a wire-form dict (reporting every problem at once), then build the Event."""
        validate(d)
        meta = d["metadata"]
        metadata = Metadata(
            correlation_id=meta["correlationId"],
            causation_id=meta["causationId"],
            user_id=meta["userId"],
            source=meta["source"],
        )
        return cls(
            event_id=d["eventId"],
            event_type=d["eventType"],
            aggregate_id=d["aggregateId"],
            aggregate_type=d["aggregateType"],
            timestamp=parse_timestamp(d["timestamp"]),
            version=d["version"],
            metadata=metadata,
            payload=d["payload"],
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        """Parse wire JSON, refusing oversized input *before* parsing (it costs memory and time)."""
        size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
        if _size_problems(size):
            raise EventValidationError(_size_problems(size))
        try:
            data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
        except json.JSONDecodeError as error:
            where = f"line {error.lineno}, column {error.colno}"
            raise EventValidationError([("(event)", "not JSON", f"{where}: {error.msg}")]) from error
        except UnicodeDecodeError as error:
            message = f"the bytes are not UTF-8 text ({error.reason})"
            raise EventValidationError([("(event)", "not JSON", message)]) from error
        except _DuplicateKey as error:
            raise EventValidationError([("(event)", "duplicate key", str(error))]) from None
        except RecursionError:
            message = (
                f"objects and arrays nest too deep to parse; a payload may nest at most "
                f"{MAX_PAYLOAD_DEPTH} levels (MAX_PAYLOAD_DEPTH)"
            )
            raise EventValidationError([("(event)", "too deep", message)]) from None
        return cls.from_dict(data)

    @classmethod
    def from_stored_json(cls, text: str) -> Event:
        """Rebuild an event from text its own :meth:`to_json` produced, *without* validating again.

        For event stores reading back their own writes: every stored event was
        validated before it was stored, and validating costs more than parsing.
        Never use it on text from outside (a file, a request): :meth:`from_json`
        is for that. The result is indistinguishable from the event that was stored.
        """
        d = _DECODER.raw_decode(text)[0]  # json.loads without its two whitespace scans: our text has none
        meta = d["metadata"]
        metadata = object.__new__(Metadata)
        # A frozen dataclass refuses attribute assignment; filling the instance dict is the
        # same end state its __init__ reaches through object.__setattr__, minus the checks.
        metadata.__dict__.update(
            correlation_id=meta["correlationId"],
            causation_id=meta["causationId"],
            user_id=meta["userId"],
            source=meta["source"],
        )
        event = object.__new__(cls)
        event.__dict__.update(
            event_id=d["eventId"],
            event_type=d["eventType"],
            aggregate_id=d["aggregateId"],
            aggregate_type=d["aggregateType"],
            # fromisoformat reads our own '...T14:30:00.000Z' far faster than the checked parser
            timestamp=datetime.fromisoformat(d["timestamp"][:-1] + "+00:00"),
            version=d["version"],
            metadata=metadata,
            payload=d["payload"],
            _json=text,
        )
        return event


class _DuplicateKey(ValueError):
    """Raised inside json.loads by _refuse_duplicate_keys, turned into a problem by from_json."""


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads keeps the *last* of two equal keys, other parsers the first: refuse both."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(
                f"key {key!r} appears twice in one object; parsers disagree about which one counts "
                "(Python's json keeps the last, others the first), so an event never repeats a key"
            )
        seen.add(key)
    return dict(pairs)


# --- Making events: injectable ids and clocks keep notebooks deterministic --------------------


@dataclass
class SequentialIds:
    """Readable ids for notebooks and tests: evt_0001, evt_0002, ... (wider after evt_9999)."""

    prefix: str = "evt"
    count: int = 0

    def __call__(self) -> str:
        self.count += 1
        return f"{self.prefix}_{self.count:04d}"


def uuid_ids(prefix: str = "evt") -> str:
    """A globally unique, time-ordered id such as 'evt_0196d4a2-5c3e-7a41-9b2f-3c8e1d7f6a05': the default.

    It is a UUID version 7 (RFC 9562): 48 bits of Unix time in milliseconds, then
    74 random bits. The random bits make it unique without coordination, like the
    older random-only version 4; the time in front makes ids created one after
    another sort together. That matters to a database: an event store keeps a
    unique index on event ids, and time-ordered ids land at the end of it, where
    one page takes a whole batch, instead of on a random page each.
    """
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big") >> 6  # 74 bits from the OS, as uuid4 uses
    # 128 bits, most significant first: time | version 7 | 12 random | variant 0b10 | 62 random
    bits = millis << 80 | 0x7 << 76 | (random >> 62) << 64 | 0b10 << 62 | random & (1 << 62) - 1
    digits = bits.to_bytes(16, "big").hex()
    return f"{prefix}_{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@dataclass
class ManualClock:
    """A clock you move by hand: each call returns ``now``, then moves it on by ``step``."""

    start: datetime
    step: timedelta = timedelta(0)
    now: datetime = field(init=False)

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None:
            raise ValueError("ManualClock needs an aware start: datetime(..., tzinfo=timezone.utc)")
        self.now = self.start

    def __call__(self) -> datetime:
        current = self.now
        self.now += self.step
        return current

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def system_clock() -> datetime:
    """The real time, in UTC: the default clock."""
    return datetime.now(timezone.utc)


class _Inherit(Enum):
    """Marks 'copy this from the parent' (None cannot, since None already means 'no user')."""

    FROM_PARENT = "from parent"


def new_event(
    event_type: str,
    aggregate_id: str,
    aggregate_type: str,
    payload: dict[str, Any],
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    user_id: str | None = None,
    source: str = "course",
    version: int = 1,
    ids: Callable[[], str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Event:
    """Create an event that starts a causal chain.

    Without a ``correlation_id`` the event starts a new conversation, named by
    convention after the event's own id. ``causation_id`` may name what caused it
    from outside the event stream, such as the command 'cmd_abc123'.
    """
    event_id = (uuid_ids if ids is None else ids)()
    now = (system_clock if clock is None else clock)()
    if correlation_id is None:
        correlation_id = event_id
    if type(now) is datetime and now.tzinfo is timezone.utc:  # the usual clock: utc_millis cannot fail
        event = _fast_event(
            event_id, event_type, aggregate_id, aggregate_type, utc_millis(now), version,
            correlation_id, causation_id, user_id, source, payload,
        )  # fmt: skip
        if event is not None:
            return event
    # Something is wrong (or unusual): the checked constructors say exactly what.
    metadata = Metadata(correlation_id, causation_id, user_id, source)
    return Event(
        event_id, event_type, aggregate_id, aggregate_type, utc_millis(now), version, metadata, payload
    )


# Type names and sources are few and repeat on every event: remember the ones that passed.
# Only exact str values are remembered (hashing one cannot run user code), at most 1,000 of each.
_TYPE_NAMES_SEEN: set[str] = set()
_SOURCES_SEEN: set[str] = set()


def _remembered_match(value: Any, pattern: re.Pattern[str], seen: set[str]) -> bool:
    """``pattern.fullmatch(value)`` for an exact str, remembering (up to 1,000) values that passed."""
    if type(value) is not str:
        return False
    if value in seen:
        return True
    if not pattern.fullmatch(value):
        return False
    if len(seen) < 1000:
        seen.add(value)
    return True


def _is_type_name(value: Any) -> bool:
    return _remembered_match(value, _PASCAL_CASE, _TYPE_NAMES_SEEN)


def _is_source(value: Any) -> bool:
    return _remembered_match(value, _SOURCE, _SOURCES_SEEN)


def _fast_event(
    event_id: Any,
    event_type: Any,
    aggregate_id: Any,
    aggregate_type: Any,
    timestamp: Any,
    version: Any,
    correlation_id: Any,
    causation_id: Any,
    user_id: Any,
    source: Any,
    payload: Any,
) -> Event | None:
    """The Event that ``Event(..., Metadata(...), payload)`` would build, or None to let it decide.

    new_event runs once per recorded event, so it takes this shortcut: one cheap
    test per rule (exact types, one regex each), then the two objects filled in
    directly, skipping the frozen dataclasses' field-by-field __init__. Each test
    passes only values the full check accepts; anything else (a wrong value, a
    str subclass, a tuple in the payload, non-ASCII text) returns None, and the
    checked constructors then build the event or report every problem.
    """
    if not (
        type(event_id) is str
        and _EVENT_ID.fullmatch(event_id)
        and _is_type_name(event_type)
        and type(aggregate_id) is str
        and _VALID_ID.fullmatch(aggregate_id)
        and _is_type_name(aggregate_type)
        and type(timestamp) is datetime
        and timestamp.tzinfo is timezone.utc
        and not timestamp.microsecond % 1000
        and type(version) is int
        and version >= 1
        and (
            correlation_id is event_id or type(correlation_id) is str and _VALID_ID.fullmatch(correlation_id)
        )
        and (causation_id is None or type(causation_id) is str and _VALID_ID.fullmatch(causation_id))
        and (user_id is None or type(user_id) is str and _VALID_ID.fullmatch(user_id))
        and _is_source(source)
        and type(payload) is dict
    ):
        return None
    payload = _plain_copy(payload)
    if payload is _NOT_PLAIN:
        return None
    wire = {
        "eventId": event_id,
        "eventType": event_type,
        "aggregateId": aggregate_id,
        "aggregateType": aggregate_type,
        "timestamp": format_timestamp(timestamp),
        "version": version,
        "metadata": {
            "correlationId": correlation_id,
            "causationId": causation_id,
            "userId": user_id,
            "source": source,
        },
        "payload": payload,
    }
    text = _WIRE.encode(wire)
    if not text.isascii() or len(text) > MAX_EVENT_BYTES:  # ASCII: one byte per character
        return None
    # The same end state as the dataclasses' __init__ (see Event.from_stored_json).
    metadata = object.__new__(Metadata)
    metadata.__dict__.update(
        correlation_id=correlation_id, causation_id=causation_id, user_id=user_id, source=source
    )
    event = object.__new__(Event)
    event.__dict__.update(
        event_id=event_id,
        event_type=event_type,
        aggregate_id=aggregate_id,
        aggregate_type=aggregate_type,
        timestamp=timestamp,
        version=version,
        metadata=metadata,
        payload=payload,
        _json=text,
    )
    return event


def caused_by(
    parent: Event,
    event_type: str,
    aggregate_id: str,
    aggregate_type: str,
    payload: dict[str, Any],
    *,
    user_id: str | None | _Inherit = _Inherit.FROM_PARENT,
    source: str | _Inherit = _Inherit.FROM_PARENT,
    version: int = 1,
    ids: Callable[[], str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Event:
    """Create an event caused by ``parent``: same conversation, and the parent as its cause."""
    return new_event(
        event_type,
        aggregate_id,
        aggregate_type,
        payload,
        correlation_id=parent.metadata.correlation_id,
        causation_id=parent.event_id,
        user_id=parent.metadata.user_id if user_id is _Inherit.FROM_PARENT else user_id,
        source=parent.metadata.source if source is _Inherit.FROM_PARENT else source,
        version=version,
        ids=ids,
        clock=clock,
    )
