"""Shipped-app fixtures: the real Redis (skipped when absent, a failure under CI=true)."""

from tests.events.conftest import prefix, redis_url  # noqa: F401  (fixtures, shared)
