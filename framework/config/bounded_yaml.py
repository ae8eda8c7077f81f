"""Loading YAML text with limits on its nesting and on what its aliases expand to.

PyYAML reads any YAML, at costs no config needs to pay (measured on a 2-core machine):
- its scanner is quadratic in flow nesting (it keeps a possible simple key per open ``[`` or
  ``{`` within 1024 characters and looks at all of them for each token): scanning 20,000
  ``[`` takes 20 s; only the composer's RecursionError, a few hundred levels in, cut it short;
- its composer recurses once per level, so deep nesting ends in a RecursionError, at a depth
  that depends on the stack left, and without saying where;
- an alias repeats a whole node. PyYAML shares the object, but OmegaConf copies every repeat
  into nodes of its own (about 100 µs each), and walking the value visits every repeat: ten
  levels of nine aliases ("billion laughs") stand for 3.5 billion values, six took a minute;
  an alias inside the node it names makes a value that contains itself.
``load_yaml`` refuses each where it starts, with a ``YamlLimitError`` whose mark names the
source, line and column, before any Python value is built.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml

from framework.config.plain import MAX_DEPTH, TOO_DEEP

# Nodes aliases may add beyond those the text writes out. A 1 MiB file, the default size
# limit, writes out 88,000 nodes (`key_n: value_n` lines) to 262,000 (`- n` lines) and takes
# OmegaConf 7-45 s; its own nodes are the author's to pay for, and aliases may add about one
# such file more. Far above any sane reuse of a block of settings.
MAX_ALIAS_NODES = 100_000
FLATTEN = "flatten the structure"
SELF_REFERENCE = (
    f"{TOO_DEEP}: the value here refers to itself through a YAML alias; an alias may only"
    " repeat a node that ends before it"
)
TOO_MANY_REPEATS = (
    "through YAML aliases this value stands for more than {cap} nodes, over {added} more than the"
    " text writes out; write the repeated values out, or repeat fewer of them"
)


class YamlLimitError(yaml.MarkedYAMLError):  # type: ignore[misc]  # PyYAML has no type hints
    """Raised when YAML text nests too deep or its aliases expand too far; ``problem_mark`` is
    where (its ``name`` is the source: a file's path, an env var's name)."""

    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)

    def where(self) -> tuple[int, int]:
        """1-based line and column of the problem."""
        mark = self.problem_mark
        return (mark.line + 1, mark.column + 1) if mark else (1, 1)


def load_yaml(text: str, name: str, loader: Any = yaml.SafeLoader) -> Any:
    """The one YAML document in ``text`` as plain data, read by a bounded subclass of
    ``loader`` (a PyYAML loader class); None for an empty document. ``name`` names the source
    in marks. YamlLimitError past a limit, another ``yaml.YAMLError`` for invalid YAML."""
    reader = _bounded(loader)(text)
    reader.name = name
    try:
        node = reader.get_single_node()
        if node is None:
            return None
        check_expansion(node)
        return reader.construct_document(node)
    finally:
        reader.dispose()


@functools.cache
def _bounded(loader: Any) -> Any:
    """``loader`` refusing, as it reads, to nest deeper than MAX_DEPTH."""

    class Bounded(loader):  # type: ignore[misc]
        _depth = 0  # collections being composed, the root included

        def fetch_flow_collection_start(self, token_class: type[yaml.Token]) -> None:
            # Caught in the scanner: it looks ahead over open `[` before the composer sees them.
            if self.flow_level >= MAX_DEPTH:
                raise YamlLimitError(f"{TOO_DEEP}; {FLATTEN}", self.get_mark())
            super().fetch_flow_collection_start(token_class)

        def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
            if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
                return super().compose_node(parent, index)
            if self._depth >= MAX_DEPTH:  # block nesting, or block and flow together
                raise YamlLimitError(f"{TOO_DEEP}; {FLATTEN}", self.peek_event().start_mark)
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

    Bounded.__name__ = f"Bounded{loader.__name__}"
    return Bounded


def check_expansion(root: yaml.Node) -> None:
    """Refuse a composed node graph that contains itself, nests deeper than MAX_DEPTH once its
    aliases are expanded, or stands for more than MAX_ALIAS_NODES nodes beyond those it holds.

    Each node is measured once, children first (an alias is the same node object again), so
    the cost is linear in the text however far the aliases would expand; the first node past
    a limit is the one named.
    """
    if isinstance(root, yaml.ScalarNode):
        return
    order = _measured(root)
    written = 1 + sum(len(_children(node)) for node, _ in order)  # an alias is written as one node
    cap = written + MAX_ALIAS_NODES
    for node, size in order:
        if size > cap:
            raise YamlLimitError(TOO_MANY_REPEATS.format(cap=cap, added=MAX_ALIAS_NODES), node.start_mark)


_COUNTED_UP_TO = 1 << 62  # sizes stop growing here: aliases can stand for 9**1000 nodes


def _measured(root: yaml.Node) -> list[tuple[yaml.Node, int]]:
    """Every distinct collection under ``root`` with the nodes it stands for, children first.
    YamlLimitError at a node that is its own descendant (an alias inside the node it names)
    or that nests more than MAX_DEPTH levels with its aliases expanded."""
    # id -> (nodes it stands for, levels of collections); None while its children are measured
    measures: dict[int, tuple[int, int] | None] = {id(root): None}
    order: list[tuple[yaml.Node, int]] = []
    stack = [(root, _children(root), iter(_children(root)))]
    while stack:
        node, children, pending = stack[-1]
        child = next(pending, None)
        if child is None:
            stack.pop()
            parts = [measures.get(id(c)) or _SCALAR for c in children]
            size = min(_COUNTED_UP_TO, 1 + sum(part[0] for part in parts))
            levels = 1 + max((part[1] for part in parts), default=0)
            if levels > MAX_DEPTH:
                raise YamlLimitError(f"{TOO_DEEP} once its YAML aliases are expanded; {FLATTEN}", node.start_mark)
            measures[id(node)] = (size, levels)
            order.append((node, size))
        elif isinstance(child, yaml.ScalarNode):
            continue  # measured as _SCALAR: most nodes are, and need no visit
        elif id(child) not in measures:
            measures[id(child)] = None
            grandchildren = _children(child)
            stack.append((child, grandchildren, iter(grandchildren)))
        elif measures[id(child)] is None:
            raise YamlLimitError(SELF_REFERENCE, child.start_mark)
    return order


_SCALAR = (1, 0)  # a scalar stands for itself and holds no collection


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
