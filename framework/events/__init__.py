"""The event bus: envelope, topic matching, in-memory and Redis Streams backends.

Build one from the ``event_bus`` config section with ``create_bus(section)``, then
``async with bus: ...``; components get ``bus.scoped(name, publishes=..., subscribes=...)``.
The Redis backend (``framework.events.redis.RedisBus``) is imported only when configured.
"""

from framework.events.bus import (
    BusStatistics,
    DeadLetter,
    DeadLetterReason,
    EventBus,
    Filter,
    Handler,
    ScopedBus,
    Subscription,
    SubscriptionInfo,
    create_bus,
)
from framework.events.envelope import Envelope
from framework.events.errors import (
    BusClosedError,
    BusConnectionError,
    DeadLetterNotFoundError,
    DuplicateSubscriberError,
    EventDecodeError,
    EventSerializationError,
    HandlerTimeoutError,
    InvalidTopicError,
    MissingSigningKeyError,
    PayloadValidationError,
    ReplayError,
    RequestTimeoutError,
    StreamError,
    TopicPermissionError,
)
from framework.events.memory import MemoryBus
from framework.events.settings import EVENT_BUS_SCHEMA, Backend, BusSettings, Overflow, RedisSettings

__all__ = [
    "EVENT_BUS_SCHEMA",
    "Backend",
    "BusClosedError",
    "BusConnectionError",
    "BusSettings",
    "BusStatistics",
    "DeadLetter",
    "DeadLetterNotFoundError",
    "DeadLetterReason",
    "DuplicateSubscriberError",
    "Envelope",
    "EventBus",
    "EventDecodeError",
    "EventSerializationError",
    "Filter",
    "Handler",
    "HandlerTimeoutError",
    "InvalidTopicError",
    "MemoryBus",
    "MissingSigningKeyError",
    "Overflow",
    "PayloadValidationError",
    "RedisSettings",
    "ReplayError",
    "RequestTimeoutError",
    "ScopedBus",
    "StreamError",
    "Subscription",
    "SubscriptionInfo",
    "TopicPermissionError",
    "create_bus",
]
