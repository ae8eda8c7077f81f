"""Operator control of a running app's components: stop, start or restart one by name.

Dependencies are respected, as systemd does for units: stopping a component first stops what
depends on it (its dependents, in reverse start order); starting one first starts what it
depends on; a restart stops the dependents, restarts the component and starts them again.
With ``cascade=False`` an action that would touch another component is refused instead.

Every action takes the lifecycle's lock (``Lifecycle.changing``), which reloads and health
restarts hold too, so none of them acts on a component while another does. A component an
operator stopped is held (``Lifecycle.held``): the supervisor does not restart it, until an
operator starts it again. Each action is logged and announced (``system.component.control``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from loguru import logger

from framework.errors import ComponentStartError
from framework.lifecycle import ACTIVE, Lifecycle


class Action(StrEnum):
    STOP = "stop"
    START = "start"
    RESTART = "restart"


class UnknownComponentError(LookupError):
    """The name is not an enabled component of the running app."""


class ControlRefusedError(RuntimeError):
    """The action would touch other components and the cascade was not allowed."""


@dataclass(frozen=True)
class ControlPlan:
    """What an action does, in order: the components it stops, then those it starts."""

    action: Action
    component: str
    stop: tuple[str, ...]
    start: tuple[str, ...]


@dataclass(frozen=True)
class ControlResult:
    plan: ControlPlan
    stopped: tuple[str, ...]
    started: tuple[str, ...]
    error: str | None = None  # a start that failed: what it said

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.plan.action.value,
            "component": self.plan.component,
            "outcome": "done" if self.ok else "failed",
            "stopped": list(self.stopped),
            "started": list(self.started),
            **({"error": self.error} if self.error else {}),
        }


# Publishes a framework event without waiting: (topic, data).
Announce = Callable[[str, Mapping[str, Any]], None]


class ComponentControl:
    """Stops, starts and restarts components through the lifecycle, for an operator."""

    def __init__(self, lifecycle: Lifecycle, announce: Announce) -> None:
        self.lifecycle, self.announce = lifecycle, announce
        self.log = logger.bind(component="app")

    def plan(self, action: Action, name: str, cascade: bool = True) -> ControlPlan:
        """What ``action`` on ``name`` would stop and start, as things stand now."""
        lifecycle = self.lifecycle
        if name not in lifecycle.instances:
            known = ", ".join(sorted(lifecycle.instances)) or "none"
            raise UnknownComponentError(f"no enabled component named '{name}' (components: {known})")
        active = {n for n, state in lifecycle.states.items() if state in ACTIVE}
        dependents = [n for n in lifecycle.graph.dependents(name) if n in active]
        missing = [n for n in lifecycle.graph.dependencies(name) if n not in active]
        others = (dependents if action is not Action.START else []) + (missing if action is not Action.STOP else [])
        if others and not cascade:
            raise ControlRefusedError(_refusal(action, name, dependents, missing))
        stop = [*reversed(dependents), name] if action is not Action.START and name in active else []
        if action is Action.STOP:
            return ControlPlan(action, name, tuple(stop), ())
        start = [*missing, name, *(dependents if action is Action.RESTART else [])]
        return ControlPlan(action, name, tuple(stop), tuple(n for n in start if n not in active or n in stop))

    async def run(
        self, action: Action, name: str, cascade: bool = True, by: str = "api", keep: str | None = None
    ) -> ControlResult:
        """Plan and carry out ``action`` under the lifecycle lock; log and announce what it did.

        ``keep``: a component the action must not stop (the admin API serving the request:
        its answer would be lost); an action that would is refused.
        """
        async with self.lifecycle.changing:
            plan = self.plan(action, name, cascade)
            if keep is not None and keep in plan.stop:
                raise ControlRefusedError(
                    f"{action.value} of '{name}' would stop '{keep}', which serves this request; refused"
                )
            result = await self._carry_out(plan, by)
        outcome = "done" if result.ok else f"failed: {result.error}"
        facts = {**result.to_dict(), "by": by}
        facts["subject"] = facts.pop("component")  # `component` names the logger's own
        self.log.bind(event="component.control", **facts).info(
            f"{action.value} {name} ({by}): {outcome}; stopped {_names(result.stopped)},"
            f" started {_names(result.started)}"
        )
        self.announce("system.component.control", {**result.to_dict(), "by": by})
        return result

    async def _carry_out(self, plan: ControlPlan, by: str) -> ControlResult:
        lifecycle = self.lifecycle
        stopped: list[str] = []
        started: list[str] = []
        for name in plan.stop:
            await lifecycle.stop(name, f"{plan.action.value} of '{plan.component}' by an operator ({by})")
            stopped.append(name)
        if plan.action is Action.STOP:
            lifecycle.held.update(stopped)
            return ControlResult(plan, tuple(stopped), ())
        for name in plan.start:
            lifecycle.held.discard(name)
            try:
                await lifecycle.start(name)
            except ComponentStartError as exc:
                return ControlResult(plan, tuple(stopped), tuple(started), str(exc))
            started.append(name)
        return ControlResult(plan, tuple(stopped), tuple(started))


def _refusal(action: Action, name: str, dependents: list[str], missing: list[str]) -> str:
    if action is not Action.START and dependents:
        return (
            f"cannot {action.value} '{name}' alone: {_names(dependents)} depend on it and are running;"
            f" {action.value} them first, or allow the cascade (without --no-cascade)"
        )
    return (
        f"cannot {action.value} '{name}' alone: it depends on {_names(missing)}, which are not running;"
        " start them first, or allow the cascade (without --no-cascade)"
    )


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names) or "none"
