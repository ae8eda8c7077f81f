"""Event bus exceptions: flat, one per condition, each subclassing the nearest builtin.

Messages name the topic, event type, component or subscriber involved, the bad value and what
would be accepted. None of them ever contains the signing key.
"""

from __future__ import annotations

from framework.errors import ConfigError


class InvalidTopicError(ValueError):
    """Raised when a topic or subscription pattern breaks the topic naming rules."""


class EventSerializationError(TypeError):
    """Raised when an event's data cannot be serialized as JSON."""


class EventDecodeError(ValueError):
    """Raised when bytes or a mapping do not hold a valid serialized envelope."""


class PayloadValidationError(ValueError):
    """Raised when an event's data fails the payload schema registered for its type."""

    def __init__(self, event_type: str, problems: list[str], declared_by: str | None = None) -> None:
        self.event_type, self.problems, self.declared_by = event_type, problems, declared_by
        against = f" (against {declared_by})" if declared_by else ""
        super().__init__(f"event '{event_type}' payload is invalid{against}: " + "; ".join(problems))


class PayloadVersionError(ValueError):
    """Raised when an event's schema version cannot be brought to the one its subscriber requires."""


class TopicPermissionError(PermissionError):
    """Raised when a component publishes or subscribes outside the topics it declared."""


class DuplicateSubscriberError(ValueError):
    """Raised when one subscriber name subscribes twice to patterns that can match one topic."""


class RequestTimeoutError(TimeoutError):
    """Raised when no reply to a request arrives within its timeout."""


class HandlerTimeoutError(TimeoutError):
    """Raised (and dead-lettered) when a handler runs longer than its handler_timeout."""


class BusClosedError(RuntimeError):
    """Raised when publishing or subscribing on a bus that is not started or already stopped."""


class BusConnectionError(ConnectionError):
    """Raised when the bus backend (Redis, RabbitMQ) cannot be reached."""


class StreamError(RuntimeError):
    """Raised when the broker refuses a command (Redis: a key of another type, out of memory;
    RabbitMQ: a queue declared with other arguments, a refused publish, ...)."""


class LeaseLostError(RuntimeError):
    """Raised when a process acts on a partition whose lease it no longer holds (a stale token)."""


class PartitionSettingsError(ValueError):
    """Raised when a member joins a group whose live members use another partition count or lease."""


class DeadLetterNotFoundError(LookupError):
    """Raised when a dead letter id asked for replay is not (or no longer) stored."""


class ReplayError(ValueError):
    """Raised when a dead letter cannot be replayed: a foreign entry, or its subscriber is gone."""


class MissingSigningKeyError(ConfigError):
    """Raised when the Redis or RabbitMQ backend is configured without its ``signing_key``."""
