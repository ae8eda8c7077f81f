"""Live reload: diff two snapshots, plan per component, apply as one transaction, keep a history.

snapshot N (running) + files now -> compose in a worker thread -> validate -> assemble
  -> diff (changed leaf keys) -> plan (reconfigure | restart | start | stop | reject)
  -> apply in dependency order; any failure compensates the steps already applied
  -> commit snapshot N+1, or keep N; one log record and one bus event per attempt.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from framework.assembly import Assembly, assemble, load
from framework.callbacks import call_maybe_async
from framework.config.plain import leaves, thaw
from framework.config.provenance import Layer
from framework.config.schema import Reload
from framework.config.sections import framework_sections
from framework.config.snapshot import FrozenDict, Snapshot
from framework.config.watch import ConfigWatch, Stamp, content_hash
from framework.container import Providers, rebuild_container
from framework.errors import ComponentsError, ComponentStartError, ValidationError
from framework.logging import configure
from framework.secrets import SecretMasker, mask, masker
from framework.types import KeyPath

if TYPE_CHECKING:
    from framework.app import App

COMPONENTS = "components"
# A framework section's change callback: (new section, changed keys relative to it); may raise.
SectionHandler = Callable[[FrozenDict, frozenset[str]], Awaitable[None] | None]


class ActionKind(StrEnum):
    """What a reload does to one component or framework section."""

    RECONFIGURE = "reconfigure"  # on_config_change(new config, changed keys)
    RESTART = "restart"  # stop, rebuild with the new config, start
    START = "start"  # added or enabled
    STOP = "stop"  # removed or disabled
    REJECT = "reject"  # the change cannot be applied while running


class ReloadStatus(StrEnum):
    """How a reload attempt ended."""

    APPLIED = "applied"  # snapshot N+1 committed
    UNCHANGED = "unchanged"  # the files changed, the composed config did not
    REJECTED = "rejected"  # snapshot N kept
    PLANNED = "planned"  # a dry run that would apply


@dataclass(frozen=True)
class ConfigChange:
    """One changed leaf key; values are already masked where the key is secret."""

    key: str
    old: Any
    new: Any
    kind: str = "changed"  # or "added", "removed" (the missing side is None)

    @property
    def path(self) -> KeyPath:
        return tuple(self.key.split("."))

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new, "kind": self.kind}


@dataclass(frozen=True)
class ReloadAction:
    """One step of a reload plan."""

    kind: ActionKind
    target: str  # a component name, or a framework section such as "logging"
    keys: tuple[str, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.kind.value,
            "target": self.target,
            "keys": list(self.keys),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ShadowedEdit:
    """A file edit with no effect: an env var or a launch override wins for that key."""

    key: str
    file: str  # where the edited value sits, "conf/x.yaml:4"
    winner: str  # "env APP__X" or "argument x=1"
    layer: str  # the winning layer's name

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "file": self.file, "winner": self.winner, "layer": self.layer}


@dataclass(frozen=True)
class ReloadOutcome:
    """The result of one reload attempt (or dry run), as plain, JSON-friendly data."""

    status: ReloadStatus
    version: int  # the version running afterwards (a dry run: the one it would commit)
    trigger: str  # "watch", "signal" or "api"
    time: float  # epoch seconds when the attempt began
    duration_ms: float
    dry_run: bool = False
    changes: tuple[ConfigChange, ...] = ()
    actions: tuple[ReloadAction, ...] = ()
    reasons: tuple[str, ...] = ()
    shadowed: tuple[ShadowedEdit, ...] = ()

    @property
    def ok(self) -> bool:
        """True unless the change was (or, for a dry run, would be) rejected."""
        return self.status is not ReloadStatus.REJECTED

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.status.value,
            "version": self.version,
            "trigger": self.trigger,
            "time": self.time,
            "duration_ms": self.duration_ms,
            "dry_run": self.dry_run,
            "changes": [c.to_dict() for c in self.changes],
            "actions": [a.to_dict() for a in self.actions],
            "reasons": list(self.reasons),
            "shadowed": [s.to_dict() for s in self.shadowed],
        }


class ReloadHistory:
    """The last ``size`` reload attempts, oldest first."""

    def __init__(self, size: int) -> None:
        self._entries: deque[ReloadOutcome] = deque(maxlen=size)

    def record(self, outcome: ReloadOutcome) -> None:
        self._entries.append(outcome)

    def as_list(self) -> list[dict[str, Any]]:
        return [outcome.to_dict() for outcome in self._entries]

    def __len__(self) -> int:
        return len(self._entries)


# --- diff, shadowed edits, plan: pure functions of two snapshots ---------------------------

_ABSENT = object()


def diff(current: Snapshot, candidate: Snapshot) -> list[ConfigChange]:
    """Every leaf key whose value differs, with old and new values (secrets masked)."""
    old = dict(leaves(thaw(current.data)))
    new = dict(leaves(thaw(candidate.data)))
    secrets = current.secrets | candidate.secrets
    changes = []
    for path in sorted(old.keys() | new.keys()):
        before, after = old.get(path, _ABSENT), new.get(path, _ABSENT)
        if before == after and type(before) is type(after):
            continue
        kind = "added" if before is _ABSENT else "removed" if after is _ABSENT else "changed"
        changes.append(
            ConfigChange(
                ".".join(path),
                None if before is _ABSENT else mask(before, path, secrets),
                None if after is _ABSENT else mask(after, path, secrets),
                kind,
            )
        )
    return changes


def shadowed_edits(current: Snapshot, candidate: Snapshot) -> list[ShadowedEdit]:
    """Keys whose file value changed while an env var or a launch override still wins."""
    found = []
    for path in candidate.provenance.paths():
        history = candidate.provenance.history(path)
        winner = history[-1] if history else None
        if winner is None or winner.layer not in (Layer.ENV, Layer.CLI):
            continue
        edited = _file_origin(history)
        before = _file_origin(current.provenance.history(path))
        if edited is None or (before is not None and before.value == edited.value):
            continue
        found.append(ShadowedEdit(".".join(path), edited.where, winner.where, winner.layer.value))
    return sorted(found, key=lambda edit: edit.key)


def _file_origin(history: Sequence[Any]) -> Any:
    files = [o for o in history if o.layer is Layer.FILE]
    return files[-1] if files else None


def plan_reload(
    current: Snapshot,
    running: Assembly,
    candidate: Snapshot,
    assembly: Assembly,
    changes: Sequence[ConfigChange],
    failed: Iterable[str] = (),
) -> tuple[ReloadAction, ...]:
    """One action per affected component or framework section, in the order they apply."""
    rejects: list[ReloadAction] = []
    sections: dict[str, list[ConfigChange]] = {}
    per_component: dict[str, list[ConfigChange]] = {}
    old_on, new_on = set(running.graph.order), set(assembly.graph.order)
    for change in changes:
        is_component = change.path[0] == COMPONENTS and len(change.path) > 2
        if is_component and not (change.path[1] in old_on and change.path[1] in new_on):
            continue  # it starts or stops (or stays off) whole: its keys' policies do not apply
        policy = (current if change.kind == "removed" else candidate).policy(change.path)
        if policy is Reload.NEVER:
            reason = _never(change, candidate, current)
            rejects.append(ReloadAction(ActionKind.REJECT, _target(change.path), (change.key,), reason))
        elif is_component:
            per_component.setdefault(change.path[1], []).append(change)
        else:
            sections.setdefault(change.path[0], []).append(change)
    section_actions, restart_all = _section_actions(sections, candidate, rejects)
    restart: dict[str, str] = {}
    reconfigure: dict[str, tuple[str, ...]] = {}
    broken = set(failed)
    for name in assembly.graph.order:
        if name not in old_on:
            continue
        if name in broken:
            restart[name] = "it had failed; starting it again"
        elif restart_all:
            restart[name] = restart_all
        elif name in per_component:
            verdict = _component_verdict(name, per_component[name], candidate, running.classes[name])
            if isinstance(verdict, str):
                restart[name] = verdict
            elif verdict:
                reconfigure[name] = verdict
        if name not in restart:  # a dependent holds a reference to what restarts
            cause = next((d for d in assembly.graph.edges[name] if d in restart), None)
            if cause is not None:
                restart[name] = f"it depends on '{cause}', which restarts"
                reconfigure.pop(name, None)
    actions = [*rejects, *section_actions]
    actions += [
        ReloadAction(ActionKind.RECONFIGURE, n, _keys(per_component[n]), "live keys changed")
        for n in assembly.graph.order
        if n in reconfigure
    ]
    for name in reversed(running.graph.order):
        if name not in new_on:
            why = "disabled" if name in assembly.specs else "removed from the config"
            actions.append(ReloadAction(ActionKind.STOP, name, (), why))
    actions += [
        ReloadAction(ActionKind.RESTART, n, _keys(per_component.get(n, [])), restart[n])
        for n in assembly.graph.order
        if n in restart
    ]
    for name in assembly.graph.order:
        if name not in old_on:
            why = "enabled" if name in running.specs else "added to the config"
            actions.append(ReloadAction(ActionKind.START, name, (), why))
    return tuple(actions)


def _target(path: KeyPath) -> str:
    return path[1] if path[0] == COMPONENTS and len(path) > 1 else path[0]


def _keys(changes: Iterable[ConfigChange]) -> tuple[str, ...]:
    return tuple(c.key for c in changes)


def _never(change: ConfigChange, candidate: Snapshot, current: Snapshot) -> str:
    where = (current if change.kind == "removed" else candidate).provenance.where(change.path)
    return f"{change.key} is reload: never ({where}); restart the process to apply it"


def _section_actions(
    sections: Mapping[str, list[ConfigChange]], candidate: Snapshot, rejects: list[ReloadAction]
) -> tuple[list[ReloadAction], str | None]:
    """Live keys of framework sections reconfigure them; `app` restart keys restart everything."""
    known = framework_sections()
    actions, restart_all = [], None
    for name, changes in sections.items():
        if name not in known:  # a section the framework does not read
            continue
        live = [c for c in changes if candidate.policy(c.path) is Reload.LIVE]
        for change in (c for c in changes if candidate.policy(c.path) is Reload.RESTART):
            if name == "app":
                restart_all = f"{change.key} is reload: restart; every component restarts"
            else:
                rejects.append(
                    ReloadAction(
                        ActionKind.REJECT,
                        name,
                        (change.key,),
                        (
                            f"{change.key} is reload: restart ({candidate.provenance.where(change.path)}), and the"
                            f" {name} is rebuilt only with the process; restart the process to apply it"
                        ),
                    )
                )
        if live:
            actions.append(ReloadAction(ActionKind.RECONFIGURE, name, _keys(live), "live keys changed"))
    return actions, restart_all


def _component_verdict(
    name: str, changes: Sequence[ConfigChange], candidate: Snapshot, cls: type
) -> str | tuple[str, ...]:
    """A restart reason, or the changed config keys to hand to on_config_change."""
    restart_keys = [c.key for c in changes if candidate.policy(c.path) is Reload.RESTART]
    config_keys = tuple(c.key for c in changes if c.path[2] == "config")
    for change in changes:
        if change.path[2] == "class":
            return f"its class changed ({change.old} -> {change.new})"
    if restart_keys:
        return f"{', '.join(restart_keys)} {'is' if len(restart_keys) == 1 else 'are'} reload: restart"
    if config_keys and not callable(getattr(cls, "on_config_change", None)):
        return "its config changed and it has no on_config_change"
    return config_keys


# --- the transaction ------------------------------------------------------------------------


class _StepFailed(Exception):
    """A plan step failed; ``notes`` says how compensation went."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out
        self.notes: list[str] = []


class _Rejected(Exception):
    """Composition, validation or assembly refused the new files."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("\n".join(reasons))
        self.reasons = reasons


Undo = Callable[[], Awaitable[None]]
Confirm = Callable[[], Awaitable[bool]]


class Reloader:
    """The reload transaction of one App: recompose, plan, apply or compensate, commit, report.

    Attempts are serialized by a lock; API requests made while one runs are coalesced into the
    next attempt, which re-reads the files, so the later edit always wins.
    """

    def __init__(self, app: App, launch_digest: str) -> None:
        self.app = app
        settings = app.snapshot.section("app")["watch"]
        self.dirs = (Path(app.source.config_dir).absolute(),)
        self.history = ReloadHistory(settings["history_size"])
        self.content_digest = launch_digest  # the files as of the last attempt (or launch)
        self.sections: dict[str, SectionHandler] = {"logging": self._logging, "event_bus": self._event_bus}
        self.watch_statistics: Callable[[], Any] | None = None
        self._lock = asyncio.Lock()
        self._requested = self._covered = 0
        self._last: ReloadOutcome | None = None
        self._inflight: set[asyncio.Future[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def busy(self) -> bool:
        """True while an attempt (a reload, or a dry run) holds the reload lock."""
        return self._lock.locked()

    # entry points

    async def reload(self, dry_run: bool = False, trigger: str = "api") -> ReloadOutcome:
        if self._closed:
            raise RuntimeError("the app is stopping; reload refused")
        if not dry_run:
            self._requested += 1
        attempt = asyncio.ensure_future(self._serialized(dry_run, trigger, self._requested))
        self._inflight.add(attempt)
        attempt.add_done_callback(self._inflight.discard)
        return await asyncio.shield(attempt)  # a cancelled caller never cuts a transaction short

    def request(self, trigger: str) -> None:
        """Reload in the background (a signal handler's way in); ignored once stopping."""
        if self._closed:
            return
        task = asyncio.ensure_future(self.reload(trigger=trigger))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        task.add_done_callback(_log_failure)

    def start_watching(self) -> asyncio.Task[None]:
        self._watcher = asyncio.create_task(self.watch(), name="config-watcher")
        self._watcher.add_done_callback(_log_failure)
        return self._watcher

    async def watch(self, started: asyncio.Event | None = None) -> None:
        """Reload each time the config dir's YAML content changes and settles; until cancelled."""
        settings = self.app.snapshot.section("app")["watch"]
        watcher = ConfigWatch(
            self.dirs,
            step_ms=settings["step_ms"],
            settle_ms=settings["settle_ms"],
            initial=self.content_digest,
        )
        async with watcher as watch:
            self.watch_statistics = watch.statistics
            if started is not None:
                started.set()
            async for stamp in watch.changes():
                if stamp.digest == self.content_digest or self._closed:
                    continue
                attempt = asyncio.ensure_future(self._watched(stamp, functools.partial(watch.settled, stamp)))
                self._inflight.add(attempt)
                attempt.add_done_callback(self._inflight.discard)
                attempt.add_done_callback(_log_failure)
                try:
                    await asyncio.shield(attempt)
                except Exception:  # a bug must not end the watch: it is logged, the watch goes on
                    self.content_digest = stamp.digest

    async def close(self) -> None:
        """Stop watching and wait for an attempt in progress; later requests are refused."""
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        while self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _serialized(self, dry_run: bool, trigger: str, ticket: int) -> ReloadOutcome:
        async with self._lock, self.app.lifecycle.changing:
            if dry_run:
                outcome = await self._attempt(trigger, dry_run=True)
                assert outcome is not None
                return outcome
            if self._covered >= ticket and self._last is not None:
                return self._last  # an attempt that began after this request re-read the files
            covers = self._requested
            outcome = await self._attempt(trigger)
            assert outcome is not None
            self._covered, self._last = covers, outcome
            return outcome

    async def _watched(self, stamp: Stamp, confirm: Confirm) -> None:
        async with self._lock, self.app.lifecycle.changing:
            if self._closed or stamp.digest == self.content_digest:
                return
            await self._attempt("watch", confirm=confirm, digest=stamp.digest)

    # one attempt

    async def _attempt(
        self, trigger: str, dry_run: bool = False, confirm: Confirm | None = None, digest: str | None = None
    ) -> ReloadOutcome | None:
        """None when the files changed again meanwhile (the watcher tries again)."""
        attempt = _Attempt(trigger, dry_run)
        current = self.app.snapshot
        if not dry_run and not self._built():
            raise RuntimeError("App.reload() applies to a started app; start it first or pass dry_run=True")
        if digest is None:
            digest = await asyncio.to_thread(content_hash, self.dirs)
        try:
            candidate, assembly = await asyncio.to_thread(self._prepare, current.version + 1)
        except _Rejected as exc:
            if confirm is not None and not await confirm():
                return None  # half-written files: wait for the writer to finish
            self._seen(digest, dry_run)
            return self._report(attempt.outcome(ReloadStatus.REJECTED, current.version, exc.reasons))
        attempt.changes = diff(current, candidate)
        attempt.shadowed = shadowed_edits(current, candidate)
        failed = [n for n in self.app.lifecycle.failed if n in current.section(COMPONENTS)]
        attempt.actions = plan_reload(
            current,
            self.app.assembly,
            candidate,
            assembly,
            attempt.changes,
            failed if attempt.changes else (),
        )
        if confirm is not None and not await confirm():
            return None
        self._seen(digest, dry_run)
        scrub = _scrubber(current, candidate)
        rejects = [scrub(a.reason) for a in attempt.actions if a.kind is ActionKind.REJECT]
        if rejects:
            return self._report(attempt.outcome(ReloadStatus.REJECTED, current.version, rejects))
        if not attempt.changes:
            if not dry_run:  # same values; keep the version, take the new provenance (lines, shadows)
                self.app.snapshot = dataclasses.replace(candidate, version=current.version)
            return self._report(attempt.outcome(ReloadStatus.UNCHANGED, current.version))
        if dry_run:
            return attempt.outcome(ReloadStatus.PLANNED, candidate.version)
        try:
            built = await self._apply(attempt.actions, current, candidate, assembly)
        except _StepFailed as failure:
            reasons = [scrub(str(failure)), *(scrub(n) for n in failure.notes)]
            return self._report(attempt.outcome(ReloadStatus.REJECTED, current.version, reasons))
        self._commit(candidate, assembly, built)
        return self._report(attempt.outcome(ReloadStatus.APPLIED, candidate.version))

    def _seen(self, digest: str, dry_run: bool) -> None:
        if not dry_run:  # the watcher need not try these files again
            self.content_digest = digest

    def _built(self) -> bool:
        lifecycle = self.app.lifecycle
        return set(lifecycle.instances) >= set(self.app.assembly.graph.order)

    def _prepare(self, version: int) -> tuple[Snapshot, Assembly]:
        """Compose, validate and assemble (in a worker thread); _Rejected lists every problem."""
        try:
            snapshot = load(self.app.source, version, previous=self.app.snapshot)
        except ValidationError as exc:
            raise _Rejected(list(exc.problems)) from exc
        except Exception as exc:  # any failure to compose is a rejection: the app keeps running
            raise _Rejected([_describe(exc)]) from exc
        try:
            return snapshot, assemble(snapshot)
        except ComponentsError as exc:
            raise _Rejected([_with_origin(str(e), snapshot) for e in exc.errors]) from exc
        except Exception as exc:
            raise _Rejected([_describe(exc)]) from exc

    async def _apply(
        self, actions: Sequence[ReloadAction], current: Snapshot, candidate: Snapshot, assembly: Assembly
    ) -> Providers | None:
        """Apply the plan; on a failure compensate what was applied and raise _StepFailed."""
        undo: list[Undo] = []
        timeout = float(current.section("app")["watch"]["reload_timeout"])
        try:
            for action in actions:
                if action.kind is ActionKind.RECONFIGURE:
                    await self._reconfigure(action, current, candidate, assembly, timeout, undo)
            return await self._cycle(actions, assembly, undo)
        except Exception as exc:
            failure = exc if isinstance(exc, _StepFailed) else _StepFailed(f"{type(exc).__name__}: {exc}")
            for step in reversed(undo):
                try:
                    await step()
                except _StepFailed as problem:
                    failure.notes.append(f"compensation: {problem}")
                except Exception as problem:
                    failure.notes.append(f"compensation failed: {type(problem).__name__}: {problem}")
            failure.notes.append("the previous config is still running")
            if failure is exc:
                raise
            raise failure from exc

    async def _reconfigure(
        self,
        action: ReloadAction,
        current: Snapshot,
        candidate: Snapshot,
        assembly: Assembly,
        timeout: float,
        undo: list[Undo],
    ) -> None:
        if action.keys and action.keys[0].startswith(f"{COMPONENTS}."):
            name = action.target
            prefix = len((COMPONENTS, name, "config"))
            keys = frozenset(".".join(c.split(".")[prefix:]) for c in action.keys)
            callback = self.app.lifecycle.instances[name].on_config_change
            old, new = self.app.assembly.specs[name].config, assembly.specs[name].config
            what = f"component '{name}'"
        elif action.target in self.sections:
            keys = frozenset(".".join(c.split(".")[1:]) for c in action.keys)
            callback = self.sections[action.target]
            old, new = current.section(action.target), candidate.section(action.target)
            what = f"section '{action.target}'"
        else:
            return  # applied by the commit itself (e.g. app.start_timeout)
        give_back = functools.partial(_bounded, what, callback, old, keys, timeout)
        try:
            await _bounded(what, callback, new, keys, timeout)
        except _StepFailed as failure:
            if failure.timed_out:  # it may hold part of the new config: hand the old one back too
                undo.append(give_back)
            raise
        undo.append(give_back)

    async def _cycle(
        self, actions: Sequence[ReloadAction], assembly: Assembly, undo: list[Undo]
    ) -> Providers | None:
        """Stop what stops or restarts (dependents first), then build and start (dependencies first)."""
        lifecycle, running = self.app.lifecycle, self.app.assembly
        down = {a.target for a in actions if a.kind in (ActionKind.STOP, ActionKind.RESTART)}
        up = {a.target for a in actions if a.kind in (ActionKind.START, ActionKind.RESTART)}
        if not down and not up:
            return None
        originals = dict(lifecycle.instances)
        stopped = [n for n in reversed(running.graph.order) if n in down]
        for name in stopped:
            await lifecycle.stop(name)
        restore = [n for n in running.graph.order if n in down]
        undo.append(functools.partial(self._restore, restore, originals))
        keep = {n: originals[n] for n in assembly.graph.order if n not in up}
        services = self.app.services(assembly)
        built = rebuild_container(assembly.specs, assembly.classes, assembly.graph, services, keep)
        brought_up: list[str] = []
        undo.append(functools.partial(self._take_down, brought_up, set(running.specs)))
        for name in (n for n in assembly.graph.order if n in up):
            lifecycle.specs[name] = assembly.specs[name]
            try:
                instance = built[name]()
            except Exception as exc:
                raise _StepFailed(
                    f"component '{name}': building it with the new config failed: {type(exc).__name__}: {exc}"
                ) from exc
            lifecycle.configured(name, instance)
            brought_up.append(name)
            try:
                await lifecycle.start(name)
            except ComponentStartError as exc:
                raise _StepFailed(f"{exc} (with the new config)") from exc
        return built

    async def _take_down(self, names: list[str], old_specs: set[str]) -> None:
        lifecycle = self.app.lifecycle
        for name in reversed(names):
            await lifecycle.stop(name)
        for name in names:
            if name not in self.app.assembly.graph.edges:
                lifecycle.forget(name)
                if name not in old_specs:
                    lifecycle.specs.pop(name, None)

    async def _restore(self, names: list[str], originals: Mapping[str, Any]) -> None:
        """Rebuild and start the stopped components on the old config, dependencies first."""
        lifecycle, old = self.app.lifecycle, self.app.assembly
        keep = {n: originals[n] for n in old.graph.order if n not in names}
        built = rebuild_container(old.specs, old.classes, old.graph, self.app.services(old), keep)
        problems = []
        for name in names:
            lifecycle.specs[name] = old.specs[name]
            try:
                lifecycle.configured(name, built[name]())
                await lifecycle.start(name)
            except Exception as exc:
                problems.append(f"restarting '{name}' on the old config failed: {exc}")
        self.app.container = built
        if problems:
            raise _StepFailed("; ".join(problems))

    def _commit(self, candidate: Snapshot, assembly: Assembly, built: Providers | None) -> None:
        self.app.snapshot = candidate
        self.app.assembly = assembly
        self.app.lifecycle.adopt(assembly.graph, assembly.specs)
        if built is not None:
            self.app.container = built
        masker.update(candidate.secret_values())

    # framework sections

    def _logging(self, section: FrozenDict, keys: frozenset[str]) -> None:
        forced = self.app.logging_overrides
        if forced is None:  # the App does not own this process's logging
            return
        configure(forced.get("level") or section["level"], forced.get("format") or section["format"])

    def _event_bus(self, section: FrozenDict, keys: frozenset[str]) -> None:
        from framework.events.settings import BusSettings

        self.app.bus.reconfigure(BusSettings.from_config(thaw(section)))

    # reporting

    def _report(self, outcome: ReloadOutcome) -> ReloadOutcome:
        """One log record, one history entry and one bus event per attempt (none for a dry run)."""
        if outcome.dry_run:
            return outcome
        self.history.record(outcome)
        log = self.app.log
        for edit in outcome.shadowed:
            log.bind(event="config.shadowed", **edit.to_dict()).warning(
                f"{edit.key}: the edit in {edit.file} has no effect;"
                f" the {edit.layer} layer wins ({edit.winner})"
            )
        data = outcome.to_dict()
        fields = {k: v for k, v in data.items() if k != "time"}  # `time` is the log line's own
        version = outcome.version
        if outcome.status is ReloadStatus.REJECTED:
            topic = "config.rejected"
            log.bind(event=topic, **fields).warning(
                f"config change rejected; still running v{version}: " + "; ".join(outcome.reasons)
            )
        else:
            topic = "config.reloaded"
            summary = ", ".join(f"{a.kind.value} {a.target}" for a in outcome.actions) or "no action"
            text = f"config v{version} applied ({len(outcome.changes)} change(s): {summary})"
            if outcome.status is ReloadStatus.UNCHANGED:
                text = f"config files changed, values did not; still v{version}"
            log.bind(event=topic, **fields).info(text)
        self.app.emit(topic, data)  # in the background: a full queue never holds a reload up
        return outcome


@dataclass
class _Attempt:
    """What one attempt has found so far."""

    trigger: str
    dry_run: bool
    began: float = field(default_factory=time.time)
    clock: float = field(default_factory=time.perf_counter)
    changes: Sequence[ConfigChange] = ()
    actions: Sequence[ReloadAction] = ()
    shadowed: Sequence[ShadowedEdit] = ()

    def outcome(self, status: ReloadStatus, version: int, reasons: Sequence[str] = ()) -> ReloadOutcome:
        return ReloadOutcome(
            status,
            version,
            self.trigger,
            round(self.began, 3),
            round((time.perf_counter() - self.clock) * 1000, 2),
            self.dry_run,
            tuple(self.changes),
            tuple(self.actions),
            tuple(reasons),
            tuple(self.shadowed),
        )


async def _bounded(
    what: str, callback: Callable[..., Any], config: Any, keys: frozenset[str], timeout: float
) -> None:
    """Call a sync or async change callback within ``timeout``; _StepFailed says why it failed."""

    try:
        await call_maybe_async(callback, config, keys, timeout=timeout)
    except TimeoutError:
        raise _StepFailed(
            f"{what}: on_config_change did not finish within {timeout:g} s (app.watch.reload_timeout)",
            timed_out=True,
        ) from None
    except Exception as exc:
        raise _StepFailed(f"{what} refused the change: {type(exc).__name__}: {exc}") from exc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"


_KEY = re.compile(r"^(components\.[A-Za-z_][\w.]*?)(?::| )")


def _with_origin(message: str, snapshot: Snapshot) -> str:
    """Append the file:line of the key a message starts with, when known."""
    match = _KEY.match(message)
    if not match or "[" in message:
        return message
    path = tuple(match.group(1).split("."))
    where = snapshot.provenance.where(path)
    return message if where == "origin unknown" else f"{message} [{where}]"


def _scrubber(*snapshots: Snapshot) -> Callable[[str], str]:
    """Masks the secret values of the given snapshots in a text (reasons quote exceptions)."""
    return SecretMasker(value for snapshot in snapshots for value in snapshot.secret_values())


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.bind(component="app", event="config.reload_failed").opt(exception=task.exception()).error(
            f"reload failed: {task.exception()}"
        )


__all__ = [
    "ActionKind",
    "ConfigChange",
    "ReloadAction",
    "ReloadHistory",
    "ReloadOutcome",
    "ReloadStatus",
    "Reloader",
    "SectionHandler",
    "ShadowedEdit",
    "diff",
    "plan_reload",
    "shadowed_edits",
]
