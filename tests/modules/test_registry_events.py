"""An installing app hears of its company's changes from the registry's events on Redis, and
polls while they are out of reach; losing and regaining them is logged."""

from __future__ import annotations

from pathlib import Path

from tests.events.conftest import prefix, redis_url  # noqa: F401  (fixtures)
from tests.modules.conftest import installing_app, start_registry
from tests.servers import RedisServer, redis_server  # noqa: F401  (a fixture)

BUS_KEY = {"REGISTRY_BUS_KEY": "registry-bus-signing-key-0123"}


def test_an_event_brings_the_installation_before_any_poll(
    tmp_path: Path, redis_url: str, prefix: str, echo_wheel: bytes  # noqa: F811
) -> None:
    registry = start_registry(
        tmp_path / "registry", "event_bus=redis", f"event_bus.redis.url={redis_url}",
        f"event_bus.redis.stream_prefix={prefix}", env=BUS_KEY,
    )
    with registry.process, registry.http:
        acme, admin = installing_app(
            tmp_path, registry, "acme", "modules.poll=120", f"modules.events_url={redis_url}",
            f"modules.events_prefix={prefix}",
        )
        with acme, admin:
            acme.wait_for("modules.events_connected", timeout=20)
            registry.install(registry.publish(echo_wheel), "acme", {"greeting": "heard"})
            assert acme.wait_for("echo.started", timeout=20)["greeting"] == "heard"  # a poll is 120 s away


def test_without_the_events_it_polls_and_logs_the_reconnect(
    tmp_path: Path, redis_server: RedisServer, echo_wheel: bytes  # noqa: F811
) -> None:
    registry = start_registry(
        tmp_path / "registry", "event_bus=redis", f"event_bus.redis.url={redis_server.url}", env=BUS_KEY,
    )
    with registry.process, registry.http:
        module_id = registry.publish(echo_wheel)
        acme, admin = installing_app(
            tmp_path, registry, "acme", "modules.poll=0.5", f"modules.events_url={redis_server.url}",
        )
        with acme, admin:
            acme.wait_for("modules.events_connected", timeout=20)
            redis_server.kill()
            acme.wait_for("modules.events_lost", timeout=20)
            registry.install(module_id, "acme", {"greeting": "polled"})
            assert acme.wait_for("echo.started", timeout=20)["greeting"] == "polled"
            redis_server.start()
            acme.wait_for("modules.events_reconnected", timeout=20)
