"""Topic rules, pattern matching and the subscription index."""

from __future__ import annotations

import random

import pytest

from framework.events.errors import InvalidTopicError
from framework.events.topics import (
    TopicIndex,
    covers,
    matches,
    overlaps,
    validate_pattern,
    validate_topic,
)

# (pattern, topic, matches): test_behaviour runs them on every backend's broker too.
MATCHING_CASES = [
    ("market_data.candle.closed", "market_data.candle.closed", True),
    ("market_data.*", "market_data.candle", True),
    ("market_data.*", "market_data.candle.closed", False),
    ("*.error", "feed.error", True),
    ("*.error", "feed.x.error", False),
    ("system.**", "system.component.started", True),
    ("system.**", "system", True),
    ("system.**", "systems.x", False),
    ("**.error", "a.b.c.error", True),
    ("a.**.z", "a.z", True),
    ("a.**.z", "a.b.c.z", True),
    ("a.**.z", "a.b.c", False),
    ("**.error", "error", True),
    ("a.*.**", "a", False),
    ("a.*.**", "a.b", True),
]


@pytest.mark.parametrize(
    ("topic", "rule"),
    [
        ("market_data..candle", "segment 2 is empty"),
        (".market", "segment 1 is empty"),
        ("market data", "contains whitespace"),
        ("market.**x", "mixes '*' with other characters"),
        ("market.can*dle", "mixes '*' with other characters"),
        ("market.candle!", "has a character other than"),
        ("", "non-empty string"),
    ],
)
def test_malformed_topics_name_the_topic_and_the_rule(topic: str, rule: str) -> None:
    """A malformed topic raises InvalidTopicError quoting the topic and the rule it breaks."""
    with pytest.raises(InvalidTopicError) as caught:
        validate_topic(topic)
    assert repr(topic) in str(caught.value) and rule in str(caught.value)


@pytest.mark.parametrize("topic", ["market_data.*", "system.**", "*"])
def test_wildcards_are_refused_in_published_topics(topic: str) -> None:
    """A wildcard is fine in a pattern but not in a topic that is published."""
    validate_pattern(topic)
    with pytest.raises(InvalidTopicError, match="not allowed in a published topic"):
        validate_topic(topic)


def test_non_string_topic_is_refused() -> None:
    """A topic that is not a string is refused with the same clear error."""
    with pytest.raises(InvalidTopicError, match="non-empty string"):
        validate_topic(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(("pattern", "topic", "expected"), MATCHING_CASES)
def test_pattern_matching(pattern: str, topic: str, expected: bool) -> None:
    """'*' matches exactly one segment and '**' any number of them, zero included."""
    assert matches(pattern, topic) is expected


def test_framework_topics_are_valid_and_seen_by_system_double_star() -> None:
    """Framework events such as system.component.started are valid and match 'system.**'."""
    for topic in ("system.component.started", "system.component.failed", "config.reloaded"):
        validate_topic(topic)
    assert matches("system.**", "system.component.started")
    assert not matches("system.**", "config.reloaded")


def test_covers_and_overlaps() -> None:
    """covers() says one pattern includes another; overlaps() that some topic matches both."""
    assert covers("market.**", "market.*.closed") and covers("market.*", "market.tick")
    assert not covers("market.*", "market.**") and not covers("market.tick", "market.*")
    assert overlaps("a.*", "*.b") and overlaps("a.**", "**.z")
    assert not overlaps("a.*", "a.b.c") and not overlaps("a.b", "a.c")


def _random_pattern(rng: random.Random) -> str:
    segments = [rng.choice(["a", "b", "c", "*", "**"]) for _ in range(rng.randint(1, 4))]
    return ".".join(segments)


def test_index_agrees_with_brute_force_matching() -> None:
    """The trie index returns exactly the items a scan of every pattern would, in order."""
    rng = random.Random(7)
    index: TopicIndex[int] = TopicIndex()
    patterns = [_random_pattern(rng) for _ in range(300)]
    for item, pattern in enumerate(patterns):
        index.add(pattern, item)
    for _ in range(300):
        topic = ".".join(rng.choice("abcd") for _ in range(rng.randint(1, 5)))
        expected = tuple(i for i, p in enumerate(patterns) if matches(p, topic))
        assert index.match(topic) == expected, topic


def test_index_cache_is_invalidated_on_add_and_remove() -> None:
    """A cached topic sees subscriptions added or removed after it was first matched."""
    index: TopicIndex[str] = TopicIndex()
    index.add("market.*", "wild")
    assert index.match("market.tick") == ("wild",)
    assert index.match("market.tick") is index.match("market.tick")  # served from the cache
    index.add("market.tick", "exact")
    assert index.match("market.tick") == ("wild", "exact")
    index.remove("market.*", "wild")
    assert index.match("market.tick") == ("exact",)
    index.remove("market.tick", "exact")
    assert index.match("market.tick") == () and len(index) == 0


def test_index_does_not_walk_non_matching_wildcard_branches() -> None:
    """1,000 wildcard patterns under other prefixes do not change what a topic matches."""
    index: TopicIndex[str] = TopicIndex()
    for i in range(1000):
        index.add(f"other{i}.*.x", f"noise{i}")
    index.add("market.tick", "real")
    assert index.match("market.tick") == ("real",)
    assert len(index._root.children) == 1000 and "market" not in index._root.children
