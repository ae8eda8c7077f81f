"""The dependency graph: missing and disabled dependencies, versions, cycles, order and waves."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from framework.component import ComponentSpec, Dependency
from framework.errors import (
    ConfigError,
    DependencyCycleError,
    MissingDependencyError,
    OrderConflictError,
    VersionConflictError,
)
from framework.graph import Graph, build_graph, render


def specs(**entries: Mapping[str, Any]) -> dict[str, ComponentSpec]:
    """Specs from ``name={depends_on: [...], enabled: ...}``, in keyword (YAML) order."""
    return {name: ComponentSpec.from_entry(name, {"class": "x.Y", **entry}, {}) for name, entry in entries.items()}


def graph_of(
    versions: Mapping[str, str | None] | None = None, order: tuple[str, ...] = (), **entries: Mapping[str, Any]
) -> tuple[Graph, list[ConfigError]]:
    built = specs(**entries)
    return build_graph(built, versions or dict.fromkeys(built), order)


def messages(problems: list[ConfigError]) -> list[str]:
    return [str(p) for p in problems]


def test_dependencies_start_first_whatever_the_yaml_order() -> None:
    """A component listed before what it depends on still starts after it."""
    graph, problems = graph_of(
        web={"depends_on": ["api"]}, api={"depends_on": ["db"]}, db={}, cache={}
    )
    assert problems == []
    assert graph.order == ("db", "api", "web", "cache")
    assert graph.edges == {"web": ("api",), "api": ("db",), "db": (), "cache": ()}


def test_yaml_order_breaks_ties_and_initialization_order_beats_it() -> None:
    """Independent components start in YAML order unless app.initialization_order says otherwise."""
    entries = {"a": {}, "b": {}, "c": {}}
    assert graph_of(**entries)[0].order == ("a", "b", "c")
    graph, problems = graph_of(order=("c", "b"), **entries)
    assert problems == []
    assert graph.order == ("c", "b", "a")


def test_initialization_order_that_contradicts_a_dependency_is_reported() -> None:
    """Putting a component before one it depends on (even indirectly) is an order conflict."""
    _, problems = graph_of(order=("web", "db"), web={"depends_on": ["api"]}, api={"depends_on": ["db"]}, db={})
    assert [type(p) for p in problems] == [OrderConflictError]
    assert str(problems[0]) == (
        "app.initialization_order puts 'web' before 'db', but 'web' depends on 'db'"
        " (web -> api -> db); dependencies always start first"
    )


def test_initialization_order_naming_no_component_is_reported() -> None:
    """An unknown name in app.initialization_order is reported with the known ones."""
    _, problems = graph_of(order=("ghost",), a={}, b={})
    assert messages(problems) == [
        "app.initialization_order: 'ghost' is not a component (components: a, b)"
    ]


def test_dependency_on_an_unknown_component_is_reported() -> None:
    """depends_on naming nothing lists the components there are; the edge is dropped."""
    graph, problems = graph_of(a={"depends_on": ["nope"]}, b={})
    assert [type(p) for p in problems] == [MissingDependencyError]
    assert str(problems[0]) == "components.a.depends_on: 'nope' is not a component (components: a, b)"
    assert graph.edges["a"] == ()


def test_dependency_on_a_disabled_component_is_reported() -> None:
    """A disabled dependency is named as disabled, and the disabled component is not in the graph."""
    graph, problems = graph_of(a={"depends_on": ["b"]}, b={"enabled": False})
    assert messages(problems) == [
        "components.a.depends_on: 'b' is disabled (components.b.enabled is false); 'a' needs it"
    ]
    assert graph.order == ("a",)


def test_every_problem_is_reported_at_once() -> None:
    """Two missing dependencies of two components give two problems, not one."""
    _, problems = graph_of(a={"depends_on": ["x"]}, b={"depends_on": ["y"]})
    assert len(problems) == 2
    assert all(isinstance(p, MissingDependencyError) for p in problems)


@pytest.mark.parametrize(
    "entries, cycle",
    [
        ({"a": {"depends_on": ["b"]}, "b": {"depends_on": ["a"]}}, "a -> b -> a"),
        ({"a": {"depends_on": ["a"]}}, "a -> a"),
        (
            {"x": {}, "a": {"depends_on": ["x", "b"]}, "b": {"depends_on": ["c"]}, "c": {"depends_on": ["a"]}},
            "a -> b -> c -> a",
        ),
    ],
)
def test_a_cycle_is_reported_with_its_path(entries: dict[str, Any], cycle: str) -> None:
    """A cycle (a self-dependency included) is named by its path; the order falls back to YAML order."""
    graph, problems = graph_of(**entries)
    assert [type(p) for p in problems] == [DependencyCycleError]
    assert str(problems[0]) == f"dependency cycle: {cycle}"
    assert graph.order == tuple(entries)


def test_a_cycle_skips_the_order_checks() -> None:
    """With a cycle there is no order to conflict with: only the cycle is reported."""
    _, problems = graph_of(order=("b", "a"), a={"depends_on": ["b"]}, b={"depends_on": ["a"]})
    assert [type(p) for p in problems] == [DependencyCycleError]


@pytest.mark.parametrize("version", ["1.2", "1.10.0", "2.0.0rc1"])
def test_a_satisfied_version_constraint_passes(version: str) -> None:
    """`feed>=1.2` accepts any version of feed from 1.2 on, pre-releases of later versions included."""
    _, problems = graph_of({"feed": version, "app": None}, feed={}, app={"depends_on": ["feed>=1.2"]})
    assert problems == []


@pytest.mark.parametrize(
    "version, shown",
    [
        ("1.1.9", "1.1.9"),
        (None, "none (its class declares no version)"),
        ("not a version", "not a version"),
    ],
)
def test_an_unsatisfied_version_constraint_is_reported(version: str | None, shown: str) -> None:
    """Too old, no version, or an unparsable one: each is a conflict that shows the version."""
    graph, problems = graph_of({"feed": version, "app": None}, feed={}, app={"depends_on": ["feed>=1.2"]})
    assert [type(p) for p in problems] == [VersionConflictError]
    assert str(problems[0]) == (
        f"components.app.depends_on: 'feed>=1.2' is not satisfied: 'feed' has version {shown}"
    )
    assert graph.edges["app"] == ("feed",)  # the edge stays: the order is still right


def test_dependency_text_parses_name_and_constraint() -> None:
    """`feed >= 1.2` is the name feed with constraint >=1.2; a bad constraint names the owner."""
    assert Dependency.parse("feed >= 1.2", "app") == Dependency("feed", ">=1.2")
    assert Dependency.parse("feed", "app") == Dependency("feed", "")
    with pytest.raises(ConfigError, match=r"components\.app\.depends_on: 'feed>>1' is not a component name"):
        Dependency.parse("feed>>1", "app")


def test_waves_group_what_can_start_together() -> None:
    """A diamond starts in three waves: the root, its two dependents together, then the join."""
    graph, _ = graph_of(
        join={"depends_on": ["left", "right"]},
        left={"depends_on": ["root"]},
        right={"depends_on": ["root"]},
        root={},
        alone={},
    )
    assert graph.waves() == [["root", "alone"], ["left", "right"], ["join"]]


def test_waves_follow_the_longest_dependency_chain() -> None:
    """A component waits for its deepest dependency, not its first one."""
    graph, _ = graph_of(a={}, b={"depends_on": ["a"]}, c={"depends_on": ["b"]}, d={"depends_on": ["a", "c"]})
    assert graph.waves() == [["a"], ["b"], ["c"], ["d"]]


def test_empty_graph_has_no_waves() -> None:
    """No components, no waves and no order."""
    graph, problems = build_graph({}, {})
    assert (graph.order, graph.waves(), problems) == ((), [], [])


def test_dependents_are_transitive_and_in_start_order() -> None:
    """The dependents of a component include indirect ones, listed in start order, itself excluded."""
    graph, _ = graph_of(c={"depends_on": ["b"]}, b={"depends_on": ["a"]}, a={}, other={}, d={"depends_on": ["a"]})
    assert graph.order == ("a", "b", "c", "other", "d")
    assert graph.dependents("a") == ["b", "c", "d"]
    assert graph.dependents("b") == ["c"]
    assert graph.dependents("c") == []


def test_render_json_holds_order_waves_and_edges() -> None:
    """The JSON rendering carries the start order, the waves and every edge."""
    graph, _ = graph_of(b={"depends_on": ["a"]}, a={})
    assert json.loads(render(graph, "json")) == {
        "order": ["a", "b"],
        "waves": [["a"], ["b"]],
        "depends_on": {"b": ["a"], "a": []},
        "extended_by": {},
    }
    assert render(graph, "text").splitlines() == [
        "start order (stop is the reverse):",
        "  1. a",
        "  2. b  (depends on a)",
    ]
