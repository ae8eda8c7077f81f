"""Topic names and subscription patterns: the rules, matching, and the subscription index.

A topic is dot-separated segments of letters, digits, ``_`` or ``-``:
``market_data.candle.closed``. A pattern may also use ``*`` for exactly one segment and ``**``
for any number of segments, zero included: ``market_data.*``, ``*.error``, ``system.**``.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from functools import lru_cache
from typing import Generic, TypeVar

from framework.events.errors import InvalidTopicError

STAR, DOUBLE_STAR = "*", "**"
MAX_LENGTH = 255
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_RULE = (
    "a topic is dot-separated segments of letters, digits, '_' or '-' "
    "(a pattern may also use '*' for one segment and '**' for any number)"
)

Item = TypeVar("Item", bound=Hashable)


def validate_topic(topic: str) -> tuple[str, ...]:
    """The segments of a publishable topic; raise InvalidTopicError naming the rule it breaks."""
    return _parse(_text(topic, "topic"), "topic", wildcards=False)


def validate_pattern(pattern: str) -> tuple[str, ...]:
    """The segments of a subscription pattern; raise InvalidTopicError naming the broken rule."""
    return _parse(_text(pattern, "pattern"), "pattern", wildcards=True)


def _text(text: object, kind: str) -> str:
    if not isinstance(text, str) or not text:
        raise InvalidTopicError(f"{kind} {text!r} is invalid: it must be a non-empty string; {_RULE}")
    return text


@lru_cache(maxsize=4096)
def _parse(text: str, kind: str, wildcards: bool) -> tuple[str, ...]:
    if len(text) > MAX_LENGTH:
        raise InvalidTopicError(f"{kind} {text[:40]!r}... is invalid: longer than {MAX_LENGTH}")
    segments = tuple(text.split("."))
    for position, segment in enumerate(segments, 1):
        problem = _segment_problem(segment, position, wildcards)
        if problem:
            raise InvalidTopicError(f"{kind} {text!r} is invalid: {problem}; {_RULE}")
    return segments


def _segment_problem(segment: str, position: int, wildcards: bool) -> str | None:
    if _SEGMENT.fullmatch(segment):
        return None
    if not segment:
        return f"segment {position} is empty"
    if any(char.isspace() for char in segment):
        return f"segment {position} ({segment!r}) contains whitespace"
    if segment in (STAR, DOUBLE_STAR):
        return None if wildcards else f"wildcard {segment!r} is not allowed in a published topic"
    if "*" in segment:
        return f"segment {position} ({segment!r}) mixes '*' with other characters"
    return f"segment {position} ({segment!r}) has a character other than letters, digits, _ or -"


def is_pattern(pattern: str) -> bool:
    """Whether a (valid) pattern has wildcards, that is, can match more than one topic."""
    return "*" in pattern


def matches(pattern: str, topic: str) -> bool:
    """Whether a pattern matches a topic (both assumed valid)."""
    return _match(validate_pattern(pattern), validate_topic(topic))


def covers(general: str, specific: str) -> bool:
    """Whether every topic that ``specific`` matches is also matched by ``general``."""
    return _match(validate_pattern(general), validate_pattern(specific))


def overlaps(first: str, second: str) -> bool:
    """Whether some topic is matched by both patterns."""
    return _overlap(validate_pattern(first), validate_pattern(second))


@lru_cache(maxsize=8192)
def _match(general: tuple[str, ...], specific: tuple[str, ...]) -> bool:
    # ``specific`` may itself be a pattern: then this answers "covers".
    if not general:
        return not specific
    head, rest = general[0], general[1:]
    if head == DOUBLE_STAR:
        return _match(rest, specific) or (bool(specific) and _match(general, specific[1:]))
    if not specific or specific[0] == DOUBLE_STAR:
        return False
    if head == STAR or head == specific[0]:
        return _match(rest, specific[1:])
    return False


@lru_cache(maxsize=8192)
def _overlap(first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    if not first or not second:
        return all(s == DOUBLE_STAR for s in first + second)
    if first[0] == DOUBLE_STAR:
        return _overlap(first[1:], second) or _overlap(first, second[1:])
    if second[0] == DOUBLE_STAR:
        return _overlap(first, second[1:]) or _overlap(first[1:], second)
    if first[0] == second[0] or STAR in (first[0], second[0]):
        return _overlap(first[1:], second[1:])
    return False


class _Node:
    __slots__ = ("children", "star", "double_star", "items")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.star: _Node | None = None
        self.double_star: _Node | None = None
        self.items: set[object] = set()


class TopicIndex(Generic[Item]):
    """Items (subscriptions) by pattern, matched per published topic without scanning them all.

    Exact topics live in a dict; wildcard patterns in a trie over segments. Results are cached
    per topic and the cache is cleared on every add/remove, so a steady publisher pays one dict
    lookup however many subscriptions exist.
    """

    _CACHE_LIMIT = 10_000  # topics can be unbounded (one per symbol, say); keep memory bounded

    def __init__(self) -> None:
        self._exact: dict[str, list[Item]] = {}
        self._root = _Node()
        self._order: dict[Item, int] = {}
        self._counter = 0
        self._cache: dict[str, tuple[Item, ...]] = {}

    def __len__(self) -> int:
        return len(self._order)

    def add(self, pattern: str, item: Item) -> None:
        """Index an item under a pattern (validated)."""
        segments = validate_pattern(pattern)
        self._counter += 1
        self._order[item] = self._counter
        if is_pattern(pattern):
            self._node(segments, create=True).items.add(item)  # type: ignore[union-attr]
        else:
            self._exact.setdefault(pattern, []).append(item)
        self._cache.clear()

    def remove(self, pattern: str, item: Item) -> None:
        """Forget an item; a no-op when it is not indexed under that pattern."""
        if self._order.pop(item, None) is None:
            return
        if is_pattern(pattern):
            node = self._node(validate_pattern(pattern), create=False)
            if node is not None:
                node.items.discard(item)
        else:
            bucket = self._exact.get(pattern, [])
            if item in bucket:
                bucket.remove(item)
            if not bucket:
                self._exact.pop(pattern, None)
        self._cache.clear()

    def match(self, topic: str) -> tuple[Item, ...]:
        """The items whose pattern matches a (valid) topic, in the order they were added."""
        cached = self._cache.get(topic)
        if cached is not None:
            return cached
        found: set[object] = set(self._exact.get(topic, ()))
        self._walk(self._root, validate_topic(topic), 0, found)
        order = self._order
        result = tuple(sorted((i for i in found if i in order), key=order.__getitem__))
        if len(self._cache) >= self._CACHE_LIMIT:
            self._cache.clear()
        self._cache[topic] = result
        return result

    def items(self) -> Iterable[Item]:
        """Every indexed item, in the order added."""
        return list(self._order)

    def _node(self, segments: tuple[str, ...], create: bool) -> _Node | None:
        node = self._root
        for segment in segments:
            if segment == STAR:
                if node.star is None and create:
                    node.star = _Node()
                child = node.star
            elif segment == DOUBLE_STAR:
                if node.double_star is None and create:
                    node.double_star = _Node()
                child = node.double_star
            else:
                child = node.children.setdefault(segment, _Node()) if create else (node.children.get(segment))
            if child is None:
                return None
            node = child
        return node

    def _walk(self, node: _Node, segments: tuple[str, ...], position: int, found: set[object]) -> None:
        if node.double_star is not None:  # '**' absorbs zero or more of the remaining segments
            for start in range(position, len(segments) + 1):
                self._walk(node.double_star, segments, start, found)
        if position == len(segments):
            found.update(node.items)
            return
        child = node.children.get(segments[position])
        if child is not None:
            self._walk(child, segments, position + 1, found)
        if node.star is not None:
            self._walk(node.star, segments, position + 1, found)
