"""The event envelope: validation, the wire round trip, making events, and tracing them."""

from __future__ import annotations

import dataclasses
import enum
import json
import pickle
import random
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.events import (
    MAX_EVENT_BYTES,
    MAX_PAYLOAD_DEPTH,
    Event,
    EventValidationError,
    ManualClock,
    Metadata,
    SequentialIds,
    caused_by,
    format_timestamp,
    new_event,
    parse_timestamp,
    system_clock,
    utc_millis,
    uuid_ids,
    validate,
)
from course_lib.tracing import trace

# The example event exactly as the course's source text gives it.
SOURCE_EXAMPLE = """{
"eventId": "evt_a1b2c3d4-e5f6-7890-abcd-ef1234567890",
"eventType": "OrderPlaced",
"aggregateId": "order_12345",
"aggregateType": "Order",
"timestamp": "2026-05-15T14:30:00.000Z",
"version": 1,
"metadata": {
"correlationId": "req_xyz789",
"causationId": "cmd_abc123",
"userId": "user_456",
"source": "order-service"
},
"payload": {
"orderId": "order_12345",
"customerId": "cust_789",
"items": [
{ "productId": "prod_001", "quantity": 2, "unitPrice": 29.99 }
],
"totalAmount": 59.98,
"currency": "USD"
}
}"""

START = datetime(2026, 5, 15, 14, 30, tzinfo=timezone.utc)
DELETE = object()  # marks a key to remove in `rejected`


def example() -> dict:
    return json.loads(SOURCE_EXAMPLE)


def rejected(path: str, value: object) -> EventValidationError:
    """Set (or, with DELETE, remove) one dotted field of the example; return the error it causes."""
    d = example()
    *parents, key = path.split(".")
    target = d
    for parent in parents:
        target = target[parent]
    if value is DELETE:
        del target[key]
    else:
        target[key] = value
    with pytest.raises(EventValidationError) as info:
        Event.from_dict(d)
    return info.value


# --- The source text's example -----------------------------------------------------------------

def test_source_example_parses():
    event = Event.from_json(SOURCE_EXAMPLE)
    assert event.event_id == "evt_a1b2c3d4-e5f6-7890-abcd-ef1234567890"
    assert event.timestamp == START
    assert event.metadata == Metadata("req_xyz789", "cmd_abc123", "user_456", "order-service")
    assert event.payload["items"][0]["unitPrice"] == 29.99


def test_source_example_round_trips_through_json():
    event = Event.from_json(SOURCE_EXAMPLE)
    assert Event.from_json(event.to_json()) == event
    assert Event.from_json(event.to_json(indent=2)) == event
    assert Event.from_json(event.to_json().encode("utf-8")) == event


def test_to_dict_equals_the_source_dict_including_key_order():
    event = Event.from_json(SOURCE_EXAMPLE)
    assert event.to_dict() == example()
    assert json.dumps(event.to_dict()) == json.dumps(example())


def test_to_json_is_compact_and_keeps_non_ascii_text():
    event = dataclasses.replace(Event.from_json(SOURCE_EXAMPLE), payload={"city": "Zürich"})
    assert event.to_json().startswith('{"eventId":"evt_a1b2c3d4-e5f6-7890-abcd-ef1234567890","eventType"')
    assert '"city":"Zürich"' in event.to_json()


# --- Round trip property -----------------------------------------------------------------------

tokens = st.text(st.characters(exclude_categories=("Z", "C")), min_size=1, max_size=30).filter(
    lambda s: not any(char.isspace() for char in s))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
events = st.builds(
    Event,
    event_id=st.from_regex(r"evt_[A-Za-z0-9][A-Za-z0-9-]{0,40}", fullmatch=True),
    event_type=st.from_regex(r"[A-Z][A-Za-z0-9]{0,20}", fullmatch=True),
    aggregate_id=tokens,
    aggregate_type=st.from_regex(r"[A-Z][A-Za-z0-9]{0,20}", fullmatch=True),
    timestamp=st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(timezone.utc))
    .map(utc_millis),
    version=st.integers(min_value=1, max_value=1000),
    metadata=st.builds(
        Metadata,
        correlation_id=tokens,
        causation_id=st.none() | tokens,
        user_id=st.none() | tokens,
        source=st.from_regex(r"[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,8}){0,3}", fullmatch=True),
    ),
    payload=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
)


@settings(deadline=None)  # max_examples and derandomize come from the profile in conftest.py
@given(events)
def test_any_valid_event_round_trips_through_json(event):
    validate(event.to_dict())
    assert Event.from_json(event.to_json()) == event
    assert Event.from_dict(event.to_dict()) == event


# --- Invalid events: each names the first problem's field and rule ------------------------------

TOP_LEVEL_KEYS = ["eventId", "eventType", "aggregateId", "aggregateType", "timestamp", "version",
                  "metadata", "payload"]
METADATA_KEYS = ["correlationId", "causationId", "userId", "source"]


@pytest.mark.parametrize("key", TOP_LEVEL_KEYS)
def test_missing_top_level_key_is_reported(key):
    error = rejected(key, DELETE)
    assert (error.field, error.rule) == (key, "missing")


@pytest.mark.parametrize("key", METADATA_KEYS)
def test_missing_metadata_key_is_reported(key):
    error = rejected(f"metadata.{key}", DELETE)
    assert (error.field, error.rule) == (f"metadata.{key}", "missing")


def test_null_causation_and_user_are_allowed_but_must_be_present():
    d = example()
    d["metadata"].update(causationId=None, userId=None)
    assert Event.from_dict(d).metadata.user_id is None
    assert "may be null" in str(rejected("metadata.userId", DELETE))


def test_unknown_top_level_key_is_reported_with_the_fix():
    error = rejected("tenant", "acme")
    assert (error.field, error.rule) == ("tenant", "unknown field")
    assert "put extra data in the payload" in str(error)


def test_misspelled_key_is_reported_with_a_suggestion():
    d = example()
    d["eventID"] = d.pop("eventId")
    with pytest.raises(EventValidationError) as info:
        validate(d)
    assert [(field, rule) for field, rule, _ in info.value.problems] == [
        ("eventId", "missing"), ("eventID", "unknown field")]
    assert "found 'eventID' instead" in info.value.problems[0][2]
    assert "did you mean 'eventId'?" in info.value.problems[1][2]


def test_unknown_metadata_key_is_reported_with_a_suggestion():
    error = rejected("metadata.correlation_id", "req_1")
    assert (error.field, error.rule) == ("metadata.correlation_id", "unknown field")
    assert "did you mean 'correlationId'?" in str(error)


@pytest.mark.parametrize("path, value, found", [
    ("version", "1", "found a string ('1')"),
    ("version", True, "found a boolean (true)"),
    ("version", 1.0, "found a number (1.0)"),
    ("payload", [1, 2], "found an array"),
    ("metadata", "order-service", "found a string ('order-service')"),
    ("eventType", 5, "found a number (5)"),
    ("metadata.correlationId", None, "found null"),
    ("timestamp", 1778855400000, "found a number (1778855400000)"),
], ids=["version-string", "version-bool", "version-float", "payload-list", "metadata-string",
        "eventType-number", "correlationId-null", "timestamp-number"])
def test_wrong_type_names_expected_and_found_json_types(path, value, found):
    error = rejected(path, value)
    assert (error.field, error.rule) == (path, "wrong type")
    assert "expected " in str(error) and found in str(error)


def test_version_below_one_is_a_bad_value():
    error = rejected("version", 0)
    assert (error.field, error.rule) == ("version", "bad value")


@pytest.mark.parametrize("value, hint", [
    ("2026-05-15T14:30:00.000", "like '2026-05-15T14:30:00.000Z'"),
    ("2026-05-15T14:30:00+00:00", "use format_timestamp(dt)"),
    ("2026-05-15T14:30:00.123456+00:00", "use format_timestamp(dt)"),
    ("2026-05-15T14:30:00.123456Z", "use format_timestamp(dt)"),
    ("2026-05-15T14:30:00Z", "with milliseconds"),
    ("2026-02-30T14:30:00.000Z", "not a real date and time"),
    ("2026-05-15T24:00:00.000Z", "not a real date and time"),
    ("", "like '2026-05-15T14:30:00.000Z'"),
], ids=["no-Z", "isoformat", "isoformat-micros", "micros-with-Z", "no-millis", "feb-30", "hour-24", "empty"])
def test_bad_timestamp_is_rejected_with_a_hint(value, hint):
    error = rejected("timestamp", value)
    assert (error.field, error.rule) == ("timestamp", "bad timestamp")
    assert hint in str(error)


def test_bad_event_id_message_reads_well():
    error = rejected("eventId", "evt abc")
    assert str(error) == ("eventId: bad id: 'evt abc' must look like 'evt_<letters, digits or dashes>', "
                          "e.g. 'evt_a1b2c3d4-e5f6-7890-abcd-ef1234567890'")


@pytest.mark.parametrize("path, value", [
    ("eventId", "a1b2c3d4"),
    ("eventId", "evt_"),
    ("eventId", "evt_a1b2\n"),
    ("eventId", "evt_" + "a" * 121),
    ("aggregateId", ""),
    ("aggregateId", "x" * 129),
    ("metadata.correlationId", "req xyz"),
    ("metadata.causationId", "cmd\tabc"),
    ("metadata.userId", ""),
], ids=["no-prefix", "prefix-only", "trailing-newline", "too-long", "empty-aggregateId",
        "long-aggregateId", "space-in-correlationId", "tab-in-causationId", "empty-userId"])
def test_bad_id_is_rejected(path, value):
    error = rejected(path, value)
    assert (error.field, error.rule) == (path, "bad id")


@pytest.mark.parametrize("path, value, suggestion", [
    ("eventType", "orderPlaced", "did you mean 'OrderPlaced'?"),
    ("eventType", "order placed", "did you mean 'OrderPlaced'?"),
    ("eventType", "", "past-tense facts"),
    ("aggregateType", "order", "did you mean 'Order'?"),
    ("metadata.source", "Order Service", "did you mean 'order-service'?"),
    ("metadata.source", "order_service", "did you mean 'order-service'?"),
    ("metadata.source", "", "like 'order-service'"),
], ids=["eventType-camelCase", "eventType-spaces", "eventType-empty", "aggregateType-lowercase",
        "source-spaces", "source-underscore", "source-empty"])
def test_badly_written_name_is_a_bad_value_with_a_suggestion(path, value, suggestion):
    error = rejected(path, value)
    assert (error.field, error.rule) == (path, "bad value")
    assert suggestion in str(error)


def test_nan_in_payload_is_a_bad_value_at_its_path():
    error = rejected("payload", {"items": [{"unitPrice": float("nan")}]})
    assert (error.field, error.rule) == ("payload.items[0].unitPrice", "bad value")


def test_non_json_value_in_payload_is_a_wrong_type():
    assert rejected("payload", {"at": START}).field == "payload.at"
    assert rejected("payload", {"pair": (1, 2)}).rule == "wrong type"
    assert rejected("payload", {1: "one"}).rule == "wrong type"


def test_a_payload_nested_deeper_than_the_limit_is_a_clear_problem_not_a_recursion_error():
    ok = {}
    for _ in range(MAX_PAYLOAD_DEPTH - 1):  # the payload object itself is level 1
        ok = {"a": ok}
    assert Event(**good_fields(payload=ok)).payload == ok
    for deep in ({"a": ok}, {"a": [ok]}):
        error = rejected("payload", deep)
        assert error.rule == "too deep" and f"{MAX_PAYLOAD_DEPTH} levels" in str(error)
        assert error.field.startswith("payload.a") and error.field.endswith(".a.a")  # down to the level too many
        with pytest.raises(EventValidationError, match="too deep"):
            Event(**good_fields(payload=deep))
    very_deep = [1]
    for _ in range(100_000):  # far past Python's recursion limit
        very_deep = [very_deep]
    assert rejected("payload", {"a": very_deep}).rule == "too deep"
    with pytest.raises(EventValidationError, match="too deep"):
        Event.from_json(SOURCE_EXAMPLE.replace('"currency": "USD"', '"x": ' + "[" * 100_000 + "]" * 100_000))


def test_a_payload_that_contains_itself_is_too_deep():
    loop: dict = {}
    loop["again"] = loop
    assert rejected("payload", loop).rule == "too deep"


def test_duplicate_keys_in_json_text_are_refused():
    twice = SOURCE_EXAMPLE.replace('"version": 1,', '"version": 1, "version": 2,')
    with pytest.raises(EventValidationError) as info:
        Event.from_json(twice)
    assert (info.value.field, info.value.rule) == ("(event)", "duplicate key")
    assert "'version' appears twice" in str(info.value)
    nested = SOURCE_EXAMPLE.replace('"quantity": 2,', '"quantity": 2, "quantity": 3,')
    with pytest.raises(EventValidationError, match="'quantity' appears twice"):
        Event.from_json(nested)


def test_payload_values_json_would_change_are_normalised_like_a_round_trip():
    class Kind(str, enum.Enum):
        BOOK = "book"

    event = Event(**good_fields(payload={"kind": Kind.BOOK, "n": enum.IntEnum("N", "ONE").ONE}))
    assert event.payload == {"kind": "book", "n": 1}
    assert type(event.payload["kind"]) is str and type(event.payload["n"]) is int
    assert Event.from_json(event.to_json()) == event


def test_to_json_is_the_text_validation_produced_and_from_stored_json_gives_the_event_back():
    event = Event.from_json(SOURCE_EXAMPLE)
    text = event.to_json()
    assert text == json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"))
    assert Event.from_stored_json(text) == event
    assert Event.from_stored_json(text).to_json() == text
    assert Event.from_stored_json(text).timestamp.tzinfo is timezone.utc


def test_lone_surrogate_text_is_refused():
    error = rejected("payload", {"name": "\ud800"})
    assert (error.field, error.rule) == ("(event)", "bad value")


def padded_to(size: int) -> dict:
    """The example, with a payload blob making its encoded form exactly `size` bytes."""
    d = example()
    d["payload"]["blob"] = ""
    base = len(json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode())
    d["payload"]["blob"] = "x" * (size - base)
    return d


def test_event_of_exactly_the_limit_is_accepted():
    assert len(Event.from_dict(padded_to(MAX_EVENT_BYTES)).to_json().encode()) == MAX_EVENT_BYTES


def test_too_large_event_is_refused_by_from_dict():
    with pytest.raises(EventValidationError) as info:
        Event.from_dict(padded_to(MAX_EVENT_BYTES + 1))
    assert (info.value.field, info.value.rule) == ("(event)", "too large")
    assert f"{MAX_EVENT_BYTES + 1:,} bytes" in str(info.value) and "claim-check" in str(info.value)


def test_too_large_text_is_refused_by_from_json_before_parsing():
    with pytest.raises(EventValidationError) as info:
        Event.from_json("x" * (MAX_EVENT_BYTES + 1))  # parsing it would say "not JSON"
    assert (info.value.field, info.value.rule) == ("(event)", "too large")
    with pytest.raises(EventValidationError) as info:
        Event.from_json(json.dumps(padded_to(MAX_EVENT_BYTES + 1), separators=(",", ":")))
    assert info.value.rule == "too large"


def test_invalid_json_is_reported_with_line_and_column():
    with pytest.raises(EventValidationError) as info:
        Event.from_json('{\n  "eventId": "evt_1",\n}')
    assert (info.value.field, info.value.rule) == ("(event)", "not JSON")
    assert "line 3, column 1" in str(info.value)


def test_bytes_that_are_not_utf8_are_not_json():
    with pytest.raises(EventValidationError) as info:
        Event.from_json(b'{"eventId": "\xff"}')
    assert info.value.rule == "not JSON"


def test_top_level_array_is_a_wrong_type():
    with pytest.raises(EventValidationError) as info:
        Event.from_json("[1, 2]")
    assert (info.value.field, info.value.rule) == ("(event)", "wrong type")
    assert "found an array" in str(info.value)


def test_several_problems_are_all_listed():
    d = example()
    d["eventId"] = "evt abc"
    d["version"] = 0
    d["metadata"]["source"] = "Order Service"
    d["priority"] = "high"
    with pytest.raises(EventValidationError) as info:
        validate(d)
    error = info.value
    assert [(field, rule) for field, rule, _ in error.problems] == [
        ("eventId", "bad id"), ("version", "bad value"), ("metadata.source", "bad value"),
        ("priority", "unknown field")]
    lines = str(error).splitlines()
    assert lines[0] == "4 problems in event:"
    assert lines[1:] == [f"  {field}: {rule}: {message}" for field, rule, message in error.problems]


def test_validation_error_is_a_value_error_and_pickles():
    error = rejected("version", 0)
    assert isinstance(error, ValueError)
    copied = pickle.loads(pickle.dumps(error))
    assert (copied.problems, str(copied)) == (error.problems, str(error))


# --- Building Event objects directly ----------------------------------------------------------

def good_fields(**changes) -> dict:
    fields = dict(event_id="evt_0001", event_type="OrderPlaced", aggregate_id="order_1",
                  aggregate_type="Order", timestamp=START, version=1,
                  metadata=Metadata("req_1", None, None, "order-service"), payload={"total": 1})
    return fields | changes


@pytest.mark.parametrize("changes, field, rule", [
    ({"event_id": "1234"}, "eventId", "bad id"),
    ({"event_type": "order_placed"}, "eventType", "bad value"),
    ({"timestamp": datetime(2026, 5, 15, 14, 30)}, "timestamp", "bad timestamp"),
    ({"timestamp": START.replace(microsecond=123456)}, "timestamp", "bad timestamp"),
    ({"timestamp": START.astimezone(timezone(timedelta(hours=2)))}, "timestamp", "bad timestamp"),
    ({"timestamp": "2026-05-15T14:30:00.000Z"}, "timestamp", "wrong type"),
    ({"version": True}, "version", "wrong type"),
    ({"metadata": {"correlationId": "req_1"}}, "metadata", "wrong type"),
    ({"payload": [1]}, "payload", "wrong type"),
], ids=["event_id", "event_type", "naive-time", "micro-time", "non-utc-time", "text-time", "bool-version",
        "dict-metadata", "list-payload"])
def test_constructing_an_invalid_event_raises(changes, field, rule):
    with pytest.raises(EventValidationError) as info:
        Event(**good_fields(**changes))
    assert (info.value.field, info.value.rule) == (field, rule)


def test_constructing_invalid_metadata_raises():
    with pytest.raises(EventValidationError) as info:
        Metadata("req 1", None, None, "order-service")
    assert (info.value.field, info.value.rule) == ("metadata.correlationId", "bad id")


def test_dataclasses_replace_validates_too():
    with pytest.raises(EventValidationError):
        dataclasses.replace(Event(**good_fields()), version=0)


def test_payload_is_copied_in_and_out():
    payload = {"items": [{"sku": "a"}]}
    event = Event(**good_fields(payload=payload))
    payload["items"].append({"sku": "b"})
    event.to_dict()["payload"]["items"].clear()
    assert event.payload == {"items": [{"sku": "a"}]}


def test_events_are_hashable_and_equal_by_value():
    assert Event(**good_fields()) == Event(**good_fields())
    assert len({Event(**good_fields()), Event(**good_fields())}) == 1


# --- Timestamps ---------------------------------------------------------------------------------

def test_format_timestamp_converts_to_utc_and_truncates_to_milliseconds():
    local = datetime(2026, 5, 15, 16, 30, 0, 123999, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(local) == "2026-05-15T14:30:00.123Z"
    assert parse_timestamp("2026-05-15T14:30:00.123Z") == utc_millis(local)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="no timezone"):
        format_timestamp(datetime(2026, 5, 15, 14, 30))


def test_parse_timestamp_refuses_isoformat_output():
    with pytest.raises(EventValidationError, match="format_timestamp"):
        parse_timestamp(START.isoformat())


# --- Making events ------------------------------------------------------------------------------

def test_sequential_ids_count_up_and_widen_past_9999():
    ids = SequentialIds()
    assert [ids(), ids()] == ["evt_0001", "evt_0002"]
    assert SequentialIds("cmd", count=9999)() == "cmd_10000"


def test_uuid_ids_are_valid_event_ids():
    first, second = uuid_ids(), uuid_ids()
    assert first != second
    assert Event(**good_fields(event_id=first)).event_id == first


def test_uuid_ids_are_version_7_uuids_that_sort_by_time():
    before = time.time_ns() // 1_000_000
    ids = [uuid_ids("cmd") for _ in range(200)]
    after = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(i.removeprefix("cmd_")) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert all(str(u) == i.removeprefix("cmd_") for u, i in zip(parsed, ids))
    millis = [u.int >> 80 for u in parsed]  # the first 48 bits: Unix time in milliseconds
    assert before <= millis[0] and millis == sorted(millis) and millis[-1] <= after
    assert len(set(ids)) == len(ids)


def test_manual_clock_returns_now_then_steps():
    clock = ManualClock(START, step=timedelta(seconds=1))
    assert [clock(), clock()] == [START, START + timedelta(seconds=1)]
    clock.advance(timedelta(minutes=1))
    assert clock.now == START + timedelta(minutes=1, seconds=2)


def test_system_clock_is_aware_utc():
    assert system_clock().utcoffset() == timedelta(0)


def make_order(ids=None, clock=None) -> Event:
    return new_event("OrderPlaced", "order_1", "Order", {"total": 59.98}, user_id="user_456",
                     source="order-service", ids=ids or SequentialIds(), clock=clock or ManualClock(START))


def test_new_event_is_deterministic_with_injected_ids_and_clock():
    first = make_order(SequentialIds(), ManualClock(START, timedelta(seconds=1)))
    again = make_order(SequentialIds(), ManualClock(START, timedelta(seconds=1)))
    assert first == again
    assert first.to_json() == again.to_json()


def test_new_event_starts_a_conversation_named_after_itself():
    order = make_order()
    assert order.metadata.correlation_id == order.event_id == "evt_0001"
    assert order.metadata.causation_id is None


def test_new_event_truncates_the_clock_to_milliseconds():
    order = make_order(clock=ManualClock(START.replace(microsecond=987654)))
    assert order.timestamp == START.replace(microsecond=987000)


class _Text(str):
    """A str subclass: new_event's shortcut leaves it to the checked constructors."""


# Each case changes make_event's arguments; valid ones too, so both paths are compared.
NEW_EVENT_CASES = [
    {},
    {"payload": {"name": "Café ☕", "tags": ["a", {"b": None}], "ratio": 0.5, "ok": True}},
    {"payload": {"items": (1, 2)}},
    {"payload": {"x": float("nan")}},
    {"payload": {1: "int key"}},
    {"payload": {"text": "\ud800"}},
    {"payload": {"blob": "x" * MAX_EVENT_BYTES}},
    {"payload": []},
    {"event_type": "order placed"},
    {"event_type": _Text("OrderPlaced")},
    {"aggregate_id": "order 1"},
    {"aggregate_id": "x" * 129},
    {"aggregate_type": ""},
    {"version": 0},
    {"version": True},
    {"correlation_id": ""},
    {"causation_id": "cmd abc"},
    {"user_id": 7},
    {"source": "Order Service"},
    {"ids": lambda: "event-1"},
    {"clock": lambda: datetime(2026, 5, 15, 14, 30)},
    {"clock": lambda: datetime(2026, 5, 15, 16, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))},
    {"aggregate_id": "", "source": "", "version": -1, "payload": {"x": (1,)}},
]


@pytest.mark.parametrize("change", NEW_EVENT_CASES)
def test_new_event_builds_what_the_checked_constructors_build(change):
    # new_event takes a shortcut for the usual valid case: it must give the same event,
    # and for anything invalid the same problems, as Event(..., Metadata(...), payload).
    args = {"event_type": "OrderPlaced", "aggregate_id": "order_1", "aggregate_type": "Order",
            "payload": {"total": 5998}, "correlation_id": None, "causation_id": "cmd_abc123",
            "user_id": "user_456", "source": "order-service", "version": 1,
            "ids": lambda: "evt_0001", "clock": lambda: START.replace(microsecond=123456)} | change

    def checked():
        event_id = args["ids"]()
        correlation_id = event_id if args["correlation_id"] is None else args["correlation_id"]
        metadata = Metadata(correlation_id, args["causation_id"], args["user_id"], args["source"])
        return Event(event_id, args["event_type"], args["aggregate_id"], args["aggregate_type"],
                     utc_millis(args["clock"]()), args["version"], metadata, args["payload"])

    def made():
        return new_event(**args)

    outcomes = []
    for build in (checked, made):
        try:
            event = build()
        except (EventValidationError, ValueError, TypeError) as error:
            outcomes.append((type(error), getattr(error, "problems", str(error))))
        else:
            outcomes.append((event, event.to_json(), repr(event), type(event.metadata)))
    assert outcomes[0] == outcomes[1]


def test_caused_by_copies_correlation_and_sets_causation():
    ids = SequentialIds()
    order = new_event("OrderPlaced", "order_1", "Order", {}, correlation_id="req_xyz789",
                      causation_id="cmd_abc123", user_id="user_456", source="order-service",
                      ids=ids, clock=ManualClock(START))
    payment = caused_by(order, "PaymentRequested", "pay_1", "Payment", {}, ids=ids, clock=ManualClock(START))
    assert payment.metadata == Metadata("req_xyz789", order.event_id, "user_456", "order-service")


def test_caused_by_can_override_inherited_user_and_source():
    ids = SequentialIds()
    order = make_order(ids)
    job = caused_by(order, "ReminderScheduled", "order_1", "Order", {}, user_id=None,
                    source="scheduler", ids=ids, clock=ManualClock(START))
    assert (job.metadata.user_id, job.metadata.source) == (None, "scheduler")


def test_a_chain_of_three_hops_keeps_one_correlation():
    ids, clock = SequentialIds(), ManualClock(START, timedelta(seconds=1))
    order = make_order(ids, clock)
    payment = caused_by(order, "PaymentProcessed", "pay_1", "Payment", {}, ids=ids, clock=clock)
    confirmed = caused_by(payment, "OrderConfirmed", "order_1", "Order", {}, ids=ids, clock=clock)
    shipped = caused_by(confirmed, "ShipmentScheduled", "ship_1", "Shipment", {}, ids=ids, clock=clock)
    chain = [order, payment, confirmed, shipped]
    assert {event.metadata.correlation_id for event in chain} == {"evt_0001"}
    assert [event.metadata.causation_id for event in chain] == [None, "evt_0001", "evt_0002", "evt_0003"]
    assert trace(chain).path("evt_0004") == chain


# --- Tracing ------------------------------------------------------------------------------------

def order_story() -> list[Event]:
    """Eight events of one order, created one second apart."""
    ids, clock = SequentialIds(), ManualClock(START, timedelta(seconds=1))

    def then(parent: Event, event_type: str, source: str) -> Event:
        return caused_by(parent, event_type, "order_12345", "Order", {}, source=source, ids=ids, clock=clock)

    placed = new_event("OrderPlaced", "order_12345", "Order", {"total": 59.98}, correlation_id="req_xyz789",
                       user_id="user_456", source="order-service", ids=ids, clock=clock)
    requested = then(placed, "PaymentRequested", "order-service")
    reserved = then(placed, "InventoryReserved", "inventory-service")
    processed = then(requested, "PaymentProcessed", "payment-service")
    confirmed = then(processed, "OrderConfirmed", "order-service")
    scheduled = then(confirmed, "ShipmentScheduled", "shipping-service")
    emailed = then(confirmed, "ConfirmationEmailSent", "notification-service")
    awarded = then(processed, "LoyaltyPointsAwarded", "loyalty-service")
    return [placed, requested, reserved, processed, confirmed, scheduled, emailed, awarded]


ORDER_STORY_TEXT = """\
correlation req_xyz789
OrderPlaced evt_0001 [order-service]
├─ PaymentRequested evt_0002 [order-service]
│  └─ PaymentProcessed evt_0004 [payment-service]
│     ├─ OrderConfirmed evt_0005 [order-service]
│     │  ├─ ShipmentScheduled evt_0006 [shipping-service]
│     │  └─ ConfirmationEmailSent evt_0007 [notification-service]
│     └─ LoyaltyPointsAwarded evt_0008 [loyalty-service]
└─ InventoryReserved evt_0003 [inventory-service]"""


def test_trace_draws_the_expected_tree():
    assert trace(order_story()).text() == ORDER_STORY_TEXT


def test_trace_draws_a_small_tree_as_mermaid():
    tree = trace(order_story()[:3])
    assert tree.mermaid() == """\
flowchart TD
    subgraph g1["correlation req_xyz789"]
        n1["OrderPlaced<br/>evt_0001"]
        n2["PaymentRequested<br/>evt_0002"]
        n1 --> n2
        n3["InventoryReserved<br/>evt_0003"]
        n1 --> n3
    end"""


@pytest.mark.parametrize("seed", range(6))
def test_trace_output_does_not_depend_on_arrival_order(seed):
    story = order_story()
    shuffled = story[:]
    random.Random(seed).shuffle(shuffled)
    assert trace(shuffled).text() == ORDER_STORY_TEXT
    assert trace(shuffled).mermaid() == trace(story).mermaid()


def test_siblings_at_the_same_time_are_ordered_by_event_id():
    ids, clock = SequentialIds(), ManualClock(START)  # the clock never moves
    root = make_order(ids, clock)
    kids = [caused_by(root, "ItemPicked", "order_1", "Order", {}, ids=ids, clock=clock) for _ in range(3)]
    assert trace(kids[::-1] + [root]).children(root.event_id) == kids


def test_path_depth_children_and_roots():
    story = order_story()
    tree = trace(story)
    assert tree.path("evt_0006") == [story[i] for i in (0, 1, 3, 4, 5)]
    assert tree.depth("evt_0006") == 4 and tree.depth("evt_0001") == 0
    assert tree.children("evt_0001") == [story[1], story[2]]
    assert tree.children("evt_0008") == []
    assert tree.roots == [story[0]]
    with pytest.raises(KeyError):
        tree.children("evt_9999")


def test_event_with_a_missing_cause_hangs_under_an_unknown_root():
    story = order_story()
    del story[1]  # PaymentRequested evt_0002 never arrived
    tree = trace(story)
    assert tree.text() == """\
correlation req_xyz789
OrderPlaced evt_0001 [order-service]
└─ InventoryReserved evt_0003 [inventory-service]
evt_0002 (not an event in this list)
└─ PaymentProcessed evt_0004 [payment-service]
   ├─ OrderConfirmed evt_0005 [order-service]
   │  ├─ ShipmentScheduled evt_0006 [shipping-service]
   │  └─ ConfirmationEmailSent evt_0007 [notification-service]
   └─ LoyaltyPointsAwarded evt_0008 [loyalty-service]"""
    assert [event.event_id for event in tree.roots] == ["evt_0001", "evt_0004"]
    assert tree.path("evt_0005")[0].event_id == "evt_0004"
    assert '(["evt_0002<br/>not an event in this list"])' in tree.mermaid()


def test_source_example_shows_its_command_as_an_unknown_cause():
    assert trace([Event.from_json(SOURCE_EXAMPLE)]).text() == """\
correlation req_xyz789
cmd_abc123 (not an event in this list)
└─ OrderPlaced evt_a1b2c3d4-e5f6-7890-abcd-ef1234567890 [order-service]"""


def test_two_correlation_ids_give_two_groups():
    ids, clock = SequentialIds(), ManualClock(START, timedelta(seconds=1))
    first = make_order(ids, clock)
    second = make_order(ids, clock)
    reply = caused_by(first, "PaymentRequested", "order_1", "Order", {}, ids=ids, clock=clock)
    tree = trace([reply, second, first])
    assert tree.text() == """\
correlation evt_0001
OrderPlaced evt_0001 [order-service]
└─ PaymentRequested evt_0003 [order-service]

correlation evt_0002
OrderPlaced evt_0002 [order-service]"""
    assert tree.mermaid().count("subgraph") == 2


def test_identical_duplicate_is_kept_once_and_counted():
    story = order_story()
    tree = trace(story + [story[3], Event.from_json(story[3].to_json())])
    assert tree.duplicates == 2
    assert tree.text() == ORDER_STORY_TEXT


def test_conflicting_duplicate_raises():
    story = order_story()
    impostor = dataclasses.replace(story[3], payload={"amount": 1})
    with pytest.raises(ValueError, match="evt_0004.*differ in payload"):
        trace(story + [impostor])


def test_causation_cycle_raises():
    a = Event(**good_fields(event_id="evt_a", metadata=Metadata("req_1", "evt_b", None, "x")))
    b = Event(**good_fields(event_id="evt_b", metadata=Metadata("req_1", "evt_a", None, "x")))
    with pytest.raises(ValueError, match="cycle: evt_a -> evt_b -> evt_a"):
        trace([a, b])
    with pytest.raises(ValueError, match="cycle"):
        trace([Event(**good_fields(metadata=Metadata("req_1", "evt_0001", None, "x")))])


def test_mermaid_escapes_quotes_in_labels():
    odd = Event(**good_fields(metadata=Metadata('req_"1"', 'cmd_"x"', None, "x")))
    mermaid = trace([odd]).mermaid()
    assert 'correlation req_#quot;1#quot;' in mermaid and 'cmd_#quot;x#quot;' in mermaid


def test_tree_displays_in_jupyter_and_as_text():
    tree = trace(order_story())
    bundle = tree._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/vnd.mermaid"}
    assert bundle["text/plain"] == str(tree) == ORDER_STORY_TEXT
    assert bundle["text/vnd.mermaid"].startswith("flowchart TD")
    assert repr(tree) == "<CausalTree: 8 events, 1 roots, 0 duplicates>"
    assert trace([]).text() == "(no events)"


# --- Integers too long to write as text ----------------------------------------------------


@pytest.mark.parametrize("sign", [1, -1])
def test_validate_and_from_dict_agree_on_an_integer_too_long_to_write(sign):
    """Python refuses int-to-text beyond sys.get_int_max_str_digits(): both paths say so alike."""
    number = sign * 10**5000
    wire = {
        "eventId": "evt_1",
        "eventType": "OrderCreated",
        "aggregateId": "order_1",
        "aggregateType": "Order",
        "timestamp": "2026-05-15T14:30:00.000Z",
        "version": 1,
        "metadata": {"correlationId": "evt_1", "causationId": None, "userId": None, "source": "shop"},
        "payload": {"amount": number},
    }
    with pytest.raises(EventValidationError) as by_validate:
        validate(wire)
    with pytest.raises(EventValidationError) as by_from_dict:
        Event.from_dict(wire)
    assert by_validate.value.problems == by_from_dict.value.problems
    assert by_validate.value.problems[0][:2] == ("payload", "too large")
    wire["payload"] = {"amount": 10**4000}  # within the limit: fine both ways
    validate(wire)
    assert Event.from_dict(wire).payload["amount"] == 10**4000
