"""What each console page shows, as plain data built from the admin API's view functions."""

from __future__ import annotations

from collections import defaultdict
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
from framework.config.plain import thaw
from framework.config.snapshot import Snapshot
from framework.secrets import mask
from framework.types import KeyPath

RECENT_RELOADS = 5


def overview_page(app: AdminView) -> dict[str, Any]:
    """App, config version and digest, uptime, health, readiness and the last reloads."""
    reloads, probe = history_view(app)["reloads"], app.health.readiness()
    return {
        "info": info_view(app),
        "digest": app.snapshot.digest,
        "readiness": {"ready": probe.ok, "reasons": list(probe.reasons)},
        "reloads": list(reversed(reloads[-RECENT_RELOADS:])),
    }


def components_page(app: AdminView) -> dict[str, Any]:
    """The graph's picture and, per component, what clicking its node shows."""
    rows = component_rows(app)
    graph = app.assembly.graph
    # Each list is cut by component once: filtering it again for every node made the page
    # quadratic in the number of components.
    config: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in provenance_rows(app.snapshot):
        parts = row["key"].split(".", 2)
        if len(parts) == 3 and parts[0] == "components":
            config[parts[1]].append(row)
    states: dict[str, list[Any]] = defaultdict(list)
    for event in app.bus.history():
        data = event.data
        if event.type.startswith("system.component.") and isinstance(data, Mapping) and "state" in data:
            states[str(data.get("component"))].append(event.to_dict()["data"])
    health: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for change in app.health.report()["history"]:
        if change["scope"] == "component":
            health[change["name"]].append(change)
    details = [
        {**row, "config": config[row["name"]], "topics": _topics(app, row["name"]), "states": states[row["name"]],
         "health_history": health[row["name"]]}
        for row in rows
    ]
    return {"layout": graph_layout(rows, graph.edges, graph.extended_by), "details": details}


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
    """The composed config (masked) as nested nodes; each leaf with its value, its origin and
    the lower layers it overrode (their values masked too)."""
    view = config_view(app)
    tree = _nodes(app.snapshot, view["config"], (), view["provenance"], in_list=False)
    return {"version": view["version"], "hash": view["hash"], "tree": tree}


def _nodes(
    snapshot: Snapshot, value: Any, prefix: KeyPath, provenance: Mapping[str, Any], *, in_list: bool
) -> list[dict[str, Any]]:
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    nodes: list[dict[str, Any]] = []
    for key, child in items:
        path = (*prefix, str(key))
        dotted = ".".join(path)
        if isinstance(child, Mapping | list) and child:
            children = _nodes(snapshot, child, path, provenance, in_list=in_list or isinstance(child, list))
            nodes.append({"key": str(key), "path": dotted, "children": children})
            continue
        origin = provenance.get(dotted) or {}
        # An item of a list has no origins of its own: its list's belong to the list's node.
        overrode = [] if in_list else _overridden(snapshot, path)
        nodes.append({"key": str(key), "path": dotted, "value": child, "layer": origin.get("layer"),
                      "where": origin.get("where"), "overrode": overrode})
    return nodes


def _overridden(snapshot: Snapshot, path: KeyPath) -> list[dict[str, Any]]:
    """The layers under the winning one that set ``path``, nearest first, values masked."""
    lower = snapshot.provenance.history(path)[:-1]
    return [{"layer": o.layer.value, "where": o.where, "value": mask(thaw(o.value), path, snapshot.secrets)}
            for o in reversed(lower)]


async def events_page(app: AdminView, limit: int = 50) -> dict[str, Any]:
    """The latest events on the bus and the dead letters."""
    letters = await app.bus.dead_letters(limit)
    return {
        "recent": [e.to_dict() for e in app.bus.history()[-limit:]],
        "dead_letters": [dead_letter_row(letter) for letter in letters],
    }


async def fleet_page(app: AdminView, rollouts: int = 10) -> dict[str, Any]:
    """This app's fleet: every live instance with its digests and drift, and the last rollouts;
    ``unreachable`` says why they are missing when the fleet's Redis is out of reach."""
    member = app.fleet
    if member is None:
        return {"fleet": None}
    try:
        view, history = await member.view(), await member.rollouts(rollouts)
    except ConnectionError as exc:
        return {"fleet": {"instance": member.name, "unreachable": str(exc)}}
    return {"fleet": {**view, "unreachable": None, "rollouts": history}}
