"""One member of a consumer group on a keyed topic: it owns its share of the partitions.

Every heartbeat the coordinator:

1. beats (one script call, ``PartitionLeases.beat``): stays a live member, renews its leases,
   and sees every live member and every partition's owner;
2. calls ``on_revoked`` at once for a lease it lost (it expired, say after a pause, and may
   be someone else's by now); its token is dropped first, so ``holds`` is False from then;
3. plans with ``partitioning.assign`` from the live members and the current owners. There is
   no leader: every member computes the same plan from the same view;
4. gives up what the plan moves away: ``on_revoked`` first and, only once it has returned, the
   leases. A new owner can take a lease only once it is free, so a revocation completes
   before the new owner starts;
5. takes the partitions the plan gives it as soon as they are free, then calls ``on_assigned``.

Safety comes from the leases: a partition has at most one owner at any moment, and acks go
through ``ack``, fenced by the token, so a stale owner's acks are refused even before it
notices. Liveness comes from the plan: views agree again within a heartbeat, and while a
partition it should own is still held, the coordinator looks again five times as often.
Between heartbeats it waits on the group's notice stream, so a join, a departure, an expiry
seen by anyone, or a release wakes every member at once: a rebalance takes a few round trips.
It also wakes when the first member's time runs out: a crashed member's partitions move as
soon as its leases have expired, not up to a heartbeat later.
While a callback runs, the leases are kept renewed, so a slow hand-over does not lose them.
A callback that raises is logged, and the rebalance goes on: a partition must not stay stuck.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from loguru import logger

from framework.callbacks import call_maybe_async
from framework.events.errors import LeaseLostError
from framework.events.partitioning import assign
from framework.events.redis.connection import CONNECTION_ERRORS
from framework.events.redis.leases import PartitionLeases, View

PartitionsCallback = Callable[[frozenset[int]], Awaitable[None] | None]
"""``on_assigned`` / ``on_revoked``: called with the partitions, plain or async."""

log = logger.bind(component="event_bus")
EXPIRY_MARGIN = 0.005  # seconds past a member's expiry: its leases (same expiry) are surely gone


@dataclass(frozen=True, slots=True)
class CoordinatorStatistics:
    """A coordinator at one moment, for status, metrics and health."""

    member: str
    owned: tuple[int, ...]
    members: tuple[str, ...]  # as of the last heartbeat
    rebalances: int  # heartbeats at which this member gave up or took partitions


class Coordinator:
    """Joins a group on a keyed topic, owns its share of the partitions, hands them over.

    ``heartbeat`` (seconds) is how often it beats; it must be at most a third of the lease.
    A member trusts a lease for the lease time less one heartbeat after it sent the renewal
    (``holds``): cut off from Redis, it revokes a heartbeat before the lease can expire there,
    so a short ``on_revoked`` ends before the next owner can start even in a network split;
    a healthy member renews twice within that time. Use as ``async with``, or ``start`` /
    ``stop``.

    The callbacks get the partitions as a frozenset. While ``on_revoked`` runs the partitions
    are still held, so it can ack what was handled; it should return once nothing more of
    them is being handled. ``on_assigned`` runs once the leases are held.
    """

    def __init__(
        self,
        leases: PartitionLeases,
        *,
        on_assigned: PartitionsCallback | None = None,
        on_revoked: PartitionsCallback | None = None,
        heartbeat: float = 1.0,
    ) -> None:
        self.lease_s = leases.lease_ms / 1000
        if not 0 < heartbeat <= self.lease_s / 3:
            raise ValueError(
                f"heartbeat of group '{leases.group}' on '{leases.topic}' must be above 0 and at "
                f"most a third of the lease ({self.lease_s:g} s), got {heartbeat}: a member "
                "trusts a lease for the lease less one heartbeat, and must renew twice in it"
            )
        self.trust_s = self.lease_s - heartbeat  # how long after sending a renewal it trusts it
        self.leases, self.member, self.heartbeat = leases, leases.member, heartbeat
        self._on_assigned, self._on_revoked = on_assigned, on_revoked
        self._tokens: dict[int, int] = {}  # partition -> fencing token, for the leases held
        self._deadlines: dict[int, float] = {}  # partition -> monotonic time it stops trusting it
        self._members: tuple[str, ...] = ()
        self._waiting = False  # the plan gives this member partitions another still holds
        self._cause = "start"  # the latest membership change: why partitions move now
        self._seen = "0-0"  # the last notice the latest view reflects
        self._next_expiry = float("inf")  # monotonic time the first member's time runs out
        # The loop ends on this flag: redis-py can swallow a cancellation in a blocking read.
        self._stopping = False
        self._idle = False  # the loop is between heartbeats (nothing half done if cancelled)
        self._lock = asyncio.Lock()  # one rebalance step at a time, callbacks included
        self._background: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] | None = None
        self.rebalances = 0

    # what it holds

    @property
    def owned(self) -> frozenset[int]:
        """The partitions whose leases this member holds (callbacks may still be running)."""
        return frozenset(self._tokens)

    def holds(self, partition: int) -> bool:
        """This member holds the partition and trusts its lease still: it may handle entries."""
        deadline = self._deadlines.get(partition)
        return deadline is not None and time.monotonic() < deadline

    def token(self, partition: int) -> int:
        """The fencing token of a partition held; LeaseLostError if it is not held."""
        if not self.holds(partition):
            raise LeaseLostError(self._not_held(partition))
        return self._tokens[partition]

    def statistics(self) -> CoordinatorStatistics:
        """What it owns and sees now."""
        return CoordinatorStatistics(self.member, tuple(sorted(self._tokens)), self._members, self.rebalances)

    # lifecycle

    async def start(self) -> None:
        """Join: when this returns, the first heartbeat ran and took what was free for it."""
        if self.task is not None:
            raise RuntimeError(f"coordinator of '{self.member}' on '{self.leases.topic}' already started")
        self._stopping = False  # started again after a stop
        try:
            await self.tick()
        except CONNECTION_ERRORS as exc:
            raise self.leases.connection.unreachable(exc) from exc
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"event-bus:partitions:{self.leases.group}:{self.leases.topic}"
        )

    async def stop(self) -> None:
        """Leave: revoke (``on_revoked``), release the leases, stop counting as a member.

        A rebalance step under way finishes first, so no callback is cut short.
        """
        await self.abandon()
        if self._background:
            await asyncio.wait(self._background)
        async with self._lock:
            try:
                if self._tokens:
                    await self._give_up(set(self._tokens), "leaving")
                await self.leases.leave()
            except CONNECTION_ERRORS as exc:
                log.warning(
                    f"member '{self.member}' left '{self.leases.topic}' without releasing its leases "
                    f"({exc}): the others take them over once they expire ({self.lease_s:g} s)"
                )

    async def abandon(self) -> None:
        """Stop the heartbeats now, revoking and releasing nothing, as a crash would.

        The leases run out after the lease time and the others take them over. ``stop`` calls
        this first. A rebalance step under way finishes first.
        """
        task, self.task = self.task, None
        self._stopping = True
        if task is not None:
            if self._idle:
                task.cancel()
            await asyncio.wait({task})  # at most a heartbeat if redis-py swallowed the cancel

    async def __aenter__(self) -> Coordinator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        failing = False
        while not self._stopping:
            try:
                await self._idling(self._wait(self._pause()))
                if self._stopping:
                    return
                await self.tick()
                failing = False
                continue
            except CONNECTION_ERRORS as exc:
                if not failing:
                    log.warning(f"member '{self.member}' of '{self.leases.group}' lost Redis ({exc})")
                failing = True
            except Exception as exc:  # a bad reply must not end the membership
                log.error(f"member '{self.member}' of '{self.leases.group}': {type(exc).__name__}: {exc}")
            await self._revoke_overdue()
            await self._idling(asyncio.sleep(self._retry_pause()))

    def _pause(self) -> float:
        """Until the next heartbeat: sooner while waiting for a lease, or when a member expires."""
        pause = self.heartbeat / 5 if self._waiting else self.heartbeat
        return max(0.0, min(pause, self._next_expiry - time.monotonic()))

    def _retry_pause(self) -> float:
        """Until the next try: a heartbeat, or sooner if a lease runs out first (revoke it then)."""
        ends = [deadline - time.monotonic() for deadline in self._deadlines.values()]
        return max(0.005, min([self.heartbeat, *ends]))

    async def _idling(self, waiting: Awaitable[None]) -> None:
        self._idle = True
        try:
            await waiting
        finally:
            self._idle = False

    async def _wait(self, seconds: float) -> None:
        """Until the next heartbeat is due, or at once when another member notices a change."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self._stopping:
            self._seen, senders = await self.leases.notices(self._seen, int(left * 1000))
            if senders - {self.member}:  # its own notices tell it nothing new
                return

    # one heartbeat

    async def tick(self) -> None:
        """One heartbeat now: renew, notice lost leases and membership changes, rebalance.

        The loop calls this every heartbeat; never call it from a callback (it waits for the
        rebalance step that runs the callback).
        """
        async with self._lock:
            view = await self._beat()
            self._seen = view.notice
            # A member that stopped beating expires then, with its leases: look again just after.
            self._next_expiry = time.monotonic() + view.next_expiry + EXPIRY_MARGIN
            reason = self._cause = self._reason(view.members) or self._cause
            self._members = view.members
            lost = view.lost & set(self._tokens)
            if lost:
                self._forget(lost)
                await self._revoke(lost, "lease lost")
            plan = assign(self.leases.partitions, view.members, view.owners)
            mine = {p for p, owner in plan.items() if owner == self.member}
            surplus = set(self._tokens) - mine
            if surplus:
                await self._give_up(surplus, reason)
            wanted = mine - set(self._tokens)
            taken = await self._take(wanted, reason) if wanted else set()
            self._waiting = len(taken) < len(wanted)
            if lost or surplus or taken:
                self.rebalances += 1

    async def _beat(self) -> View:
        sent = time.monotonic()  # Redis sets the expiry after this: the local deadline is earlier
        view = await self.leases.beat(self._tokens)
        for partition in self._tokens:
            if partition not in view.lost:
                self._deadlines[partition] = sent + self.trust_s
        return view

    def _reason(self, members: tuple[str, ...]) -> str | None:
        """What changed in the membership since the last beat (None: nothing)."""
        if not self._members:
            return f"{self.member} joined"
        joined = sorted(set(members) - set(self._members))
        left = sorted(set(self._members) - set(members))
        parts = [f"joined: {', '.join(joined)}"] if joined else []
        parts += [f"left or expired: {', '.join(left)}"] if left else []
        return "; ".join(parts) or None

    async def _give_up(self, partitions: set[int], reason: str) -> None:
        """Revoke, and only then release: the next owner cannot start before on_revoked returned."""
        await self._revoke(partitions, reason)
        tokens = {p: self._tokens[p] for p in partitions}
        self._forget(partitions)
        await self.leases.release(tokens)

    async def _take(self, partitions: set[int], reason: str) -> set[int]:
        sent = time.monotonic()
        tokens = await self.leases.acquire(partitions)
        for partition, token in tokens.items():
            self._tokens[partition], self._deadlines[partition] = token, sent + self.trust_s
        if tokens:
            self._log("took", tokens, reason)
            await self._call(self._on_assigned, frozenset(tokens), "on_assigned")
        return set(tokens)

    async def _revoke(self, partitions: Iterable[int], reason: str) -> None:
        self._log("gave up", partitions, reason)
        await self._call(self._on_revoked, frozenset(partitions), "on_revoked")

    def _forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._tokens.pop(partition, None)
            self._deadlines.pop(partition, None)

    async def _revoke_overdue(self) -> None:
        """Out of touch with Redis: leases whose time ran out are lost, whatever Redis says later."""
        now = time.monotonic()
        overdue = {p for p, deadline in self._deadlines.items() if deadline <= now}
        if overdue:
            async with self._lock:
                self._forget(overdue)
                await self._revoke(overdue, "lease ran out without a heartbeat")

    # callbacks

    async def _call(self, callback: PartitionsCallback | None, partitions: frozenset[int], name: str) -> None:
        """Run a callback while the leases held are kept renewed; log (never raise) its error."""
        if callback is None:
            return
        keeper = asyncio.get_running_loop().create_task(self._keep_renewing())
        try:
            await call_maybe_async(callback, partitions)
        except Exception as exc:
            log.error(
                f"{name}({sorted(partitions)}) of member '{self.member}' on '{self.leases.topic}' "
                f"raised {type(exc).__name__}: {exc}; the rebalance goes on"
            )
        finally:
            keeper.cancel()

    async def _keep_renewing(self) -> None:
        """Beat every heartbeat; a lease lost meanwhile stops being held now, revoked at the next tick."""
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                view = await self._beat()
            except Exception as exc:  # the tick after the callback deals with the connection
                log.debug(f"heartbeat of '{self.member}' during a callback failed: {exc}")
                continue
            for partition in view.lost:
                self._deadlines[partition] = 0.0  # holds() is False; the tick revokes it

    # fenced acknowledgement

    async def ack(self, partition: int, entry_ids: Iterable[str]) -> int:
        """XACK entries of a partition held, fenced by its token: how many were acknowledged.

        LeaseLostError when the lease is no longer this member's; the partition is then
        revoked (``on_revoked``) at once, and its entries stay pending for the new owner.
        """
        ids = list(entry_ids)
        token = self._tokens.get(partition)
        if token is None or not self.holds(partition):
            raise LeaseLostError(self._not_held(partition))
        acked = await self.leases.fenced_ack(partition, token, ids)
        if acked is None:
            self._lose_soon(partition, token)
            raise LeaseLostError(
                f"ack of {len(ids)} entries refused: member '{self.member}' of group "
                f"'{self.leases.group}' lost partition {partition} of '{self.leases.topic}' "
                f"(token {token} is stale); they stay pending for its new owner"
            )
        return acked

    async def ack_many(self, acks: Mapping[int, Sequence[str]]) -> set[int]:
        """``ack`` for several partitions in one round trip; returns the partitions not acked.

        Those are the partitions not held (left out of the call), and those whose ack Redis
        refused (revoked at once, as with ``ack``). Their entries stay pending for the new owner.
        """
        held = {p: (self._tokens[p], ids) for p, ids in acks.items() if p in self._tokens and self.holds(p)}
        lost = set(acks) - set(held)
        for partition, acked in (await self.leases.fenced_acks(held)).items():
            if acked is None:
                self._lose_soon(partition, held[partition][0])
                lost.add(partition)
        return lost

    def _lose_soon(self, partition: int, token: int) -> None:
        self._deadlines[partition] = 0.0  # stop handling now; the revocation takes the lock
        task = asyncio.get_running_loop().create_task(self._lose(partition, token))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _lose(self, partition: int, token: int) -> None:
        async with self._lock:
            if self._tokens.get(partition) == token:  # not already revoked by a tick
                self._forget([partition])
                await self._revoke({partition}, "ack refused: lease lost")

    # messages

    def _not_held(self, partition: int) -> str:
        return (
            f"member '{self.member}' of group '{self.leases.group}' does not hold partition "
            f"{partition} of '{self.leases.topic}' (never assigned, revoked, or its lease ran out)"
        )

    def _log(self, action: str, partitions: Iterable[int], reason: str) -> None:
        moved = sorted(partitions)
        log.bind(
            event="bus.rebalance", topic=self.leases.topic, group=self.leases.group,
            member=self.member, action=action, partitions=moved, reason=reason,
        ).info(
            f"rebalance of group '{self.leases.group}' on '{self.leases.topic}': '{self.member}' "
            f"{action} partitions {moved} ({reason})"
        )

