"""Keyed partitions, the pure part: a stable even hash, and a balanced sticky deterministic plan.

The plan's properties are checked over random cases from a fixed seed (hypothesis is not a
dev dependency): each case is reproducible from its index.
"""

from __future__ import annotations

import itertools
import random
import zlib
from collections import Counter

import pytest

from framework.events.partitioning import Partition, assign, moves, partition_of

SEED = 20


def _case(index: int) -> tuple[int, list[str], dict[int, str]]:
    """Random partitions, members, and a current ownership that may name departed members."""
    rng = random.Random(SEED * 100_000 + index)
    partitions = rng.choice([1, 2, 3, 7, 8, 12, 32, 64])
    pool = [f"m{n}" for n in range(10)]
    members = rng.sample(pool, rng.randint(1, 8))
    current = {p: rng.choice(pool) for p in range(partitions) if rng.random() < 0.8}
    return partitions, members, current


CASES = range(300)


def _least_moves(partitions: int, members: list[str], current: dict[int, str]) -> int:
    """The fewest owned partitions that must change owner, by trying every choice of ceil quotas."""
    counts = Counter(owner for owner in current.values() if owner in members)
    base, extra = divmod(partitions, len(members))
    best = None
    for larger in itertools.combinations(members, extra):
        excess = sum(max(0, counts[m] - base - (m in larger)) for m in members)
        best = excess if best is None else min(best, excess)
    assert best is not None
    return best


def test_partition_of_is_crc32_of_the_utf8_key() -> None:
    """The documented hash: CRC-32 of the UTF-8 bytes mod P, for str and bytes alike."""
    assert partition_of("BTCUSDT", 8) == zlib.crc32(b"BTCUSDT") % 8
    assert partition_of("BTCUSDT", 8) == partition_of(b"BTCUSDT", 8)
    assert partition_of("é", 32) == zlib.crc32("é".encode()) % 32


def test_partition_of_is_pinned() -> None:
    """Known values: a change to the hash would move every key, so it must fail a test first."""
    assert [partition_of(key, 8) for key in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "")] == [3, 4, 0, 0]
    assert partition_of("order-42", 32) == 30
    assert zlib.crc32(b"123456789") == 0xCBF43926  # the CRC-32 check value of the standard


@pytest.mark.parametrize("partitions", [8, 32])
def test_partition_of_spreads_keys_evenly(partitions: int) -> None:
    """10,000 realistic keys land within 15 % of the mean in every partition."""
    keys = [f"order-{n}" for n in range(5000)] + [f"SYM{n:04d}USDT" for n in range(5000)]
    counts = Counter(partition_of(key, partitions) for key in keys)
    mean = len(keys) / partitions
    assert set(counts) == set(range(partitions))
    assert all(abs(count - mean) < 0.15 * mean for count in counts.values()), counts


def test_partition_of_refuses_no_partitions() -> None:
    """Zero partitions is a configuration error, named in the message."""
    with pytest.raises(ValueError, match="partitions must be 1 or more, got 0"):
        partition_of("key", 0)


@pytest.mark.parametrize("index", CASES)
def test_assign_is_balanced_and_complete(index: int) -> None:
    """Every partition has exactly one owner, a member, and each member owns floor or ceil of P/M."""
    partitions, members, current = _case(index)
    plan = assign(partitions, members, current)
    assert sorted(plan) == list(range(partitions))
    assert set(plan.values()) <= set(members)
    counts = Counter(plan.values())
    low, high = partitions // len(members), -(-partitions // len(members))
    assert all(low <= counts.get(m, 0) <= high for m in members), counts


@pytest.mark.parametrize("index", CASES)
def test_assign_moves_the_fewest_partitions(index: int) -> None:
    """Only the least possible number of owned partitions change owner; in-quota owners keep theirs."""
    partitions, members, current = _case(index)
    plan = assign(partitions, members, current)
    moved = [p for p, owner in current.items() if owner in members and plan[p] != owner]
    assert len(moved) == _least_moves(partitions, members, current)


@pytest.mark.parametrize("index", CASES[:100])
def test_assign_is_deterministic(index: int) -> None:
    """The same view in any order gives the same plan (so every member computes the same one)."""
    partitions, members, current = _case(index)
    shuffled = members[:]
    random.Random(index).shuffle(shuffled)
    reordered = dict(reversed(list(current.items())))
    assert assign(partitions, members, current) == assign(partitions, shuffled + members[:1], reordered)


@pytest.mark.parametrize("index", CASES[:100])
def test_assign_is_stable(index: int) -> None:
    """Assigning again from the plan itself moves nothing."""
    partitions, members, current = _case(index)
    plan = assign(partitions, members, current)
    assert assign(partitions, members, plan) == plan


def test_a_joining_member_takes_only_its_share() -> None:
    """8 partitions over 2 members, a third joins: it gets 2, each old member gives up 1 (a 4-4 tie)."""
    before = assign(8, ["a", "b"], {})
    after = assign(8, ["a", "b", "c"], before)
    changed = moves(before, after)
    assert len(changed) == 2 and all(new == "c" for _, new in changed.values())
    assert Counter(after.values()) == {"a": 3, "b": 3, "c": 2}


def test_a_leaving_member_hands_over_only_its_own() -> None:
    """When a member leaves, only its partitions move, spread over the others."""
    before = assign(8, ["a", "b", "c"], {})
    after = assign(8, ["a", "c"], before)
    assert {p for p, (old, _) in moves(before, after).items()} == {p for p, o in before.items() if o == "b"}
    assert Counter(after.values()) == {"a": 4, "c": 4}


def test_members_joining_and_leaving_in_turn_keep_the_plan_balanced() -> None:
    """A random walk of joins and leaves: each step balanced, and moves never exceed the minimum."""
    rng = random.Random(SEED)
    members, plan = ["m0"], assign(32, ["m0"], {})
    for step in range(200):
        if len(members) > 1 and rng.random() < 0.4:
            members.remove(rng.choice(members))
        elif len(members) < 12:
            members.append(f"n{step}")
        new = assign(32, members, plan)
        moved = [p for p, owner in plan.items() if owner in members and new[p] != owner]
        assert len(moved) == _least_moves(32, members, plan)
        counts = Counter(new.values())
        assert max(counts.values()) - min(counts.get(m, 0) for m in members) <= 1
        plan = new


def test_assign_with_no_members_is_empty_and_refuses_no_partitions() -> None:
    """No members: nobody to own anything. Zero partitions: an error naming the value."""
    assert assign(8, [], {0: "gone"}) == {}
    with pytest.raises(ValueError, match="got 0"):
        assign(0, ["a"], {})


def test_moves_names_old_and_new_owners() -> None:
    """``moves`` lists only changed partitions, with '' for no owner."""
    assert moves({0: "a", 1: "b"}, {0: "a", 1: "c", 2: "a"}) == {1: ("b", "c"), 2: ("", "a")}


def test_a_partition_holds_the_keys_that_hash_to_it() -> None:
    partitions = [Partition("market.tick", index, 8) for index in range(8)]
    for key in ["BTCUSDT", "ETHUSDT", "SOLUSDT", "ключ", ""]:
        holders = [p for p in partitions if p.holds(key)]
        assert holders == [Partition("market.tick", partition_of(key, 8), 8)]
    assert str(partitions[3]) == "market.tick[3/8]"
