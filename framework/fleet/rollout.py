"""The controller's side of a rollout: write a version under the lock, order it, gather answers.

One writer at a time: the lock is taken with a fencing token and held (renewed) until the
rollout ends, so two ``fleet set`` calls never interleave and the later one builds on the
earlier one's version. The values are checked (``check``) under the lock, against the version
they will sit on, before anything is written.

With a canary, the new version is written without becoming current and pinned to the canaries;
they must ACK and then stay as healthy as they were for the bake time. Then it becomes current
and goes to the rest. A NACK, a missing answer or a worse health among the canaries puts them
back on the previous version, and the new one never becomes current.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from framework.fleet.channel import Channel
from framework.fleet.records import Answer, Op, Order, Outcome, OverlayVersion, changes_between
from framework.fleet.store import CONNECTION_ERRORS, FleetStore

Check = Callable[[Mapping[str, Any]], frozenset[str]]  # raises ConfigError; returns the secret keys
# The lock and a canary's pin live this long unless renewed (every third of it): a controller
# that dies frees the lock, and returns its canaries to the current version, within seconds.
LEASE_S = 5.0
_HEALTH_RANK = {"healthy": 0, "degraded": 1, "unhealthy": 2}


class RolloutError(RuntimeError):
    """The rollout could not run: the lock was busy, or Redis went away."""


@dataclass
class Plan:
    """What one ``fleet set``/``unset``/``rollback`` asks for."""

    change: Callable[[Mapping[str, Any]], dict[str, Any]]  # the current values -> the new ones
    note: str
    by: str
    timeout: float = 10.0
    canary: int = 0
    bake: float = 0.0
    dry_run: bool = False


@dataclass
class Report:
    """What happened, per instance, and what the overlay is now."""

    version: int | None = None  # the version written (None: a dry run, or nothing written)
    answers: dict[str, Answer] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # instances that did not answer in time
    notes: list[str] = field(default_factory=list)
    rolled_back: bool = False

    @property
    def ok(self) -> bool:
        good = {Outcome.ACK, Outcome.PLANNED}
        return not self.missing and not self.rolled_back and all(a.outcome in good for a in self.answers.values())


class Controller:
    """Runs one rollout at a time on a fleet's store: ``fleet set``'s side of the protocol."""

    def __init__(self, store: FleetStore, channel: Channel, history_size: int) -> None:
        self.store, self.channel, self.history_size = store, channel, history_size

    async def run(self, plan: Plan, check: Check) -> Report:
        token = await self.store.acquire(LEASE_S, wait_s=plan.timeout)
        if token is None:
            raise RolloutError(f"another writer held the lock of fleet '{self.store.fleet}' for {plan.timeout:g} s")
        renewing = asyncio.create_task(self._renew(token, LEASE_S))
        try:
            return await self._locked(plan, check, token)
        finally:
            renewing.cancel()
            await self.store.release(token)

    async def _renew(self, token: str, lease: float) -> None:
        """Keep the lock (and a canary's pin) while the rollout runs; a lost lock ends it."""
        try:
            while await self.store.renew(token, lease):
                await asyncio.sleep(lease / 3)
        except CONNECTION_ERRORS:
            return  # Redis went away: the rollout's own next call says so

    async def _locked(self, plan: Plan, check: Check, token: str) -> Report:
        base = await self.store.current()
        values = plan.change(base.values if base else {})
        changes = changes_between(base.values if base else {}, values)
        secret_keys = check(values)
        live = await self.store.members()
        members = [m.instance for m in live]
        report = Report()
        if not members:
            report.notes.append("no live instance: the version is written for the ones that start")
        if plan.dry_run:
            draft = await self.store.put_draft(values, plan.timeout + 30)
            await self._order(report, Order(_rollout(), Op.PLAN, (base.version if base else 0) + 1, (), draft), members, plan.timeout)
            return report
        record = OverlayVersion(0, values, time.time(), plan.by, plan.note, changes, secret_keys)
        canaries = members[: plan.canary] if plan.canary else []
        version = await self.store.write(record, token, current=not canaries, keep=self.history_size)
        report.version = version
        rollout = _rollout()
        if canaries:
            health = {m.instance: m.health for m in live}
            ok = await self._canary(report, rollout, version, canaries, plan, health)
            if not ok:
                await self.store.abandon(version, report.notes[-1])
                await self._revert(report, rollout, base.version if base else 0, canaries, plan.timeout)
                return report
            await self.store.promote(version, token)
            await self.store.unpin_canary()
        rest = [m for m in members if m not in canaries]
        if rest:
            await self._order(report, Order(rollout, Op.APPLY, version, tuple(rest)), rest, plan.timeout)
        return report

    async def _canary(
        self, report: Report, rollout: str, version: int, canaries: list[str], plan: Plan, before: Mapping[str, str]
    ) -> bool:
        await self.store.pin_canary(version, canaries, LEASE_S)
        await self._order(report, Order(rollout, Op.APPLY, version, tuple(canaries)), canaries, plan.timeout)
        if not report.ok:
            report.notes.append(f"canary failed: v{version} stopped before the other instances")
            return False
        report.notes.append(f"canary {', '.join(canaries)} ACKed v{version}; baking {plan.bake:g} s")
        worse = await self._bake(canaries, before, plan.bake)
        if worse:
            report.notes.append(f"canary unhealthy during the bake: {worse}")
            return False
        return True

    async def _bake(self, canaries: list[str], before: Mapping[str, str], seconds: float) -> str | None:
        """Why a canary got worse within ``seconds`` (gone, or less healthy), or None."""
        deadline = time.monotonic() + seconds
        while True:
            now = {m.instance: m for m in await self.store.members()}
            for name in canaries:
                member = now.get(name)
                if member is None:
                    return f"{name} left the fleet"
                if _HEALTH_RANK.get(member.health, 3) > _HEALTH_RANK.get(before.get(name, "healthy"), 3):
                    return f"{name} is {member.health} (was {before.get(name, 'healthy')})"
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    async def _revert(self, report: Report, rollout: str, previous: int, canaries: list[str], timeout: float) -> None:
        await self.store.unpin_canary()
        report.rolled_back = True
        reverted = Report()
        await self._order(reverted, Order(rollout + "-revert", Op.APPLY, previous, tuple(canaries)), canaries, timeout)
        back = [n for n, a in reverted.answers.items() if a.outcome is Outcome.ACK]
        report.notes.append(
            f"rolled back: the overlay stays v{previous}; {', '.join(back) or 'no canary'} returned to it"
            + (f"; {', '.join(reverted.missing)} did not answer (they return on their next heartbeat)" if reverted.missing else "")
        )

    async def _order(self, report: Report, order: Order, targets: list[str], timeout: float) -> None:
        """Send ``order`` and wait for the answers of ``targets`` (until ``timeout`` seconds)."""
        after = await self.store.last_id(self.store.answers)
        await self.channel.send_order(order)
        waiting, deadline = set(targets), time.monotonic() + timeout
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            after, answers = await self.channel.answers(after, max(1, int(min(left, 1.0) * 1000)))
            for answer in answers:
                if answer.rollout == order.rollout and answer.instance in waiting:
                    report.answers[answer.instance] = answer
                    waiting.discard(answer.instance)
        report.missing.extend(sorted(waiting))


def _rollout() -> str:
    return secrets.token_hex(6)
