"""What ``integrate fleet status|set|unset|history|rollback`` do: the fleet's controller.

The verbs are declared in ``verbs``, which imports this module only when one of them runs.

The fleet (Redis URL, name, signing key) is read from the config in --config-dir, as an
instance reads it. Every value is checked before anything is written, by composing that config
with the overlay it would make: the same composition, validation and assembly an instance runs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import getpass
import json
import socket
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from framework.assembly import assemble, load_config
from framework.config.bounded_yaml import YamlLimitError, load_yaml
from framework.config.compose import ConfigSource
from framework.config.fleet_section import FleetSettings
from framework.config.overlay import Overlay, refused_key
from framework.config.schema import Reload
from framework.config.snapshot import Snapshot, split_key
from framework.errors import ConfigError, OverlayError
from framework.events.redis.client import redis_client
from framework.fleet.channel import Channel
from framework.fleet.member import fleet_view
from framework.fleet.rollout import Controller, Plan, Report, RolloutError
from framework.fleet.store import CONNECTION_ERRORS, FleetStore, StaleWriterError
from framework.fleet.table import answers_table, history_rows, members_table
from framework.secrets import mask_url, masker
from framework.terminal import EXIT_RUNTIME, fail

Source = Callable[[argparse.Namespace], ConfigSource]  # the launch source a verb's arguments name


def fleet_of(source: ConfigSource) -> tuple[FleetSettings, Snapshot]:
    """The fleet the config in ``source`` names, and that config (without any overlay)."""
    snapshot = load_config(source)
    masker.update(snapshot.secret_values())
    settings = FleetSettings.from_section(snapshot.section("fleet"), snapshot.section("app")["name"])
    if not settings.signing_key:
        where = snapshot.provenance.where(("fleet", "signing_key"))
        raise ConfigError(f"fleet.signing_key: not set [{where}]; the fleet commands sign what they write with it,"
                          " and it must be the instances' key")
    return settings, snapshot


def open_store(settings: FleetSettings) -> FleetStore:
    client = redis_client(settings.url, cluster=settings.cluster, connect_timeout=settings.connect_timeout, client_name="fleet-cli")
    return FleetStore(client, settings.name)


def _run(settings: FleetSettings, work: Callable[[FleetStore], Any]) -> Any:
    async def main() -> Any:
        store = open_store(settings)
        try:
            return await work(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(main())
    except CONNECTION_ERRORS as exc:
        raise RolloutError(f"fleet '{settings.name}': Redis at {mask_url(settings.url)}: {exc}") from None
    except StaleWriterError as exc:
        raise RolloutError(str(exc)) from None


def status(args: argparse.Namespace, source: Source) -> int:
    settings, _ = fleet_of(source(args))
    try:
        view = _run(settings, fleet_view)
    except RolloutError as exc:
        fail(str(exc))
        return EXIT_RUNTIME
    if args.format == "json":
        print(masker(json.dumps(view, indent=2)))
    else:
        print(masker(members_table(view)))
    return 0


def history(args: argparse.Namespace, source: Source) -> int:
    settings, _ = fleet_of(source(args))
    try:
        versions, current, abandoned = _run(settings, lambda store: _all(store.history(), store.current_version(), store.abandoned()))
    except RolloutError as exc:
        fail(str(exc))
        return EXIT_RUNTIME
    rows = history_rows(versions, current, abandoned)
    print(masker(json.dumps(rows, indent=2) if args.format == "json" else "\n".join(r["line"] for r in rows) or "no overlay version yet"))
    return 0


async def _all(*reads: Any) -> tuple[Any, ...]:
    return tuple([await read for read in reads])


def change(args: argparse.Namespace, source: Source, action: str) -> int:
    launch = source(args)
    settings, base = fleet_of(launch)
    number = _version_number(args.items[0]) if action == "rollback" else None
    change = changer(action, args.items) if number is None else None
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    note = action if number is None else f"rollback to v{number}"
    check = functools.partial(check_overlay, launch, base)

    async def work(store: FleetStore) -> Report:
        how = change if number is None else await _rollback_to(store, number)
        assert how is not None
        plan = Plan(how, note, who, args.timeout, max(0, args.canary), max(0.0, args.bake), args.dry_run)
        controller = Controller(store, Channel(store, settings.signing_key or "", who), settings.history_size)
        return await controller.run(plan, check)

    try:
        report = _run(settings, work)
    except RolloutError as exc:
        fail(f"{exc}; the rollout could not complete")
        return EXIT_RUNTIME
    if args.format == "json":
        print(masker(json.dumps(_report_data(report), indent=2)))
    else:
        print(masker(answers_table(report, dry_run=args.dry_run)))
    return 0 if report.ok else EXIT_RUNTIME


Changer = Callable[[Mapping[str, Any]], dict[str, Any]]  # the overlay's values -> the new ones


def changer(action: str, items: list[str]) -> Changer:
    """What ``fleet set`` or ``fleet unset`` of ``items`` does to the overlay's values."""
    if action == "set":
        wanted = dict(_parsed_item(item) for item in items)
        return lambda base: {**base, **wanted}

    def unset_values(base: Mapping[str, Any]) -> dict[str, Any]:
        missing = [k for k in items if k not in base]
        if missing:
            raise OverlayError(f"fleet unset {', '.join(missing)}: not in the overlay (it holds: {', '.join(sorted(base)) or 'nothing'})")
        return {k: v for k, v in base.items() if k not in items}

    return unset_values


def _version_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise OverlayError(f"fleet rollback {text}: a version is a positive number (see `integrate fleet history`)")
    return int(text)


async def _rollback_to(store: FleetStore, number: int) -> Changer:
    """``fleet rollback``: the values of version ``number``, whatever the overlay holds now."""
    record = await store.version(number)
    if record is None:
        raise OverlayError(f"fleet rollback {number}: no such version in the history (kept: the last ones, see `integrate fleet history`)")
    target = dict(record.values)
    return lambda base: dict(target)


def _parsed_item(item: str) -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise OverlayError(f"fleet set {item.split('=')[0]!r}: write KEY=VALUE (the value as YAML: 5, true, 'text', [1, 2])")
    try:
        value = load_yaml(text, f"fleet set {key}") if text else ""
    except (YamlLimitError, yaml.YAMLError):
        raise OverlayError(f"fleet set {key}: its value is not valid YAML (not shown: it may be a secret); quote it: {key}=\"'...'\"") from None
    return key, value


def check_overlay(launch: ConfigSource, base: Snapshot, values: Mapping[str, Any]) -> frozenset[str]:
    """Compose the launch config with ``values`` as the overlay, as an instance would; the
    secret keys among them. OverlayError/ValidationError/ComponentsError name what is wrong.
    ``base``: the launch config composed already; the overlay is laid on its merged files."""
    for key in values:
        reason = refused_key(key, launch.config_dir)
        if reason:
            raise OverlayError(f"fleet overlay key '{key}': refused, {reason}")
    snapshot = load_config(dataclasses.replace(launch, overlay=Overlay(0, dict(values))), previous=base)
    never = [k for k in sorted(values) if snapshot.policy(split_key(k)) is Reload.NEVER]
    if never:
        raise OverlayError("\n".join(
            f"fleet overlay key '{k}': refused, its schema says reload: never (only a process restart"
            " applies it, and the overlay reaches running instances by reload)" for k in never))
    assemble(snapshot)
    return frozenset(k for k in values if any(_overlaps(split_key(k), p) for p in snapshot.secrets))


def _overlaps(key: tuple[str, ...], secret: tuple[str, ...]) -> bool:
    """A key that is, holds, or sits inside a secret."""
    shorter = min(len(key), len(secret))
    return key[:shorter] == secret[:shorter]


def _report_data(report: Report) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "version": report.version,
        "rolled_back": report.rolled_back,
        "answers": [a.to_data() for a in report.answers.values()],
        "no_answer": report.missing,
        "notes": report.notes,
    }

