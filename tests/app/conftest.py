"""Shipped-app fixtures: the real Redis and RabbitMQ (skipped when absent, a failure under CI=true)."""

from tests.events.conftest import exchange, prefix, rabbitmq_url, redis_url  # noqa: F401  (fixtures, shared)
