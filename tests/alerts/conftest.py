"""The Redis fixtures of the bus tests (a reachable server, a key prefix per test), for the alert
tests that run an app on Redis."""

from tests.events.conftest import prefix, redis_url

__all__ = ["prefix", "redis_url"]
