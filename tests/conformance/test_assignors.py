"""course_lib's range and roundrobin assignors give the partitions out exactly as kafka-python's do.

kafka-python's ``RangePartitionAssignor`` and ``RoundRobinPartitionAssignor`` are
the code a real consumer-group leader runs in Python, ports of the Java client's
``RangeAssignor`` and ``RoundRobinAssignor`` (Kafka's own, whose semantics
``course_lib.log.assignors`` follows). Here they run on the inputs a leader has:
the JoinGroup response's members (member id, ``group_instance_id``, and the
subscription the consumer encoded, decoded again) and cluster metadata
answering ``partitions_for_topic``. Hypothesis draws the groups: up to six
members, up to five topics of 1-8 partitions, each member subscribed to its own
subset (maybe none), a subscribed topic sometimes missing from the metadata,
members in any JoinGroup order.

Where kafka-python differs from the Java client (both found by these tests, on
kafka-python 3.0.12; both come from its port of static membership, KIP-345):

* **Roundrobin crashes when it must skip a member.** In the loop that passes
  over members not subscribed to a partition's topic, kafka-python writes
  ``member_id = next(member_iter)``, but the circle now holds
  ``(group_instance_id, member_id)`` pairs, so the next lookup raises
  ``KeyError: (None, 'C1')``. Any group whose subscriptions make the circle
  skip someone fails to rebalance, kafka-python's own docstring example
  included. Java's ``RoundRobinAssignor`` steps its ``CircularIterator`` past
  such members. A strict expected failure records the docstring example; the
  property compares those groups with kafka-python's own module with that one
  line unpacking the pair (:func:`roundrobin_with_the_skip_fixed`), everything
  else untouched.
* **Static members mixed with dynamic ones.** Java sorts members with
  ``AbstractPartitionAssignor.MemberInfo.compareTo``: static members first, by
  ``group.instance.id``, then dynamic members by member id. kafka-python means
  the same order, but splits the members with ``itertools.groupby`` on the
  *unsorted* JoinGroup list and keeps the groups in a dict: when static and
  dynamic members interleave, each later run of one kind replaces the earlier
  ones, and the members of the replaced runs get no partitions at all. A strict
  expected failure; with the static members listed first (one run of each
  kind) kafka-python orders them as Java does, which is checked too. course_lib
  has no static membership: the main comparison uses dynamic members, and the
  Java order is reproduced by renaming members so that their names sort the way
  ``MemberInfo`` does.

Not differences here: rack-aware range assignment (KIP-881, Java 3.5+) only
acts when consumers and partitions carry racks, and none of kafka-python,
course_lib or these inputs have them; Java compares strings by UTF-16 code
unit and Python by code point, which disagree only beyond U+FFFF, outside what
topic names (``[a-zA-Z0-9._-]``) and these member ids hold.

On every drawn group of dynamic members course_lib agrees with kafka-python
(with the skip line fixed where the original crashes).
"""

from __future__ import annotations

import functools
import inspect
import string
import types

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from course_lib.log.assignors import assign_range, assign_roundrobin

pytestmark = pytest.mark.conformance

range_module = pytest.importorskip("kafka.coordinator.assignors.range")  # the services extra
import kafka.coordinator.assignors.roundrobin as roundrobin_module  # noqa: E402
from kafka.protocol.consumer.group import JoinGroupResponse  # noqa: E402
from kafka.protocol.consumer.metadata import ConsumerProtocolSubscription  # noqa: E402

KAFKA_PYTHON = {
    "range": range_module.RangePartitionAssignor,
    "roundrobin": roundrobin_module.RoundRobinPartitionAssignor,
}
COURSE_LIB = {"range": assign_range, "roundrobin": assign_roundrobin}

Plain = dict[str, list[tuple[str, int]]]  # member id -> sorted (topic, partition)


class Metadata:
    """The one question an assignor asks the cluster: which partitions a topic has (None: unknown)."""

    def __init__(self, partitions_per_topic: dict[str, int]) -> None:
        self.partitions_per_topic = partitions_per_topic

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        if topic not in self.partitions_per_topic:
            return None
        return set(range(self.partitions_per_topic[topic]))


def kafka_python(
    name: str,
    subscriptions: dict[str, set[str]],
    partitions_per_topic: dict[str, int],
    order: list[str],
    instance_ids: dict[str, str] | None = None,
    assignor: type | None = None,
) -> Plain:
    """Run kafka-python's assignor as a group leader does, on members in JoinGroup ``order``."""
    assignor = assignor or KAFKA_PYTHON[name]
    instance_ids = instance_ids or {}
    members = [
        JoinGroupResponse.JoinGroupResponseMember(
            member_id=member,
            group_instance_id=instance_ids.get(member),
            # What the consumer sent, decoded as ConsumerCoordinator._perform_assignment does.
            metadata=ConsumerProtocolSubscription.decode(
                assignor.metadata(sorted(subscriptions[member])).encode()
            ),
        )
        for member in order
    ]
    result = assignor.assign(Metadata(partitions_per_topic), members)
    return {
        member: sorted((tp.topic, tp.partition) for tp in assignment.partitions())
        for member, assignment in result.items()
    }


SKIP_LINE = "                member_id = next(member_iter)\n"


@functools.cache
def roundrobin_with_the_skip_fixed() -> type:
    """kafka-python's roundrobin module run again, its skip line unpacking the (instance, member) pair."""
    source = inspect.getsource(roundrobin_module)
    assert source.count(SKIP_LINE) == 1, "the skip line changed: is kafka-python fixed? see the xfail below"
    fixed = types.ModuleType("roundrobin_with_the_skip_fixed")
    code = source.replace(SKIP_LINE, SKIP_LINE.replace("member_id =", "_group_instance_id, member_id ="))
    exec(compile(code, roundrobin_module.__file__, "exec"), fixed.__dict__)
    return fixed.RoundRobinPartitionAssignor


def crashes_skipping(name: str, error: KeyError) -> bool:
    """Is this the roundrobin skip crash (a KeyError on an (instance, member) pair)?"""
    return name == "roundrobin" and isinstance(error.args[0], tuple)


def kafka_python_or_its_fix(name: str, *args, **kwargs) -> Plain:
    """kafka-python's assignment; where its roundrobin hits the skip crash, its fixed copy's."""
    try:
        result = kafka_python(name, *args, **kwargs)
    except KeyError as error:
        if not crashes_skipping(name, error):
            raise
        event("kafka-python crashed skipping a member: compared with the fixed copy")
        return kafka_python(name, *args, **kwargs, assignor=roundrobin_with_the_skip_fixed())
    event("compared with kafka-python itself")
    return result


def course_lib(name: str, subscriptions: dict[str, set[str]], partitions_per_topic: dict[str, int]) -> Plain:
    result = COURSE_LIB[name](subscriptions, partitions_per_topic)
    return {member: sorted((tp.topic, tp.partition) for tp in tps) for member, tps in result.items()}


def java_order(
    name: str,
    subscriptions: dict[str, set[str]],
    partitions_per_topic: dict[str, int],
    instance_ids: dict[str, str],
) -> Plain:
    """The Java client's assignment with static members: course_lib on names that sort like MemberInfo.

    Static members sort first, by group.instance.id, then dynamic ones by member id.
    """
    names = {
        member: f"0:{instance_ids[member]}" if member in instance_ids else f"1:{member}"
        for member in subscriptions
    }
    members_by_name = {renamed: member for member, renamed in names.items()}
    renamed_result = course_lib(name, {names[m]: t for m, t in subscriptions.items()}, partitions_per_topic)
    return {members_by_name[renamed]: tps for renamed, tps in renamed_result.items()}


TOPIC = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=4)
MEMBER = st.text(alphabet="abc-012", min_size=1, max_size=4)  # short: prefixes and near ties in order


@st.composite
def groups(draw: st.DrawFn) -> tuple[dict[str, set[str]], dict[str, int], list[str]]:
    """Subscriptions (member -> topics), partition counts (known topics only), JoinGroup order."""
    topics = draw(st.lists(TOPIC, min_size=1, max_size=5, unique=True))
    unknown = draw(st.sets(st.sampled_from(topics), max_size=1))  # subscribed to, missing from metadata
    partitions_per_topic = {t: draw(st.integers(1, 8)) for t in topics if t not in unknown}
    members = draw(st.lists(MEMBER, min_size=1, max_size=6, unique=True))
    subscriptions = {m: draw(st.sets(st.sampled_from(topics))) for m in members}
    order = draw(st.permutations(members))
    return subscriptions, partitions_per_topic, list(order)


@pytest.mark.parametrize("name", ["range", "roundrobin"])
@given(group=groups())
def test_course_lib_assigns_like_kafka_python(name, group):
    subscriptions, partitions_per_topic, order = group
    expected = kafka_python_or_its_fix(name, subscriptions, partitions_per_topic, order)
    assert course_lib(name, subscriptions, partitions_per_topic) == expected


@given(group=groups())
def test_with_equal_subscriptions_kafka_python_roundrobin_never_skips_and_agrees(group):
    subscriptions, partitions_per_topic, order = group
    everything = set().union(*subscriptions.values())
    same = {member: everything for member in subscriptions}
    expected = kafka_python("roundrobin", same, partitions_per_topic, order)  # the original, no fix
    assert course_lib("roundrobin", same, partitions_per_topic) == expected


@pytest.mark.parametrize("name", ["range", "roundrobin"])
@given(group=groups(), data=st.data())
def test_with_static_members_listed_first_kafka_python_orders_them_like_java(name, group, data):
    subscriptions, partitions_per_topic, order = group
    static = data.draw(st.sets(st.sampled_from(order)))
    instance_ids = {m: data.draw(st.text(alphabet="xyz", min_size=1, max_size=3)) + m for m in static}
    first = [m for m in order if m in static] + [m for m in order if m not in static]
    found = kafka_python_or_its_fix(name, subscriptions, partitions_per_topic, first, instance_ids)
    assert found == java_order(name, subscriptions, partitions_per_topic, instance_ids)


# The examples in kafka-python's docstrings (and Java's javadoc), with the answers they state.
EVEN = {"C0": {"t0", "t1"}, "C1": {"t0", "t1"}}, {"t0": 3, "t1": 3}
UNEVEN = {"C0": {"t0"}, "C1": {"t0", "t1"}, "C2": {"t0", "t1", "t2"}}, {"t0": 1, "t1": 2, "t2": 3}
DOCUMENTED = {
    ("range", "even"): {"C0": [("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)], "C1": [("t0", 2), ("t1", 2)]},
    ("roundrobin", "even"): {
        "C0": [("t0", 0), ("t0", 2), ("t1", 1)],
        "C1": [("t0", 1), ("t1", 0), ("t1", 2)],
    },
    ("roundrobin", "uneven"): {
        "C0": [("t0", 0)],
        "C1": [("t1", 0)],
        "C2": [("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)],
    },
}


@pytest.mark.parametrize(("name", "example"), sorted(DOCUMENTED))
def test_course_lib_and_the_fixed_copy_give_the_documented_answers(name, example):
    subscriptions, partitions_per_topic = EVEN if example == "even" else UNEVEN
    assert course_lib(name, subscriptions, partitions_per_topic) == DOCUMENTED[name, example]
    if name == "roundrobin":
        fixed = roundrobin_with_the_skip_fixed()
        found = kafka_python(name, subscriptions, partitions_per_topic, sorted(subscriptions), assignor=fixed)
        assert found == DOCUMENTED[name, example]


@pytest.mark.parametrize("name", ["range", "roundrobin"])
def test_kafka_python_gives_the_documented_answer_for_equal_subscriptions(name):
    subscriptions, partitions_per_topic = EVEN
    assert kafka_python(name, subscriptions, partitions_per_topic, ["C1", "C0"]) == DOCUMENTED[name, "even"]


@pytest.mark.xfail(
    strict=True,
    raises=KeyError,
    reason="kafka-python 3.0 roundrobin: member_id = next(member_iter) in the skip loop takes a "
    "(group_instance_id, member_id) pair, and looking that pair up raises KeyError",
)
def test_kafka_python_roundrobin_on_its_own_uneven_example():
    subscriptions, partitions_per_topic = UNEVEN
    result = kafka_python("roundrobin", subscriptions, partitions_per_topic, ["C0", "C1", "C2"])
    assert result == DOCUMENTED["roundrobin", "uneven"]


# Three members of one six-partition topic; b is static, listed between a and c.
INTERLEAVED = {"a": {"t"}, "b": {"t"}, "c": {"t"}}, {"b": "instance-b"}, ["a", "b", "c"]
JAVA_INTERLEAVED = {  # b (static) first, then a and c (dynamic, by member id): two partitions each
    "range": {"b": [("t", 0), ("t", 1)], "a": [("t", 2), ("t", 3)], "c": [("t", 4), ("t", 5)]},
    "roundrobin": {"b": [("t", 0), ("t", 3)], "a": [("t", 1), ("t", 4)], "c": [("t", 2), ("t", 5)]},
}


@pytest.mark.parametrize("name", ["range", "roundrobin"])
def test_the_java_order_puts_static_members_first(name):
    subscriptions, instance_ids, _order = INTERLEAVED
    assert java_order(name, subscriptions, {"t": 6}, instance_ids) == JAVA_INTERLEAVED[name]


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="kafka-python 3.0 splits static from dynamic members with itertools.groupby on the unsorted "
    "JoinGroup list: interleaved, the first dynamic member's run is replaced and it gets nothing",
)
@pytest.mark.parametrize("name", ["range", "roundrobin"])
def test_kafka_python_with_static_and_dynamic_members_interleaved(name):
    subscriptions, instance_ids, order = INTERLEAVED
    assert kafka_python(name, subscriptions, {"t": 6}, order, instance_ids) == JAVA_INTERLEAVED[name]
