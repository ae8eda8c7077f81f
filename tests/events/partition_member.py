"""A member process for the SIGSTOP test: owns partitions of a keyed topic, then acks late.

Usage: python partition_member.py URL PREFIX TOPIC GROUP PARTITIONS NAME LEASE_MS HEARTBEAT

It records in the Redis list {prefix}:log, one line each: "assigned <p,p,...>" and
"token <p> <token>" per partition from on_assigned, "revoked <p,p,...>" from on_revoked. Once
it owns every partition it reads one entry of each partition's stream, takes its tokens (the
lease check) and logs "holding"; then it waits for the key {prefix}:go before it sends the
fenced acks, logging "acked <p> <token>" or "refused <p> <token>" each. The test stops it
with SIGSTOP while it waits, which is a pause between the lease check and the ack.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from framework.events.redis.connection import Connection
from framework.events.redis.coordinator import Coordinator
from framework.events.redis.leases import PartitionLeases
from framework.events.settings import RedisSettings


def _refuse(what: str) -> None:
    raise RuntimeError(f"connection not open: cannot {what}")


async def main(url: str, prefix: str, topic: str, group: str, partitions: int, name: str, lease_ms: int, heartbeat: float) -> None:
    connection = Connection(RedisSettings(url=url, stream_prefix=prefix, consumer=name), name, _refuse)
    await connection.open()
    client, log = connection.client, f"{prefix}:log"
    leases = PartitionLeases(connection, topic, group, partitions, name, lease_ms=lease_ms)

    async def on_assigned(assigned: frozenset[int]) -> None:
        tokens = [f"token {p} {coordinator.token(p)}" for p in sorted(assigned)]
        # One RPUSH: whoever sees the assignment sees its tokens too.
        await client.rpush(log, f"assigned {','.join(map(str, sorted(assigned)))}", *tokens)

    async def on_revoked(revoked: frozenset[int]) -> None:
        await client.rpush(log, f"revoked {','.join(map(str, sorted(revoked)))}")

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    coordinator = Coordinator(leases, on_assigned=on_assigned, on_revoked=on_revoked, heartbeat=heartbeat)
    async with coordinator:
        print("ready", flush=True)
        while len(coordinator.owned) < partitions:
            await asyncio.sleep(0.01)
        held = {}
        for p in range(partitions):
            [(_, entries)] = await client.xreadgroup(group, name, {leases.streams[p]: ">"}, count=1)
            held[p] = (coordinator.token(p), [entry_id.decode() for entry_id, _ in entries])
        await client.rpush(log, "holding")
        while not await client.exists(f"{prefix}:go"):
            await asyncio.sleep(0.01)
        for p, (token, ids) in held.items():
            acked = await leases.fenced_ack(p, token, ids)
            await client.rpush(log, f"{'refused' if acked is None else 'acked'} {p} {token}")
        await stop.wait()
    await connection.close()


if __name__ == "__main__":
    url, prefix, topic, group, partitions, name, lease_ms, heartbeat = sys.argv[1:9]
    asyncio.run(main(url, prefix, topic, group, int(partitions), name, int(lease_ms), float(heartbeat)))
