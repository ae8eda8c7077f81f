"""An installing app hears of its company's changes from the registry's events on Redis, and
polls while they are out of reach; losing and regaining them is logged."""

from __future__ import annotations

from pathlib import Path

from tests.events.conftest import prefix, redis_url  # noqa: F401  (fixtures)
from tests.modules.conftest import approved, install, installing_app
from tests.registry.servers import running_registry
from tests.servers import RedisServer, redis_server  # noqa: F401  (a fixture)


def test_an_event_brings_the_installation_before_any_poll(
    tmp_path: Path, redis_url: str, prefix: str, echo_wheel: tuple[str, bytes]  # noqa: F811
) -> None:
    with running_registry(
        tmp_path / "registry", "sqlite", "event_bus=redis", f"event_bus.redis.url={redis_url}",
        f"event_bus.redis.stream_prefix={prefix}",
    ) as registry:
        acme, admin = installing_app(
            tmp_path, registry, "acme", "modules.poll=120", f"modules.events_url={redis_url}",
            f"modules.events_prefix={prefix}",
        )
        with acme, admin:
            acme.wait_for("modules.events_connected", timeout=20)
            install(registry, approved(registry, echo_wheel), "acme", {"greeting": "heard"})
            assert acme.wait_for("echo.started", timeout=20)["greeting"] == "heard"  # a poll is 120 s away


def test_without_the_events_it_polls_and_logs_the_reconnect(
    tmp_path: Path, redis_server: RedisServer, echo_wheel: tuple[str, bytes]  # noqa: F811
) -> None:
    with running_registry(
        tmp_path / "registry", "sqlite", "event_bus=redis", f"event_bus.redis.url={redis_server.url}"
    ) as registry:
        module_id = approved(registry, echo_wheel)
        acme, admin = installing_app(
            tmp_path, registry, "acme", "modules.poll=0.5", f"modules.events_url={redis_server.url}",
        )
        with acme, admin:
            acme.wait_for("modules.events_connected", timeout=20)
            redis_server.kill()
            acme.wait_for("modules.events_lost", timeout=20)
            install(registry, module_id, "acme", {"greeting": "polled"})
            assert acme.wait_for("echo.started", timeout=20)["greeting"] == "polled"
            redis_server.start()
            acme.wait_for("modules.events_reconnected", timeout=20)
