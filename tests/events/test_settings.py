"""The event_bus config section: schema, defaults, reload policies and secrets."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from framework.config.schema import Reload, Validator, reload_policies, secret_paths, walk_rules
from framework.errors import ConfigError, ValidationError
from framework.events.errors import MissingSigningKeyError
from framework.events.factory import create_bus
from framework.events.memory import MemoryBus
from framework.events.redis.bus import RedisBus
from framework.events.settings import (
    EVENT_BUS_SCHEMA,
    Backend,
    BusSettings,
    Overflow,
    RedisSettings,
    live_keys,
)

KEY = "a-very-secret-signing-key-4242"


def test_schema_is_valid_and_every_key_has_a_default_and_reload_policy() -> None:
    """Every key, nested ones included, has a default and a reload policy the Validator accepts."""
    Validator(EVENT_BUS_SCHEMA)
    for path, rules in walk_rules(EVENT_BUS_SCHEMA):
        assert "default" in rules, path
        assert rules["reload"] in {"live", "restart", "never"}, path
    assert EVENT_BUS_SCHEMA["redis"]["default"] == {}
    policies = reload_policies(EVENT_BUS_SCHEMA, (), Reload.RESTART)
    assert policies[("max_retries",)] is Reload.LIVE and policies[("backend",)] is Reload.NEVER


def test_typed_view_agrees_with_the_schema() -> None:
    """BusSettings and RedisSettings have one field per schema key."""
    assert {f.name for f in dataclasses.fields(BusSettings)} == set(EVENT_BUS_SCHEMA)
    assert {f.name for f in dataclasses.fields(RedisSettings)} == set(
        EVENT_BUS_SCHEMA["redis"]["schema"]
    )
    assert set(live_keys()) == {"max_retries", "retry_backoff", "handler_timeout", "shutdown_timeout"}


def test_empty_section_normalizes_to_the_defaults() -> None:
    """An absent section gives the memory backend and the documented defaults, nested ones too."""
    settings = BusSettings.from_config({})
    assert settings == BusSettings()
    assert settings.backend is Backend.MEMORY and settings.overflow is Overflow.BLOCK
    assert settings.redis.url == "redis://127.0.0.1:6379/0" and settings.redis.maxlen == 100_000


def test_signing_key_is_marked_secret() -> None:
    """The schema marks the signing keys secret so config tools mask them (a URL's password is masked as in every URL)."""
    assert secret_paths(EVENT_BUS_SCHEMA) == {("redis", "signing_key"), ("rabbitmq", "signing_key")}


def test_invalid_values_are_all_reported_with_the_key_and_what_is_accepted() -> None:
    """Every bad value is reported, naming the key, the value and the accepted ones."""
    with pytest.raises(ValidationError) as caught:
        BusSettings.from_config(
            {"backend": "kafka", "queue_size": 0, "overflow": "spill", "redis": {"maxlen": "x"}}
        )
    text = str(caught.value)
    assert "event_bus.backend: must be one of memory, redis, rabbitmq (got 'kafka')" in text
    assert "event_bus.queue_size: must be >= 1 (got 0)" in text
    assert "event_bus.overflow: must be one of block, drop_oldest, dead_letter" in text
    assert "event_bus.redis.maxlen" in text


def test_redis_backend_requires_a_signing_key() -> None:
    """create_bus refuses the redis backend without a signing key, saying how to fix it."""
    with pytest.raises(MissingSigningKeyError, match="event_bus.redis.signing_key is required"):
        create_bus({"backend": "redis"})
    assert issubclass(MissingSigningKeyError, ConfigError)


def test_create_bus_builds_the_configured_backend() -> None:
    """create_bus returns a MemoryBus or a RedisBus from a raw or normalized section."""
    assert isinstance(create_bus({}), MemoryBus)
    assert isinstance(create_bus(BusSettings()), MemoryBus)
    bus = create_bus({"backend": "redis", "redis": {"signing_key": KEY, "stream_prefix": "x"}})
    assert isinstance(bus, RedisBus)


def _texts(**section: Any) -> list[str]:
    texts = []
    settings = BusSettings.from_config(section)
    texts += [repr(settings), str(settings), repr(settings.redis)]
    texts.append(repr(create_bus(settings)))
    try:
        BusSettings.from_config({**section, "queue_size": -1, "redis": {"signing_key": "short"}})
    except ValidationError as exc:
        texts.append(str(exc))
    return texts


def test_signing_key_never_shows_in_reprs_or_errors() -> None:
    """Neither settings, the bus, nor a validation error ever shows the signing key."""
    texts = _texts(backend="redis", redis={"signing_key": KEY, "url": "redis://:pw@host:1/0"})
    assert texts and all(KEY not in text and "short" not in text for text in texts)
    assert all("pw" not in text for text in texts[3:4])  # the bus repr drops URL credentials
