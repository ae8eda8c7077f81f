"""The reload plan: what changed between two snapshots, and what to do about it.

Pure functions of the running and the candidate snapshot (and their assemblies): ``diff`` lists
the changed leaf keys, ``shadowed_edits`` the file edits a higher layer hides, and
``plan_reload`` one action per affected component or framework section, in the order they apply.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from framework.assembly import Assembly
from framework.config.plain import leaves, thaw
from framework.config.provenance import Layer
from framework.config.schema import Reload
from framework.config.snapshot import Snapshot, units
from framework.config.units import unit_value
from framework.reload.outcome import ActionKind, ConfigChange, ReloadAction, ShadowedEdit
from framework.secrets import mask
from framework.types import KeyPath

COMPONENTS = "components"
_ABSENT = object()


def diff(current: Snapshot, candidate: Snapshot) -> list[ConfigChange]:
    """Every leaf key whose value differs, with old and new values (secrets masked)."""
    old: dict[KeyPath, Any] = {}
    new: dict[KeyPath, Any] = {}
    for unit in _comparable(current, candidate):
        for data, found in ((current.data, old), (candidate.data, new)):
            value = unit_value(data, unit, _ABSENT)
            if value is not _ABSENT:
                found.update(leaves(thaw(value), unit))
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


def _comparable(current: Snapshot, candidate: Snapshot) -> Collection[KeyPath]:
    """The units that may differ: those the candidate's re-merge touched, when it was recomposed
    from ``current``; else every unit of both."""
    if candidate.changed_since is not None and candidate.changed_since[0] == current.digest:
        return candidate.changed_since[1]
    return {unit for data in (current.data, candidate.data) for unit, _ in units(data)}


def shadowed_edits(current: Snapshot, candidate: Snapshot) -> list[ShadowedEdit]:
    """Keys whose file value changed while the fleet overlay, an env var or a launch override wins."""
    found = []
    if candidate.changed_since is not None and candidate.changed_since[0] == current.digest:
        return []  # recomposed with no override at all: no layer above the files
    for path in candidate.provenance.paths():
        history = candidate.provenance.history(path)
        winner = history[-1] if history else None
        if winner is None or winner.layer not in (Layer.FLEET, Layer.ENV, Layer.CLI):
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
    *,
    sections: Collection[str],
    failed: Iterable[str] = (),
) -> tuple[ReloadAction, ...]:
    """One action per affected component or framework section, in the order they apply.

    ``failed``: running components left failed, which the reload starts again. ``sections``:
    the framework sections the app reads; a change to any other top-level key needs no action.
    """
    grouped = _Grouped(changes, current, candidate, running, assembly)
    section_actions, restart_all = _section_actions(grouped.sections, candidate, grouped.rejects, sections)
    restart, reconfigure, extend = _verdicts(
        grouped.per_component, candidate, running, assembly, set(failed), restart_all
    )
    actions = [*grouped.rejects, *section_actions]
    actions += [
        ReloadAction(ActionKind.RECONFIGURE, n, _keys(grouped.per_component[n]), "live keys changed")
        for n in assembly.graph.order
        if n in reconfigure
    ]
    new_on = set(assembly.graph.order)
    for name in reversed(running.graph.order):
        if name not in new_on:
            why = "disabled" if name in assembly.specs else "removed from the config"
            actions.append(ReloadAction(ActionKind.STOP, name, (), why))
    actions += [
        ReloadAction(ActionKind.RESTART, n, _keys(grouped.per_component.get(n, [])), restart[n])
        for n in assembly.graph.order
        if n in restart
    ]
    old_on = set(running.graph.order)
    for name in assembly.graph.order:
        if name not in old_on:
            why = "enabled" if name in running.specs else "added to the config"
            actions.append(ReloadAction(ActionKind.START, name, (), why))
    actions += [ReloadAction(ActionKind.EXTEND, n, (), extend[n]) for n in assembly.graph.order if n in extend]
    return tuple(actions)


class _Grouped:
    """Changes sorted by what they touch: rejected keys, framework sections, running components."""

    def __init__(
        self,
        changes: Sequence[ConfigChange],
        current: Snapshot,
        candidate: Snapshot,
        running: Assembly,
        assembly: Assembly,
    ) -> None:
        self.rejects: list[ReloadAction] = []
        self.sections: dict[str, list[ConfigChange]] = {}
        self.per_component: dict[str, list[ConfigChange]] = {}
        old_on, new_on = set(running.graph.order), set(assembly.graph.order)
        for change in changes:
            is_component = change.path[0] == COMPONENTS and len(change.path) > 2
            if is_component and not (change.path[1] in old_on and change.path[1] in new_on):
                continue  # it starts or stops (or stays off) whole: its keys' policies do not apply
            policy = (current if change.kind == "removed" else candidate).policy(change.path)
            if policy is Reload.NEVER:
                reason = _never_reason(change, candidate, current)
                self.rejects.append(ReloadAction(ActionKind.REJECT, _target(change.path), (change.key,), reason))
            elif is_component:
                self.per_component.setdefault(change.path[1], []).append(change)
            else:
                self.sections.setdefault(change.path[0], []).append(change)


def _verdicts(
    per_component: Mapping[str, Sequence[ConfigChange]],
    candidate: Snapshot,
    running: Assembly,
    assembly: Assembly,
    failed: set[str],
    restart_all: str | None,
) -> tuple[dict[str, str], dict[str, tuple[str, ...]], dict[str, str]]:
    """Which running components restart (and why), which reconfigure (with which keys), and
    which are told of changed extension providers (and why)."""
    restart: dict[str, str] = {}
    reconfigure: dict[str, tuple[str, ...]] = {}
    extend: dict[str, str] = {}
    old_on = set(running.graph.order)
    for name in assembly.graph.order:
        if name not in old_on:
            continue
        if name in failed:
            restart[name] = "it had failed; starting it again"
        elif restart_all:
            restart[name] = restart_all
        elif name in per_component:
            verdict = _component_verdict(name, per_component[name], candidate, running.classes[name])
            if isinstance(verdict, str):
                restart[name] = verdict
            elif verdict:
                reconfigure[name] = verdict
        if name in restart:
            continue
        told = _told_of(name, assembly)  # providers it is handed anew rather than restarted for
        cause = next((d for d in assembly.graph.edges[name] if d in restart and d not in told), None)
        if cause is not None:  # a dependent holds a reference to what restarts
            restart[name] = f"it depends on '{cause}', which restarts"
            reconfigure.pop(name, None)
        elif (why := _extensions_changed(name, running, assembly, restart)) is not None:
            if _takes_extension_changes(name, assembly):
                extend[name] = why
            else:
                restart[name] = f"{why} and it has no on_extensions_change"
                reconfigure.pop(name, None)
    return restart, reconfigure, extend


def _takes_extension_changes(name: str, assembly: Assembly) -> bool:
    return callable(getattr(assembly.classes[name], "on_extensions_change", None))


def _told_of(name: str, assembly: Assembly) -> set[str]:
    """The extension providers of ``name`` that it takes through on_extensions_change."""
    if not _takes_extension_changes(name, assembly):
        return set()
    explicit = {d.name for d in assembly.specs[name].depends_on}
    return set(assembly.graph.extended_by.get(name, ())) - explicit


def _extensions_changed(name: str, running: Assembly, assembly: Assembly, restart: Mapping[str, str]) -> str | None:
    """Why its extension providers are not what it holds (None: they are)."""
    old, new = running.graph.extensions.get(name, {}), assembly.graph.extensions.get(name, {})
    if old != new:
        return "its extension providers changed"
    rebuilt = next((p for p in assembly.graph.extended_by.get(name, ()) if p in restart), None)
    return None if rebuilt is None else f"its extension provider '{rebuilt}' restarts"


def _target(path: KeyPath) -> str:
    return path[1] if path[0] == COMPONENTS and len(path) > 1 else path[0]


def _keys(changes: Iterable[ConfigChange]) -> tuple[str, ...]:
    return tuple(c.key for c in changes)


def _never_reason(change: ConfigChange, candidate: Snapshot, current: Snapshot) -> str:
    where = (current if change.kind == "removed" else candidate).provenance.where(change.path)
    return f"{change.key} is reload: never ({where}); restart the process to apply it"


def _section_actions(
    sections: Mapping[str, list[ConfigChange]],
    candidate: Snapshot,
    rejects: list[ReloadAction],
    known: Collection[str],
) -> tuple[list[ReloadAction], str | None]:
    """Live keys of framework sections reconfigure them; `app` restart keys restart everything."""
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

