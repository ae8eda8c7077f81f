"""The dependency graph: checks (missing, disabled, versions, cycles, order) and start order.

dependency-injector detects no cycles and misorders indirect dependencies on shutdown, so the
order is ours: dependencies start first, `app.initialization_order` breaks ties, YAML order
after that; stop is the exact reverse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from framework.component import ComponentSpec
from framework.errors import (
    ConfigError,
    DependencyCycleError,
    MissingDependencyError,
    OrderConflictError,
    VersionConflictError,
)


@dataclass(frozen=True)
class Graph:
    """Enabled components, their edges (name -> what it depends on) and the start order."""

    edges: Mapping[str, tuple[str, ...]]  # depends_on and extension edges alike
    order: tuple[str, ...]
    # consumer -> extension point -> its providers, in order (framework.extensions)
    extensions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    @cached_property  # read per component while building, and by the reload plan
    def extended_by(self) -> dict[str, tuple[str, ...]]:
        """Consumer -> every provider of its extension points (each once)."""
        return _providers(self.extensions)

    def dependents(self, name: str) -> list[str]:
        """Components that depend on `name`, directly or not, in start order."""
        found = {name}
        for node in self.order:
            if any(d in found for d in self.edges[node]):
                found.add(node)
        return [n for n in self.order if n in found and n != name]

    def dependencies(self, name: str) -> list[str]:
        """What `name` depends on, directly or not, in start order."""
        found: set[str] = set()
        todo = [name]
        while todo:
            for dependency in self.edges[todo.pop()]:
                if dependency not in found:
                    found.add(dependency)
                    todo.append(dependency)
        return [n for n in self.order if n in found]

    def waves(self) -> list[list[str]]:
        """Groups that can start together: each only after the previous ones are running."""
        level: dict[str, int] = {}
        for node in self.order:
            level[node] = 1 + max((level[d] for d in self.edges[node]), default=-1)
        waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for node in self.order:
            waves[level[node]].append(node)
        return waves


def build_graph(
    specs: Mapping[str, ComponentSpec],
    versions: Mapping[str, str | None],
    initialization_order: Sequence[str] = (),
    extensions: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
) -> tuple[Graph, list[ConfigError]]:
    """Check the enabled components' dependencies; return the graph and every problem found.

    ``extensions``: each consumer's providers per extension point; it depends on them as on
    its depends_on.
    """
    extensions = dict(extensions or {})
    extended_by = _providers(extensions)
    enabled = {n: s for n, s in specs.items() if s.enabled}
    problems: list[ConfigError] = []
    edges: dict[str, tuple[str, ...]] = {}
    for name, spec in enabled.items():
        kept = []
        for dep in spec.depends_on:
            if dep.name not in specs:
                problems.append(
                    MissingDependencyError(
                        f"components.{name}.depends_on: '{dep.name}' is not a component"
                        f" (components: {', '.join(specs)})"
                    )
                )
            elif dep.name not in enabled:
                problems.append(
                    MissingDependencyError(
                        f"components.{name}.depends_on: '{dep.name}' is disabled"
                        f" (components.{dep.name}.enabled is false); '{name}' needs it"
                    )
                )
            else:
                kept.append(dep.name)
                problems.extend(_version_problems(name, dep.name, dep.constraint, versions))
        edges[name] = tuple(dict.fromkeys((*kept, *extended_by.get(name, ()))))
    cycle = _find_cycle(edges)
    if cycle:
        problems.append(DependencyCycleError("dependency cycle: " + " -> ".join(cycle)))
        return Graph(edges, tuple(enabled), extensions), problems
    problems.extend(_order_problems(edges, initialization_order, specs))
    return Graph(edges, _start_order(edges, initialization_order), extensions), problems


def _providers(extensions: Mapping[str, Mapping[str, tuple[str, ...]]]) -> dict[str, tuple[str, ...]]:
    return {
        consumer: tuple(dict.fromkeys(p for providers in points.values() for p in providers))
        for consumer, points in extensions.items()
    }


def _version_problems(
    name: str, dep: str, constraint: str, versions: Mapping[str, str | None]
) -> list[ConfigError]:
    if not constraint:
        return []
    from packaging.specifiers import SpecifierSet  # only apps that constrain versions pay for it
    from packaging.version import InvalidVersion, Version

    version = versions.get(dep)
    try:
        # An installed version is checked as found, pre-release or not (as pkg_resources did);
        # left to packaging's default, packaging < 26 (which we allow) refuses them.
        ok = version is not None and SpecifierSet(constraint).contains(Version(version), prereleases=True)
    except InvalidVersion:
        ok = False
    if ok:
        return []
    return [
        VersionConflictError(
            f"components.{name}.depends_on: '{dep}{constraint}' is not satisfied:"
            f" '{dep}' has version {version or 'none (its class declares no version)'}"
        )
    ]


def _find_cycle(edges: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in edges[node]:
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state and (found := visit(node)):
            return found
    return None


def _path(edges: Mapping[str, tuple[str, ...]], start: str, goal: str) -> list[str] | None:
    """A dependency path start -> ... -> goal, if start depends on goal."""
    queue, seen = [[start]], {start}
    while queue:
        path = queue.pop(0)
        for dep in edges.get(path[-1], ()):
            if dep == goal:
                return [*path, dep]
            if dep not in seen:
                seen.add(dep)
                queue.append([*path, dep])
    return None


def _order_problems(
    edges: Mapping[str, tuple[str, ...]], order: Sequence[str], specs: Mapping[str, ComponentSpec]
) -> list[ConfigError]:
    problems: list[ConfigError] = []
    for name in order:
        if name not in specs:
            problems.append(
                OrderConflictError(
                    f"app.initialization_order: '{name}' is not a component (components: {', '.join(specs)})"
                )
            )
    listed = [n for n in order if n in edges]
    for i, first in enumerate(listed):
        for later in listed[i + 1 :]:
            path = _path(edges, first, later)
            if path:
                problems.append(
                    OrderConflictError(
                        f"app.initialization_order puts '{first}' before '{later}', but '{first}'"
                        f" depends on '{later}' ({' -> '.join(path)}); dependencies always start first"
                    )
                )
    return problems


def _start_order(edges: Mapping[str, tuple[str, ...]], order: Sequence[str]) -> tuple[str, ...]:
    rank = {name: i for i, name in enumerate(order)}
    yaml_position = {name: i for i, name in enumerate(edges)}
    remaining = {n: set(d) for n, d in edges.items()}
    result: list[str] = []
    while remaining:
        ready = [n for n, deps in remaining.items() if not deps]
        ready.sort(key=lambda n: (rank.get(n, len(rank)), yaml_position[n]))
        chosen = ready[0]
        result.append(chosen)
        del remaining[chosen]
        for deps in remaining.values():
            deps.discard(chosen)
    return tuple(result)


def render(graph: Graph, fmt: str) -> str:
    """The graph as text, Graphviz dot, Mermaid or JSON, with the start order; extension edges
    (a provider extends its consumer) are drawn apart from depends_on."""
    extends = [(p, c) for c in graph.order for p in graph.extended_by.get(c, ())]
    if fmt == "json":
        return json.dumps(
            {
                "order": list(graph.order),
                "waves": graph.waves(),
                "depends_on": {n: list(_depends_on(graph, n)) for n in graph.order},
                "extended_by": {c: list(p) for c, p in graph.extended_by.items() if p},
            },
            indent=2,
        )
    if fmt == "dot":
        lines = ["digraph components {", "  rankdir=LR;"]
        lines += [f'  "{n}";' for n in graph.order]
        lines += [f'  "{n}" -> "{d}";' for n in graph.order for d in _depends_on(graph, n)]
        lines += [f'  "{p}" -> "{c}" [style=dashed, label="extends"];' for p, c in extends]
        return "\n".join([*lines, "}"])
    if fmt == "mermaid":
        lines = ["graph LR"] + [f"  {n}" for n in graph.order if not graph.edges[n]]
        lines += [f"  {n} --> {d}" for n in graph.order for d in _depends_on(graph, n)]
        lines += [f"  {p} -. extends .-> {c}" for p, c in extends]
        return "\n".join(lines)
    lines = ["start order (stop is the reverse):"]
    for i, name in enumerate(graph.order, 1):
        notes = [f"depends on {', '.join(deps)}"] if (deps := _depends_on(graph, name)) else []
        if graph.extended_by.get(name):
            notes.append(f"extended by {', '.join(graph.extended_by[name])}")
        lines.append(f"  {i}. {name}" + (f"  ({'; '.join(notes)})" if notes else ""))
    return "\n".join(lines)


def _depends_on(graph: Graph, name: str) -> tuple[str, ...]:
    """Its edges that are not extension edges."""
    extended = set(graph.extended_by.get(name, ()))
    return tuple(d for d in graph.edges[name] if d not in extended)
