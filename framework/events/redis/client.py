"""Making a redis-py client for one Redis server or one Redis Cluster, and checking it answers.

The bus and anything else in the framework that keeps state in Redis build their client here,
so one setting (``cluster``) switches them all, with the same options and the same error when
Redis cannot be reached.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from framework.events.errors import BusConnectionError
from framework.events.settings import address, safe_url

Client = Redis | RedisCluster
"""A client of one server or of a cluster: the commands the framework sends are the same."""


def redis_client(url: str, *, cluster: bool, connect_timeout: float, client_name: str) -> Client:
    """A client for the server (or, with ``cluster``, the cluster of the node) at ``url``.

    Nothing is sent until the first command: see ``connect``.
    """
    options: dict[str, Any] = {
        "socket_connect_timeout": connect_timeout,
        # No socket_timeout: redis-py then wraps each send in asyncio.wait_for, which on
        # Python 3.11 can swallow a cancellation and leave a reader running after stop().
        "socket_timeout": None,
        "socket_keepalive": True,
        "client_name": client_name,
    }
    if not cluster:
        # One immediate retry replaces a stale pooled connection.
        return Redis.from_url(url, retry=Retry(NoBackoff(), 1), **options)
    return RedisCluster.from_url(
        url,
        # A retry here may follow a topology refresh (a failover moved a slot): it needs a
        # moment, and a few tries, but the bus's loops back off on their own past that.
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 3),
        # A subscriber holds one blocking read per hash slot its topics live in.
        max_connections=1000,
        **options,
    )


async def connect(
    url: str,
    *,
    cluster: bool,
    connect_timeout: float,
    client_name: str,
    setting: str = "event_bus.redis.url",
) -> Client:
    """``redis_client``, once it answered a PING (on a cluster: once it found every node).

    Raises BusConnectionError naming the address and ``setting`` (the URL without password).
    """
    client = redis_client(url, cluster=cluster, connect_timeout=connect_timeout, client_name=client_name)
    try:
        await client.ping()
    except (RedisError, RedisClusterException, OSError) as exc:
        await client.aclose()
        kind = "Redis Cluster node" if cluster else "Redis"
        raise BusConnectionError(
            f"{kind} at {address(url, 6379)} unreachable: {exc} ({setting} = {safe_url(url)})"
        ) from exc
    return client

