"""What each console page shows, as plain data built from the admin API's view functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework.admin.types import AdminView
from framework.admin.ui.layout import graph_layout
from framework.admin.views import (
    component_rows,
    config_view,
    dead_letter_row,
    history_view,
    info_view,
)
from framework.config.explain import provenance_rows

RECENT_RELOADS = 5


def overview_page(app: AdminView) -> dict[str, Any]:
    """App, config version and digest, uptime, health, readiness and the last reloads."""
    reloads, probe = history_view(app)["reloads"], app.health.readiness()
    return {
        "info": info_view(app),
        "digest": app.snapshot.digest,
        "readiness": {"ready": probe.ok, "reasons": list(probe.reasons)},  # probe.details may hold a "status"
        "reloads": list(reversed(reloads[-RECENT_RELOADS:])),
    }


def components_page(app: AdminView) -> dict[str, Any]:
    """The graph's picture and, per component, what clicking its node shows."""
    rows = component_rows(app)
    graph = app.assembly.graph
    provenance = provenance_rows(app.snapshot)
    transitions = [e.to_dict() for e in app.bus.history() if e.type.startswith("system.component.")]
    health_history = app.health.report()["history"]
    details = []
    for row in rows:
        name = row["name"]
        details.append({
            **row,
            "config": [r for r in provenance if r["key"].startswith(f"components.{name}.")],
            "topics": _topics(app, name),
            "states": [e["data"] for e in transitions if _about(e.get("data"), name) and "state" in e["data"]],
            "health_history": [h for h in health_history if h["scope"] == "component" and h["name"] == name],
        })
    return {"layout": graph_layout(rows, graph.edges, graph.extended_by), "details": details}


def _about(data: Any, name: str) -> bool:
    return isinstance(data, Mapping) and data.get("component") == name


def _topics(app: AdminView, name: str) -> dict[str, list[str] | None]:
    """Its declared topic patterns (None: unrestricted); none known for a class that did not load."""
    spec, cls = app.assembly.specs[name], app.assembly.classes.get(name)
    if cls is None:
        return {"publishes": None, "subscribes": None}
    publishes, subscribes = spec.topics(cls)
    return {
        "publishes": None if publishes is None else list(publishes),
        "subscribes": None if subscribes is None else list(subscribes),
    }


def config_page(app: AdminView) -> dict[str, Any]:
    """The composed config (masked) as nested nodes; each leaf with its value and origin."""
    view = config_view(app)
    return {"version": view["version"], "hash": view["hash"], "tree": _nodes(view["config"], "", view["provenance"])}


def _nodes(value: Any, prefix: str, provenance: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    nodes: list[dict[str, Any]] = []
    for key, child in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(child, Mapping | list) and child:
            nodes.append({"key": str(key), "path": path, "children": _nodes(child, path, provenance)})
        else:
            origin = provenance.get(path) or {}
            nodes.append({"key": str(key), "path": path, "value": child, "layer": origin.get("layer"),
                          "where": origin.get("where")})
    return nodes


async def events_page(app: AdminView, limit: int = 50) -> dict[str, Any]:
    """The latest events on the bus and the dead letters."""
    letters = await app.bus.dead_letters(limit)
    return {
        "recent": [e.to_dict() for e in app.bus.history()[-limit:]],
        "dead_letters": [dead_letter_row(letter) for letter in letters],
    }
