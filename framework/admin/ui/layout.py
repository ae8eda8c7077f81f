"""The dependency graph as a picture: nodes in layers by topological depth, edges between them.

Computed server-side from the graph data, as plain data an SVG template draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

NODE_WIDTH, NODE_HEIGHT, GAP_X, GAP_Y, MARGIN = 150, 40, 60, 30, 20


def depths(edges: Mapping[str, Sequence[str]], names: Sequence[str]) -> dict[str, int]:
    """Each name's layer: 0 without dependencies, else one more than its deepest dependency."""
    found: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name not in found:
            deps = [d for d in edges.get(name, ()) if d in names and d not in seen]
            found[name] = 1 + max((depth(d, seen | {name}) for d in deps), default=-1)
        return found[name]

    for name in names:
        depth(name, frozenset())
    return found


def graph_layout(
    rows: Sequence[Mapping[str, Any]],
    edges: Mapping[str, Sequence[str]],
    extended_by: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """Nodes (one per component row, with state and health) and edges, with SVG coordinates.

    An edge runs from a component to what it depends on; ``extension`` marks a consumer's edge
    to a provider of its extension points.
    """
    names = [str(row["name"]) for row in rows]
    layer = depths(edges, names)
    slots: dict[int, int] = {}
    nodes: dict[str, dict[str, Any]] = {}
    for row in rows:
        name, column = str(row["name"]), layer[str(row["name"])]
        slot = slots[column] = slots.get(column, -1) + 1
        x, y = MARGIN + column * (NODE_WIDTH + GAP_X), MARGIN + slot * (NODE_HEIGHT + GAP_Y)
        health = (row.get("health") or {}).get("status", "unknown")
        nodes[name] = {"name": name, "x": x, "y": y, "state": row["state"], "health": health}
    lines = [_edge(nodes[a], nodes[b], b in extended_by.get(a, ())) for a in names for b in edges.get(a, ()) if b in nodes]
    width = MARGIN * 2 + (max(layer.values(), default=0) + 1) * (NODE_WIDTH + GAP_X) - GAP_X
    height = MARGIN * 2 + max(slots.values(), default=0) * (NODE_HEIGHT + GAP_Y) + NODE_HEIGHT
    return {"nodes": list(nodes.values()), "edges": lines, "width": width, "height": height,
            "node_width": NODE_WIDTH, "node_height": NODE_HEIGHT}


def _edge(source: Mapping[str, Any], target: Mapping[str, Any], extension: bool) -> dict[str, Any]:
    """From the left side of the dependent to the right side of its dependency."""
    return {
        "source": source["name"], "target": target["name"], "extension": extension,
        "x1": source["x"], "y1": source["y"] + NODE_HEIGHT / 2,
        "x2": target["x"] + NODE_WIDTH, "y2": target["y"] + NODE_HEIGHT / 2,
    }
