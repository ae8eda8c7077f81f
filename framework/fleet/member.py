"""An instance's part in its fleet: heartbeat, answer orders, and catch up with what it should run.

Two loops, both indifferent to Redis going away (they log once, keep the last good config, and
go on when it answers again):
- the heartbeat registers the instance (a key with a TTL, so a dead one drops out), then
  compares the version it runs with the one it should (the current one, or a baking canary's)
  and applies that one if they differ: an instance that missed an order, started without Redis,
  or outlived a controller that died mid-canary converges on its own;
- the order reader takes each signed order meant for it through the app's reload transaction
  and answers ACK (applied), NACK (rejected, still on the previous config, with the reasons)
  or, for a dry run, its plan.
A version this instance rejected is not tried again by the heartbeat until its files change.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from loguru import logger

from framework._version import __version__
from framework.config.fleet_section import FleetSettings
from framework.config.overlay import Overlay
from framework.config.snapshot import Snapshot
from framework.events.redis.client import redis_client
from framework.fleet.channel import Channel
from framework.fleet.drift import drifted, fleet_digest
from framework.fleet.launch import Joined
from framework.fleet.records import Answer, Member, Op, Order, Outcome, OverlayVersion
from framework.fleet.store import CONNECTION_ERRORS, FleetStore
from framework.fleet.table import history_rows
from framework.reload.outcome import ReloadOutcome, ReloadStatus

log = logger.bind(component="fleet")
ORDER_BLOCK_MS = 1000


class Host(Protocol):
    """What the member needs of the running app (the app hands itself down as this)."""

    @property
    def snapshot(self) -> Snapshot: ...

    def fleet_health(self) -> tuple[str, str]: ...  # (lifecycle state, health status)

    def emit(self, topic: str, data: dict[str, object]) -> None: ...


Apply = Callable[[Overlay | None, bool, str], Awaitable[ReloadOutcome]]


@dataclass
class Identity:
    """What a member says about itself that does not change while it runs."""

    admin_url: str | None
    started_at: float
    override_keys: tuple[str, ...]


class FleetMember:
    """One running instance's membership of its fleet (started by the App once it runs)."""

    def __init__(
        self, settings: FleetSettings, store: FleetStore, host: Host, apply: Apply, identity: Identity,
        *, overlay_version: int, degraded: str | None, rejected_version: int | None,
    ) -> None:
        self.settings, self.store, self.host, self._apply, self.identity = settings, store, host, apply, identity
        self.channel = Channel(store, settings.signing_key or "", settings.instance)
        self.overlay_version, self.degraded, self.rejected_version = overlay_version, degraded, rejected_version
        self._lock = asyncio.Lock()  # one overlay change at a time: an order, or catching up
        self._tasks: list[asyncio.Task[None]] = []
        self._unreachable = False
        self._after = "$"
        self._config_version = host.snapshot.version  # as of our last overlay change
        self._taken: tuple[int, ReloadOutcome] | None = None  # the last version applied, and how
        self._digest: tuple[Snapshot, str] | None = None  # the running snapshot's fleet digest

    @property
    def name(self) -> str:
        return self.settings.instance

    async def start(self) -> None:
        try:
            self._after = await self.store.last_id(self.store.orders)  # orders from now on
        except CONNECTION_ERRORS as exc:
            self._lost(exc)
        self._tasks = [
            asyncio.create_task(self._heartbeats(), name="fleet-heartbeat"),
            asyncio.create_task(self._orders(), name="fleet-orders"),
        ]

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(self.store.leave(self.name), self.settings.connect_timeout)
        except (TimeoutError, *CONNECTION_ERRORS):
            pass  # it drops out after its TTL
        await self.store.aclose()

    def record(self) -> Member:
        snapshot = self.host.snapshot
        state, health = self.host.fleet_health()
        return Member(
            instance=self.name, app=snapshot.section("app")["name"], framework_version=__version__,
            config_version=snapshot.version, digest=snapshot.digest, fleet_digest=self._fleet_digest(snapshot),
            overlay_version=self.overlay_version, state=state,
            health="degraded" if self.degraded and health == "healthy" else health,
            admin_url=self.identity.admin_url, started_at=self.identity.started_at,
            override_keys=self.identity.override_keys, degraded=self.degraded,
            rejected_version=self.rejected_version, heartbeat_at=time.time(),
        )

    def _fleet_digest(self, snapshot: Snapshot) -> str:
        """``fleet_digest`` of the running snapshot, computed once per snapshot (not per heartbeat)."""
        if self._digest is None or self._digest[0] is not snapshot:
            self._digest = snapshot, fleet_digest(snapshot)
        return self._digest[1]

    def health(self) -> dict[str, Any]:
        """The app's ``fleet`` check: degraded while it runs without (or behind) its overlay, or
        cannot reach the fleet; never unhealthy, as the last good config keeps running."""
        if self.degraded or self._unreachable:
            reason = self.degraded or f"the fleet's Redis is out of reach; running overlay v{self.overlay_version}"
            return {"status": "degraded", "reason": reason, "overlay_version": self.overlay_version}
        return {"status": "healthy", "overlay_version": self.overlay_version}

    async def view(self) -> dict[str, Any]:
        """The fleet as this instance sees it (``GET /fleet``); ConnectionError without Redis."""
        try:
            return {**await fleet_view(self.store), "instance": self.name}
        except CONNECTION_ERRORS as exc:
            raise ConnectionError(f"the fleet's Redis is out of reach: {exc}") from exc

    async def rollouts(self, limit: int) -> list[dict[str, Any]]:
        """The overlay's last ``limit`` versions, newest first, as ``fleet history`` lists them
        (values masked); ConnectionError without Redis."""
        try:
            versions, current, abandoned = (
                await self.store.history(), await self.store.current_version(), await self.store.abandoned()
            )
        except CONNECTION_ERRORS as exc:
            raise ConnectionError(f"the fleet's Redis is out of reach: {exc}") from exc
        return list(reversed(history_rows(versions[-limit:], current, abandoned)))

    # the loops

    async def _heartbeats(self) -> None:
        """Register every ``heartbeat`` seconds; catching up runs beside, never in the way: an
        apply that takes longer than the TTL must not drop a live instance from the fleet."""
        catching_up: asyncio.Task[None] | None = None
        while True:
            try:
                await self.store.register(self.record(), self.settings.ttl)
                self._reached()
                if (catching_up is None or catching_up.done()) and not self._lock.locked():
                    catching_up = asyncio.create_task(self._catch_up_quietly(), name="fleet-catch-up")
                    self._tasks.append(catching_up)
                    catching_up.add_done_callback(self._tasks.remove)
            except CONNECTION_ERRORS as exc:
                self._lost(exc)
            await asyncio.sleep(self.settings.heartbeat)

    async def _catch_up_quietly(self) -> None:
        try:
            await self._catch_up()
        except CONNECTION_ERRORS as exc:
            self._lost(exc)

    async def _orders(self) -> None:
        while True:
            try:
                self._after, orders = await self.channel.orders(self._after, ORDER_BLOCK_MS)
                for order in orders:
                    if not order.targets or self.name in order.targets:
                        await self._answer(order)
            except CONNECTION_ERRORS as exc:
                self._lost(exc)
                await asyncio.sleep(self.settings.heartbeat)

    async def _catch_up(self) -> None:
        if self.host.snapshot.version != self._config_version:  # the files changed and committed:
            self._config_version = self.host.snapshot.version  # a version rejected here may fit now
            self.rejected_version = None
        desired = await self.store.desired_version(self.name)
        if desired in (self.overlay_version, self.rejected_version):
            return
        if desired == 0 and not await self.store.latest_version():
            return  # an empty store (Redis lost its data) is no order to drop the overlay
        async with self._lock:
            if desired in (self.overlay_version, self.rejected_version):
                return  # an order applied it meanwhile
            record = await self.store.version(desired)
            if desired and record is None:
                return  # trimmed from the history meanwhile: the next heartbeat sees a newer one
            outcome = await self._take(desired, record, "fleet catch-up")
            if outcome.ok:
                log.bind(event="fleet.caught_up", version=desired).info(f"caught up with fleet overlay v{desired}")

    # answering

    async def _answer(self, order: Order) -> None:
        started = time.perf_counter()
        async with self._lock:
            if order.op is Op.PLAN:
                outcome = await self._plan(order)
            elif self._taken and self._taken[0] == order.version == self.overlay_version:
                outcome = self._taken[1]  # the heartbeat caught up first: say what that did
            else:
                record = await self.store.version(order.version)
                if order.version and record is None:
                    outcome = _refused(f"fleet overlay v{order.version} is not in the store (trimmed from history?)")
                else:
                    outcome = await self._take(order.version, record, f"fleet v{order.version}")
        answer = Answer(
            rollout=order.rollout, instance=self.name, version=self.overlay_version,
            digest=self.host.snapshot.digest, outcome=_verdict(order, outcome),
            reasons=tuple(outcome.reasons), actions=tuple(f"{a.kind.value} {a.target}" for a in outcome.actions),
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        await self.channel.send_answer(answer)
        self.host.emit("fleet.answered", answer.to_data())

    async def _plan(self, order: Order) -> ReloadOutcome:
        values = await self.store.draft(order.draft or "")
        if values is None:
            return _refused("the dry run's draft expired before this instance read it")
        draft = Overlay(0, values)  # shown as "fleet overlay (proposed)"
        return await self._apply(draft, True, f"fleet dry run of v{order.version}")

    async def _take(self, version: int, record: OverlayVersion | None, trigger: str) -> ReloadOutcome:
        outcome = await self._apply(record.overlay() if record else None, False, trigger)
        if outcome.ok:
            self.overlay_version, self.rejected_version, self.degraded = version, None, None
            self._taken = version, outcome
        else:
            self.rejected_version = version
            self.degraded = f"fleet overlay v{version} rejected here: " + "; ".join(outcome.reasons)
            log.bind(event="fleet.rejected", version=version).warning(self.degraded)
        self._config_version = self.host.snapshot.version
        await self.store.register(self.record(), self.settings.ttl)  # the controller sees it at once
        return outcome

    def _lost(self, exc: BaseException) -> None:
        if not self._unreachable:
            self._unreachable = True
            log.bind(event="fleet.unreachable").warning(
                f"fleet '{self.settings.name}': Redis out of reach ({exc}); running the last good config"
            )

    def _reached(self) -> None:
        if self._unreachable:
            self._unreachable = False
            log.bind(event="fleet.reachable").info(f"fleet '{self.settings.name}': Redis answers again")


def _verdict(order: Order, outcome: ReloadOutcome) -> Outcome:
    if not outcome.ok:
        return Outcome.NACK
    return Outcome.PLANNED if order.op is Op.PLAN else Outcome.ACK


def _refused(reason: str) -> ReloadOutcome:
    return ReloadOutcome(ReloadStatus.REJECTED, 0, "fleet", time.time(), 0.0, reasons=(reason,))


async def fleet_view(store: FleetStore) -> dict[str, Any]:
    """Every live member of a fleet as plain data, each marked where it drifted."""
    members, current = await store.members(), await store.current_version()
    marked = drifted(members)
    return {
        "fleet": store.fleet,
        "overlay_version": current,
        "instances": [{**json.loads(m.to_json()), "drift": m.instance in marked} for m in members],
    }


def member_of(joined: Joined, host: Host, apply: Apply, admin_url: str | None) -> FleetMember:
    """The member an app that joined its fleet runs, on a client of its own."""
    settings = joined.settings
    client = redis_client(settings.url, cluster=settings.cluster, connect_timeout=settings.connect_timeout,
                          client_name=f"fleet:{settings.instance}")
    keys = tuple(sorted({_key_of(text) for text in joined.source.overrides}))
    identity = Identity(admin_url, time.time(), keys)
    return FleetMember(
        settings, FleetStore(client, settings.name), host, apply, identity,
        overlay_version=joined.overlay_version, degraded=joined.degraded, rejected_version=joined.rejected_version,
    )


def _key_of(override: str) -> str:
    """The key (or group) an override sets, never its value: ``++a.b=1`` -> ``a.b``."""
    return override.split("=", 1)[0].lstrip("+~")
