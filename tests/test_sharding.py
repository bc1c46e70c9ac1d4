"""course_lib.sharding: placements, what moves when nodes come and go, and query costs."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.sharding import (
    ConsistentHashRing, DirectorySharding, DirectoryUnavailable, HashModSharding, RangeSharding,
    distribute, keys_moved, load, range_query, spread, stable_hash,
)

KEYS_100K = [f"user:{i}" for i in range(100_000)]
NAMES = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8)


def test_stable_hash_is_md5_based_and_the_same_in_every_process():
    # the first 8 bytes of md5; Python's hash() would differ from process to process
    import hashlib
    assert stable_hash("user:1") == int.from_bytes(hashlib.md5(b"user:1").digest()[:8], "big")


# -- consistent hashing ----------------------------------------------------------------------

@given(st.integers(1, 12), st.integers(1, 50), st.lists(NAMES, min_size=1, max_size=200, unique=True))
def test_adding_a_node_moves_only_keys_that_now_belong_to_the_new_node(n, vnodes, keys):
    before = ConsistentHashRing([f"node-{i}" for i in range(n)], vnodes)
    after = before.with_node("node-new")
    for key in keys_moved(before, after, keys):
        assert after.shard_for(key) == "node-new", key


@given(st.integers(2, 12), st.integers(1, 50), st.lists(NAMES, min_size=1, max_size=200, unique=True))
def test_removing_a_node_moves_only_its_own_keys(n, vnodes, keys):
    before = ConsistentHashRing([f"node-{i}" for i in range(n)], vnodes)
    after = before.without_node("node-0")
    for key in keys_moved(before, after, keys):
        assert before.shard_for(key) == "node-0", key


@settings(max_examples=8)
@given(st.integers(1, 20), st.integers(100, 300))
def test_with_100k_keys_and_100_vnodes_about_one_in_n_plus_one_keys_move(n, vnodes):
    before = ConsistentHashRing([f"node-{i}" for i in range(n)], vnodes)
    share = len(keys_moved(before, before.with_node("node-new"), KEYS_100K)) / len(KEYS_100K)
    ideal = 1 / (n + 1)
    assert 0.5 * ideal <= share <= 1.5 * ideal, f"n={n} vnodes={vnodes}: moved {share:.4f}, ideal {ideal:.4f}"


@settings(max_examples=20)
@given(st.integers(2, 40))
def test_hash_mod_n_moves_more_than_half_the_keys_when_n_grows(n):
    keys = KEYS_100K[:20_000]
    share = len(keys_moved(HashModSharding(n), HashModSharding(n + 1), keys)) / len(keys)
    assert share > 0.5, f"n={n}: only {share:.3f} moved"
    assert share == pytest.approx(n / (n + 1), abs=0.02)  # a key stays only if h%n == h%(n+1)


@given(st.lists(NAMES, min_size=1, max_size=50), st.integers(1, 30))
def test_bisect_lookup_agrees_with_a_linear_scan(keys, vnodes):
    ring = ConsistentHashRing(["a", "b", "c"], vnodes)
    assert [ring.shard_for(k) for k in keys] == [ring.shard_for_linear(k) for k in keys]


def test_more_virtual_nodes_spread_load_more_evenly():
    nodes = [f"node-{i}" for i in range(10)]
    keys = KEYS_100K[:30_000]
    spreads = {v: spread(load(ConsistentHashRing(nodes, v), keys)) for v in (1, 10, 100, 500)}
    assert spreads[1] > spreads[10] > spreads[100] >= spreads[500] - 0.02
    assert spreads[500] < 1.1
    ownership = ConsistentHashRing(nodes, 100).ownership()
    assert sum(ownership.values()) == pytest.approx(1.0)


def test_ring_membership_errors_name_the_node():
    ring = ConsistentHashRing(["a", "b"])
    with pytest.raises(ValueError, match="already on the ring"):
        ring.with_node("a")
    with pytest.raises(ValueError, match="not on the ring"):
        ring.without_node("z")


# -- range sharding ----------------------------------------------------------------------------

SURNAMES = ["Adams", "Baker", "Clark", "Sanchez", "Schmidt", "Scott", "Singh", "Smith", "Stewart",
            "Sullivan", "Taylor", "Young"]


def test_range_sharding_follows_the_split_points():
    shards = RangeSharding(["N"])  # A-M on shard-0, N-Z on shard-1
    assert [shards.shard_for(k) for k in ("Adams", "Miller", "Nguyen", "Zhou")] == [
        "shard-0", "shard-0", "shard-1", "shard-1"]
    assert shards.describe() == ["shard-0: (start) .. N", "shard-1: N .. (end)"]


def test_skewed_keys_make_a_range_shard_hot_and_quantile_splits_fix_it():
    alphabet = RangeSharding(["G", "N", "T"])  # four even-looking letter ranges
    counts = load(alphabet, SURNAMES)
    # N..T holds every S surname
    assert counts == {"shard-0": 3, "shard-1": 0, "shard-2": 7, "shard-3": 2} and spread(counts) > 2.3
    balanced = RangeSharding.balanced(SURNAMES, 4)
    assert spread(load(balanced, SURNAMES)) == 1.0


def test_a_range_query_visits_one_range_shard_but_every_hash_shard():
    users = SURNAMES
    by_range, by_hash = RangeSharding(["G", "N", "T"]), HashModSharding(4)
    expected = ["Smith", "Stewart", "Sullivan", "Taylor"]
    rows, visited = range_query(by_range, distribute(by_range, users), "Smith", "Taylor")
    assert rows == expected and visited == ["shard-2", "shard-3"]
    rows, visited = range_query(by_hash, distribute(by_hash, users), "Smith", "Taylor")
    assert rows == expected and visited == ["shard-0", "shard-1", "shard-2", "shard-3"]


def test_range_sharding_rejects_unsorted_splits():
    with pytest.raises(ValueError, match="sorted and distinct"):
        RangeSharding(["N", "G"])


# -- directory -------------------------------------------------------------------------------

def by_country(key: str) -> str:
    return "eu" if key.split(":")[0] in {"de", "fr"} else "us"


def test_a_directory_places_keys_by_any_rule_and_moves_one_key_alone():
    directory = DirectorySharding(by_country, ["eu", "us"])
    assert directory.shard_for("de:anna") == "eu" and directory.shard_for("us:bob") == "us"
    assert directory.move("us:bob", "eu") == "us"
    assert directory.shard_for("us:bob") == "eu" and directory.shard_for("de:anna") == "eu"
    assert directory.lookups == 5  # every lookup is an extra hop


def test_when_the_directory_fails_no_key_can_be_found():
    directory = DirectorySharding(by_country, ["eu", "us"])
    directory.shard_for("de:anna")
    directory.fail()
    with pytest.raises(DirectoryUnavailable, match="directory is down"):
        directory.shard_for("de:anna")
    directory.recover()
    assert directory.shard_for("de:anna") == "eu"
    with pytest.raises(ValueError, match="unknown shard"):
        directory.assign("x", "mars")
