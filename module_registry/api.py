"""The registry API as a component: uvicorn serving the registry's FastAPI app in the app's loop.

Its own address (``host``, ``port``: 0 picks a free port, logged with event ``registry.started``),
body limit and token settings (``auth.secret``, a secret key) are its config; all reload live
but the address.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from framework import HttpServer, bind
from module_registry.context import Context
from module_registry.database import Database
from module_registry.events import TOPICS
from module_registry.packages import PackageStore
from module_registry.web import create_app

if TYPE_CHECKING:
    from loguru import Logger


class RegistryApi:
    """``/api/v1`` of the module registry, with its OpenAPI at ``/openapi.json`` and ``/docs``."""

    version = "1.0.0"
    publishes = TOPICS
    config_schema = {
        "host": {"type": "string", "empty": False, "default": "127.0.0.1", "reload": "restart"},
        "port": {"type": "integer", "min": 0, "max": 65535, "default": 8700, "reload": "restart"},
        "max_body": {"type": "integer", "min": 1024, "default": 1024 * 1024, "reload": "live"},
        "auth": {
            "type": "dict",
            "default": {},
            "schema": {
                "secret": {
                    "type": "string",
                    "minlength": 32,
                    "required": True,
                    "secret": True,
                    "description": "the JWT signing key (REGISTRY_JWT_SECRET, 32+ characters)",
                },
                "algorithm": {"type": "string", "allowed": ["HS256", "HS384", "HS512"], "default": "HS256"},
            },
        },
    }

    def __init__(
        self, config: Mapping[str, Any], logger: Logger, bus: Any, database: Database, packages: PackageStore
    ) -> None:
        self.config, self.log, self.bus = config, logger, bus
        self.context = Context(database, packages, self._publish, lambda: self.config, logger)
        self.http = HttpServer("registry API")

    @property
    def url(self) -> str | None:
        return self.http.url

    async def _publish(self, topic: str, data: dict[str, Any]) -> Any:
        return await self.bus.publish(topic, data)

    async def start(self) -> None:
        host = self.config["host"]
        keys = ("components.api.config.host", "components.api.config.port")
        sock = bind(host, self.config["port"], "registry API", keys)
        url = await self.http.start(create_app(self.context), sock, host)
        port = sock.getsockname()[1]
        self.log.bind(event="registry.started", url=url, port=port).info(f"module registry on {url}/api/v1")

    async def stop(self) -> None:
        await self.http.stop()

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None:
        self.config = config

    def health(self) -> Mapping[str, Any]:
        if not self.http.running:
            return {"status": "unhealthy", "error": "the registry API server is not running"}
        return {"status": "healthy", "url": self.url}
