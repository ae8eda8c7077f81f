"""The ``event_bus`` config section: its Cerberus schema and the typed, normalized view."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from framework.config.plain import thaw
from framework.config.schema import Schema, normalize, secret_paths
from framework.errors import SHOWN_PROBLEMS, ValidationError
from framework.secrets import MASK


class Backend(StrEnum):
    """Where events travel."""

    MEMORY = "memory"  # one process, asyncio queues
    REDIS = "redis"  # Redis Streams, many processes
    RABBITMQ = "rabbitmq"  # a RabbitMQ topic exchange, many processes


class Overflow(StrEnum):
    """What publishing does when a subscriber's queue is full (in-memory delivery)."""

    BLOCK = "block"  # the publisher awaits space
    DROP_OLDEST = "drop_oldest"  # the oldest queued event of the lowest priority is dropped
    DEAD_LETTER = "dead_letter"  # the new event goes to the dead letters


MAX_PARTITIONS = 1024


def _key(kind: str, default: Any, reload: str, description: str, **rules: Any) -> dict[str, Any]:
    return {"type": kind, "default": default, "reload": reload, "description": description, **rules}


_REDIS_SCHEMA: Schema = {
    "url": _key(
        "string", "redis://127.0.0.1:6379/0", "restart",
        "Redis server URL; with cluster: true, any one node of the cluster", empty=False,
    ),
    "cluster": _key(
        "boolean", False, "restart",
        "Connect to a Redis Cluster (the client finds every node from the one in url); topic"
        " streams are then named {prefix}:{<topic>}, so each topic's keys share one hash slot",
    ),
    "stream_prefix": _key(
        "string", "events", "restart", "Prefix of every stream name: {prefix}:{topic}",
        regex=r"[A-Za-z0-9_.-]+",
    ),
    "maxlen": _key("integer", 100_000, "restart", "Approximate MAXLEN of each topic stream", min=1),
    "claim_idle_ms": _key(
        "integer", 30_000, "restart", "Claim entries a dead consumer left pending this long", min=1
    ),
    "max_deliveries": _key(
        "integer", 5, "restart", "Dead-letter an entry delivered this many times unacked", min=1
    ),
    "replay_window": _key(
        "integer", 3600, "restart",
        "Seconds a signed event stays deliverable; a copy XADDed again in that time is "
        "dead-lettered 'replayed', an event read later 'expired'. Must exceed "
        "claim_idle_ms x max_deliveries and the longest time a consumer may be down",
        min=1,
    ),
    "block_ms": _key("integer", 1000, "restart", "XREADGROUP BLOCK timeout", min=1),
    "consumer": _key(
        "string", None, "restart", "Consumer name in each group; null means '<host>-<pid>'",
        nullable=True, empty=False,
    ),
    "signing_key": _key(
        "string", None, "restart", "HMAC-SHA256 key signing every event; required for redis",
        nullable=True, secret=True, minlength=16,
    ),
    "connect_timeout": _key("number", 2.0, "restart", "Seconds to wait for a connection", min=0.01),
    "refresh_ms": _key(
        "integer", 1000, "restart", "How often pattern subscriptions look for new topics", min=10
    ),
    "lease_ms": _key(
        "integer", 3000, "restart",
        "How long a process owns a partition without renewing it: a crashed owner's partitions"
        " move to the others after this",
        min=100,
    ),
    "heartbeat_ms": _key(
        "integer", 1000, "restart",
        "How often a process renews its partition leases and looks for processes that joined or"
        " left; at most a third of lease_ms",
        min=10,
    ),
}

_RABBITMQ_SCHEMA: Schema = {
    "url": _key(
        "string", "amqp://127.0.0.1:5672/", "restart",
        "AMQP URL of the RabbitMQ server; without user and password, guest/guest (a password"
        " in it is masked wherever the config is shown, as in every URL)",
        empty=False,
    ),
    "exchange": _key(
        "string", "events", "restart",
        "Topic exchange every event is published to; queues are named {exchange}.{subscriber}...",
        regex=r"[A-Za-z0-9_.:-]+",
    ),
    "prefetch": _key(
        "integer", 100, "restart",
        "Unacknowledged messages a subscription holds at most (and at most its queue_size)", min=1,
    ),
    "max_deliveries": _key(
        "integer", 5, "restart",
        "Dead-letter a message delivered this many times unacknowledged (consumers died)", min=1,
    ),
    "replay_window": _key(
        "integer", 3600, "restart",
        "Seconds a signed event stays deliverable; an event read later is dead-lettered 'expired',"
        " a copy published again in that time 'replayed' (when it reaches the process that read"
        " the original)",
        min=1,
    ),
    "signing_key": _key(
        "string", None, "restart", "HMAC-SHA256 key signing every event; required for rabbitmq",
        nullable=True, secret=True, minlength=16,
    ),
    "connect_timeout": _key("number", 2.0, "restart", "Seconds to wait for a connection", min=0.01),
    "publish_timeout": _key(
        "number", 5.0, "restart", "Seconds publish waits for the broker's confirm", min=0.01
    ),
    "reconnect_min": _key(
        "number", 0.1, "restart", "First wait (seconds) before reconnecting to a lost broker", min=0.01
    ),
    "reconnect_max": _key(
        "number", 5.0, "restart", "Longest wait between reconnect attempts; waits double up to it",
        min=0.01,
    ),
}

_TOPIC_SCHEMA: Schema = {
    "key": _key(
        "string", None, "never",
        "Field of the event data holding its key (dotted for a nested one): events of one key go"
        " to one consumer, in order",
        nullable=True, regex=r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*",
    ),
    "partitions": _key(
        "integer", None, "never", "Partitions of this topic; null takes event_bus.partitions",
        nullable=True, min=1, max=MAX_PARTITIONS,
    ),
}

EVENT_BUS_SCHEMA: Schema = {
    "backend": _key(
        "string", "memory", "never",
        "memory (one process), redis (Redis Streams) or rabbitmq (a RabbitMQ topic exchange)",
        allowed=[b.value for b in Backend],
    ),
    "queue_size": _key("integer", 1000, "restart", "Bound of each subscriber's queue", min=1),
    "overflow": _key(
        "string", "block", "restart", "Policy when a subscriber's queue is full",
        allowed=[o.value for o in Overflow],
    ),
    "max_retries": _key("integer", 3, "live", "Handler retries before dead-lettering", min=0),
    "retry_backoff": _key(
        "number", 0.1, "live", "First retry delay in seconds; doubles each retry", min=0
    ),
    "handler_timeout": _key(
        "number", 30.0, "live", "Seconds an async handler may run; counts as a failure", min=0.001
    ),
    "history_size": _key("integer", 1000, "restart", "Recent events kept for history()", min=0),
    "dead_letter_size": _key("integer", 1000, "restart", "Dead letters kept (memory)", min=1),
    "shutdown_timeout": _key(
        "number", 5.0, "live", "Seconds stop() waits for queued events to be delivered", min=0
    ),
    "check_json": _key(
        "boolean", False, "restart",
        "memory backend: refuse data that is not JSON-serializable (redis always does)",
    ),
    "partitions": _key(
        "integer", 8, "never",
        "Partitions of a keyed topic (unless event_bus.topics gives its own): a key's partition is"
        " the CRC-32 of its UTF-8 bytes modulo this; changing it moves keys",
        min=1, max=MAX_PARTITIONS,
    ),
    "topics": _key(
        "dict", {}, "never", "Settings of single topics: {topic: {key, partitions}}",
        keysrules={"type": "string", "regex": r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*"},
        valuesrules={"type": "dict", "schema": _TOPIC_SCHEMA},
    ),
    "redis": _key(
        "dict", {}, "restart", "Redis Streams backend settings", schema=_REDIS_SCHEMA
    ),
    "rabbitmq": _key(
        "dict", {}, "restart", "RabbitMQ backend settings", schema=_RABBITMQ_SCHEMA
    ),
}

_SECRETS = secret_paths(EVENT_BUS_SCHEMA, ("event_bus",))


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """The ``event_bus.redis`` sub-section; the signing key never shows in its repr."""

    url: str = "redis://127.0.0.1:6379/0"
    cluster: bool = False
    stream_prefix: str = "events"
    maxlen: int = 100_000
    claim_idle_ms: int = 30_000
    max_deliveries: int = 5
    replay_window: int = 3600
    block_ms: int = 1000
    consumer: str | None = None
    signing_key: str | None = field(default=None, repr=False)
    connect_timeout: float = 2.0
    refresh_ms: int = 1000
    lease_ms: int = 3000
    heartbeat_ms: int = 1000

    @property
    def address(self) -> str:
        """host:port of the URL, never its password."""
        return address(self.url, 6379)

    @property
    def consumer_name(self) -> str:
        """The configured consumer, or '<host>-<pid>' resolved now (after any fork)."""
        return self.consumer or f"{socket.gethostname()}-{os.getpid()}"


def address(url: str, default_port: int) -> str:
    """host:port of a URL, never its user or password."""
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or default_port}"


def safe_url(url: str) -> str:
    """The URL without user or password."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True, slots=True)
class RabbitSettings:
    """The ``event_bus.rabbitmq`` sub-section; neither the URL (it may carry a password) nor the
    key shows in its repr."""

    url: str = field(default="amqp://127.0.0.1:5672/", repr=False)
    exchange: str = "events"
    prefetch: int = 100
    max_deliveries: int = 5
    replay_window: int = 3600
    signing_key: str | None = field(default=None, repr=False)
    connect_timeout: float = 2.0
    publish_timeout: float = 5.0
    reconnect_min: float = 0.1
    reconnect_max: float = 5.0

    @property
    def address(self) -> str:
        """host:port of the URL, never its user or password."""
        return address(self.url, 5672)


@dataclass(frozen=True, slots=True)
class TopicSettings:
    """One entry of ``event_bus.topics``: the data field holding the key, the partitions."""

    key: str | None = None
    partitions: int | None = None


@dataclass(frozen=True, slots=True)
class BusSettings:
    """The normalized ``event_bus`` section as typed values."""

    backend: Backend = Backend.MEMORY
    queue_size: int = 1000
    overflow: Overflow = Overflow.BLOCK
    max_retries: int = 3
    retry_backoff: float = 0.1
    handler_timeout: float = 30.0
    history_size: int = 1000
    dead_letter_size: int = 1000
    shutdown_timeout: float = 5.0
    check_json: bool = False
    partitions: int = 8
    topics: Mapping[str, TopicSettings] = field(default_factory=dict)
    redis: RedisSettings = field(default_factory=RedisSettings)
    rabbitmq: RabbitSettings = field(default_factory=RabbitSettings)

    def __post_init__(self) -> None:
        # Accept the plain strings YAML gives ("redis", "drop_oldest") as well as the enums.
        object.__setattr__(self, "backend", Backend(self.backend))
        object.__setattr__(self, "overflow", Overflow(self.overflow))

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> BusSettings:
        """Validate and normalize an ``event_bus`` section; ValidationError lists the first problems
        and counts the rest."""
        document, problems = normalize(thaw(section or {}), EVENT_BUS_SCHEMA)  # Cerberus fills defaults in place
        if problems:
            shown = problems[:SHOWN_PROBLEMS]  # each described with its hint: only the ones listed
            lines = [_describe(p.path, p.text, p.value, p.has_value) for p in shown]
            raise ValidationError(lines, len(problems) - len(shown))
        redis = RedisSettings(**document.pop("redis"))
        if redis.heartbeat_ms * 3 > redis.lease_ms:
            raise ValidationError([
                f"event_bus.redis.heartbeat_ms: must be at most a third of lease_ms ({redis.lease_ms}),"
                " so that a live process renews its leases before they expire"
                f" (got {redis.heartbeat_ms})"
            ])
        rabbitmq = RabbitSettings(**document.pop("rabbitmq"))
        topics = {name: TopicSettings(**entry) for name, entry in document.pop("topics").items()}
        return cls(redis=redis, rabbitmq=rabbitmq, topics=topics, **document)

    def key_field(self, topic: str) -> str | None:
        """The data field holding the key of ``topic``'s events, if it declares one."""
        settings = self.topics.get(topic)
        return settings.key if settings is not None else None

    def partitions_of(self, topic: str) -> int:
        """How many partitions ``topic``'s keyed events are spread over."""
        settings = self.topics.get(topic)
        return settings.partitions if settings is not None and settings.partitions else self.partitions

    def with_changes(self, **changes: Any) -> BusSettings:
        """A copy with some top-level fields changed (``redis=`` and ``rabbitmq=`` take a dict of
        their keys too)."""
        for name in ("redis", "rabbitmq"):
            section = changes.pop(name, None)
            if isinstance(section, Mapping):
                changes[name] = replace(getattr(self, name), **section)
            elif section is not None:
                changes[name] = section
        return replace(self, **changes)


def live_keys() -> tuple[str, ...]:
    """Top-level keys a running bus takes without a restart (``reload: live``)."""
    return tuple(k for k, rules in EVENT_BUS_SCHEMA.items() if rules.get("reload") == "live")


def _describe(path: tuple[str, ...], message: str, value: Any, has_value: bool) -> str:
    full = ("event_bus", *path)
    shown = MASK if full in _SECRETS else repr(value)
    suffix = f" (got {shown})" if has_value else ""
    return f"{'.'.join(full)}: {message}{suffix}"

