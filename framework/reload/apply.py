"""Applying a reload plan as one transaction: each step leaves an undo, a failure runs them back.

Live keys go to change callbacks (a component's ``on_config_change``, or the handler the app
registered for a framework section). Then what stops or restarts is stopped (dependents first)
and what starts or restarts is built with the new config and started (dependencies first). All
of it is bounded by the reload's deadline (``app.watch.reload_timeout``): the step under way
then is cancelled, and abandoned if it ignores that. When any step fails or the deadline
passes, the undos run in reverse: the old config goes back to the callbacks, what was brought
up is taken down, what was stopped is rebuilt on the old config and started again. The undos
are bounded step by step (each callback by the timeout, each stop and start by its own).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from framework.assembly import Assembly, Deployment
from framework.callbacks import call_maybe_async
from framework.config.snapshot import FrozenDict, Snapshot
from framework.container import Providers, ServiceFactory, rebuild_container
from framework.errors import ComponentStartError
from framework.lifecycle import Lifecycle
from framework.reload.outcome import ActionKind, ReloadAction
from framework.reload.plan import COMPONENTS
from framework.targets import materialize

# A framework section's change callback: (new section, changed keys relative to it); may raise.
SectionHandler = Callable[[FrozenDict, frozenset[str]], Awaitable[None] | None]
# The framework services a constructor can ask for, for the assembly being built.
Services = Callable[[Assembly], Mapping[str, ServiceFactory]]
Undo = Callable[[], Awaitable[None]]
CANCEL_GRACE = 1.0  # seconds a cancelled step gets to unwind before compensation starts


class StepFailed(Exception):
    """A plan step failed; ``notes`` says how compensation went."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out
        self.notes: list[str] = []


class Transaction:
    """Applies one plan to the running deployment, or puts everything back as it was."""

    def __init__(
        self,
        deployment: Deployment,
        lifecycle: Lifecycle,
        services: Services,
        sections: Mapping[str, SectionHandler],
    ) -> None:
        self.deployment, self.lifecycle = deployment, lifecycle
        self.services, self.sections = services, sections
        self._undo: list[Undo] = []
        self._step = "the reload"  # what is under way, for the message when time runs out

    async def apply(
        self,
        actions: Sequence[ReloadAction],
        current: Snapshot,
        candidate: Snapshot,
        assembly: Assembly,
        deadline: float,
    ) -> Providers | None:
        """Apply the plan by ``deadline`` (loop time); the providers built anew (None if none).

        StepFailed after compensating. Cancelled (the app is stopping), it stops where it is
        and compensates nothing: the app stops whatever runs.
        """
        timeout = float(current.section("app")["watch"]["reload_timeout"])
        forward = asyncio.ensure_future(self._forward(actions, current, candidate, assembly, timeout))
        try:
            done, _ = await asyncio.wait({forward}, timeout=deadline - asyncio.get_running_loop().time())
        except asyncio.CancelledError:
            forward.cancel()
            raise
        if not done:
            forward.cancel()
            await asyncio.wait({forward}, timeout=CANCEL_GRACE)
            failure = StepFailed(
                f"{self._step} did not finish within {timeout:g} s (app.watch.reload_timeout)", timed_out=True
            )
            await self._compensate(failure)
            raise failure
        exc = forward.exception()
        if exc is None:
            return forward.result()
        failure = exc if isinstance(exc, StepFailed) else StepFailed(f"{type(exc).__name__}: {exc}")
        await self._compensate(failure)
        if failure is exc:
            raise failure
        raise failure from exc

    async def _forward(
        self, actions: Sequence[ReloadAction], current: Snapshot, candidate: Snapshot, assembly: Assembly, timeout: float
    ) -> Providers | None:
        for action in actions:
            if action.kind is ActionKind.RECONFIGURE:
                await self._reconfigure(action, current, candidate, assembly, timeout)
        told = [a.target for a in actions if a.kind is ActionKind.EXTEND]
        if told:  # undone last, once the compensation has put the old providers back
            self._undo.append(functools.partial(self._tell_extensions, told, self.deployment.assembly, timeout))
        built = await self._stop_and_start(actions, assembly)
        await self._tell_extensions(told, assembly, timeout)
        return built

    async def _tell_extensions(self, names: Sequence[str], assembly: Assembly, timeout: float) -> None:
        """Hand each consumer its extension points' providers, as ``assembly`` has them."""
        instances = self.lifecycle.instances
        for name in names:
            providers = {
                point: [instances[p] for p in chosen] for point, chosen in assembly.graph.extensions.get(name, {}).items()
            }
            self._step = step = f"component '{name}': on_extensions_change"
            callback = instances[name].on_extensions_change
            await _hand_over(step, step, callback, functools.partial(tuple, [providers]), timeout)

    async def _compensate(self, failure: StepFailed) -> None:
        for step in reversed(self._undo):
            try:
                await step()
            except StepFailed as problem:
                failure.notes.append(f"compensation: {problem}")
            except Exception as problem:
                failure.notes.append(f"compensation failed: {type(problem).__name__}: {problem}")
        failure.notes.append("the previous config is still running")

    async def _reconfigure(
        self, action: ReloadAction, current: Snapshot, candidate: Snapshot, assembly: Assembly, timeout: float
    ) -> None:
        if action.keys and action.keys[0].startswith(f"{COMPONENTS}."):
            name = action.target
            prefix = len((COMPONENTS, name, "config"))
            keys = frozenset(".".join(c.split(".")[prefix:]) for c in action.keys)
            callback = self.lifecycle.instances[name].on_config_change
            # Its config with its `_target_` objects, made only when handed over.
            old: Callable[[], Any] = functools.partial(materialize, self.deployment.assembly.specs[name].config)
            new: Callable[[], Any] = functools.partial(materialize, assembly.specs[name].config)
            what = f"component '{name}'"
        elif action.target in self.sections:
            keys = frozenset(".".join(c.split(".")[1:]) for c in action.keys)
            callback = self.sections[action.target]
            old = functools.partial(current.section, action.target)
            new = functools.partial(candidate.section, action.target)
            what = f"section '{action.target}'"
        else:
            return  # applied by the commit itself (e.g. app.start_timeout)
        self._step = step = f"{what}: on_config_change"
        give_back = functools.partial(_hand_over, what, step, callback, lambda: (old(), keys), timeout)
        self._undo.append(give_back)  # cut short, it may hold part of the new config: give the old back
        try:
            await _hand_over(what, step, callback, lambda: (new(), keys), timeout)
        except StepFailed as failure:
            if not failure.timed_out:  # it refused: it kept the old config
                self._undo.remove(give_back)
            raise

    async def _stop_and_start(self, actions: Sequence[ReloadAction], assembly: Assembly) -> Providers | None:
        """Stop what stops or restarts (dependents first), then build and start (dependencies first)."""
        lifecycle, running = self.lifecycle, self.deployment.assembly
        down = {a.target for a in actions if a.kind in (ActionKind.STOP, ActionKind.RESTART)}
        up = {a.target for a in actions if a.kind in (ActionKind.START, ActionKind.RESTART)}
        if not down and not up:
            return None
        originals = dict(lifecycle.instances)
        stopped: list[str] = []  # filled as they stop: a deadline may cut the loop short
        self._undo.append(functools.partial(self._restore, stopped, originals))
        for name in [n for n in reversed(running.graph.order) if n in down]:
            self._step = f"stopping component '{name}'"
            stopped.insert(0, name)  # dependencies first, for the restore
            await lifecycle.stop(name)
        keep = {n: originals[n] for n in assembly.graph.order if n not in up}
        built = rebuild_container(assembly.specs, assembly.classes, assembly.graph, self.services(assembly), keep)
        brought_up: list[str] = []
        self._undo.append(functools.partial(self._take_down, brought_up))
        for name in (n for n in assembly.graph.order if n in up):
            self._step = f"starting component '{name}'"
            try:
                instance = built[name]()
            except Exception as exc:
                raise StepFailed(
                    f"component '{name}': building it with the new config failed: {type(exc).__name__}: {exc}"
                ) from exc
            lifecycle.register(name, instance, assembly.specs[name])
            brought_up.append(name)
            try:
                await lifecycle.start(name)
            except ComponentStartError as exc:
                raise StepFailed(f"{exc} (with the new config)") from exc
        return built

    async def _take_down(self, names: list[str]) -> None:
        """Stop what this reload brought up; the lifecycle goes back to the running graph and specs."""
        for name in reversed(names):
            await self.lifecycle.stop(name)
        running = self.deployment.assembly
        self.lifecycle.adopt(running.graph, running.specs)

    async def _restore(self, names: list[str], originals: Mapping[str, Any]) -> None:
        """Rebuild and start the stopped components on the old config, dependencies first."""
        old = self.deployment.assembly
        keep = {n: originals[n] for n in old.graph.order if n not in names}
        built = rebuild_container(old.specs, old.classes, old.graph, self.services(old), keep)
        problems = []
        for name in names:
            try:
                self.lifecycle.register(name, built[name](), old.specs[name])
                await self.lifecycle.start(name)
            except Exception as exc:
                problems.append(f"restarting '{name}' on the old config failed: {exc}")
        self.deployment.container = built
        if problems:
            raise StepFailed("; ".join(problems))


async def _hand_over(
    what: str, step: str, callback: Callable[..., Any], arguments: Callable[[], tuple[Any, ...]], timeout: float
) -> None:
    """Call a change callback (``step`` names it) with what ``arguments()`` makes, within
    ``timeout``: a component's ``_target_`` objects are made only now, and only for the config
    it gets. StepFailed says why it failed (``what`` refused), making the arguments included."""
    try:
        await call_maybe_async(callback, *arguments(), timeout=timeout)
    except TimeoutError:
        raise StepFailed(
            f"{step} did not finish within {timeout:g} s (app.watch.reload_timeout)", timed_out=True
        ) from None
    except Exception as exc:
        raise StepFailed(f"{what} refused the change: {type(exc).__name__}: {exc}") from exc
