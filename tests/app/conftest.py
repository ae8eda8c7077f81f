"""Shipped-app fixtures: the real Redis and RabbitMQ (skipped when absent, a failure under CI=true)."""

from tests.events.conftest import exchange, prefix, rabbitmq_url, redis_url  # noqa: F401  (fixtures, shared)
from tests.servers import redis_server  # noqa: E402,F401  (a fixture: a redis-server of the test's own)
