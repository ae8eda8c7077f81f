"""Building the bus an ``event_bus`` config section names.

The one module that knows every backend, so the contract and the backends never import each
other: ``bus`` sits below the backends, this sits above them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from framework.events.bus import EventBus
from framework.events.errors import MissingSigningKeyError
from framework.events.memory import MemoryBus
from framework.events.settings import Backend, BusSettings

if TYPE_CHECKING:
    from framework.config.schema import Schema


def create_bus(
    settings: Mapping[str, Any] | BusSettings | None = None,
    *,
    schemas: Mapping[str, Schema] | None = None,
) -> EventBus:
    """Build the backend an ``event_bus`` section (raw or normalized) names; start it yourself.

    ``schemas`` maps event types to Cerberus payload schemas checked at publish.
    """
    if not isinstance(settings, BusSettings):
        settings = BusSettings.from_config(settings)
    if settings.backend is Backend.REDIS:
        if not settings.redis.signing_key:
            raise MissingSigningKeyError(
                "event_bus.redis.signing_key is required when event_bus.backend is 'redis': "
                "every event is signed with HMAC-SHA256; set a random string of 16+ characters "
                "(from the environment, not the YAML)"
            )
        from framework.events.redis.bus import RedisBus  # imported late: redis is only needed here

        return RedisBus(settings, schemas=schemas)
    if settings.backend is Backend.RABBITMQ:
        if not settings.rabbitmq.signing_key:
            raise MissingSigningKeyError(
                "event_bus.rabbitmq.signing_key is required when event_bus.backend is 'rabbitmq': "
                "every event is signed with HMAC-SHA256; set a random string of 16+ characters "
                "(from the environment, not the YAML)"
            )
        from framework.events.rabbitmq.bus import RabbitBus  # imported late: aio-pika is only needed here

        return RabbitBus(settings, schemas=schemas)
    return MemoryBus(settings, schemas=schemas)
