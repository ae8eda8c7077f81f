"""Starting with the fleet's overlay: fetch the version this instance should run, compose with it.

Runs once, before anything is built, on an event loop of its own in a thread (the app may be
made inside or outside a running loop). Redis out of reach: refuse to start, or start on the files alone, degraded, as
``fleet.required`` says. An overlay the local files cannot take (a conflict only this instance
has) starts it on the files alone too, degraded, with that version marked as rejected here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from loguru import logger

from framework.assembly import load_config
from framework.bounded import run_apart
from framework.config.compose import ConfigSource
from framework.config.fleet_section import FleetSettings
from framework.config.snapshot import Snapshot
from framework.errors import ConfigError, FleetUnreachableError
from framework.events.redis.client import redis_client
from framework.fleet.records import OverlayVersion
from framework.fleet.store import CONNECTION_ERRORS, FleetStore
from framework.secrets import mask_url

log = logger.bind(component="fleet")


@dataclass(frozen=True)
class Joined:
    """How an instance starts in its fleet."""

    settings: FleetSettings
    source: ConfigSource  # the launch source, with the overlay it runs (if any)
    snapshot: Snapshot
    overlay_version: int  # 0: none
    degraded: str | None = None  # why it runs without the overlay it should
    rejected_version: int | None = None


def join(source: ConfigSource, snapshot: Snapshot) -> Joined | None:
    """The source and snapshot to start with; None when the config has no enabled fleet."""
    section = snapshot.section("fleet")
    if not section["enabled"]:
        return None
    settings = FleetSettings.from_section(section, snapshot.section("app")["name"])
    try:
        record = _fetch(settings)
    except CONNECTION_ERRORS as exc:
        where = f"fleet '{settings.name}': Redis at {mask_url(settings.url)} unreachable ({exc})"
        if settings.required:
            origin = snapshot.provenance.where(("fleet", "required"))
            raise FleetUnreachableError(
                f"{where}; fleet.required is true [{origin}]: start Redis, or set fleet.required=false"
                " to start without the overlay (degraded) and catch up when Redis answers"
            ) from None
        log.bind(event="fleet.degraded").warning(f"{where}; starting without the fleet overlay (degraded)")
        return Joined(settings, source, snapshot, 0, degraded=f"Redis unreachable at start: {exc}")
    if record is None:
        return Joined(settings, source, snapshot, 0)
    joined = dataclasses.replace(source, overlay=record.overlay())
    try:
        with_overlay = load_config(joined, previous=snapshot)  # laid on the files already merged
    except ConfigError as exc:
        reason = f"overlay v{record.version} rejected here: {exc}"
        log.bind(event="fleet.degraded").warning(f"{reason}; starting on the files alone (degraded)")
        return Joined(settings, source, snapshot, 0, degraded=reason, rejected_version=record.version)
    return Joined(settings, joined, with_overlay, record.version)


def _fetch(settings: FleetSettings) -> OverlayVersion | None:
    """The overlay version this instance should run now, or None when none was ever set."""

    async def fetch() -> OverlayVersion | None:
        client = redis_client(settings.url, cluster=settings.cluster, connect_timeout=settings.connect_timeout,
                              client_name=f"fleet:{settings.instance}")
        store = FleetStore(client, settings.name)
        try:
            return await store.version(await store.desired_version(settings.instance))
        finally:
            await store.aclose()

    return run_apart(fetch(), "fleet-join")
