"""The registry API as a component: uvicorn serving the registry's FastAPI app in the app's loop.

Its own address (``host``, ``port``: 0 picks a free port, logged with event ``registry.started``),
body limit and token settings (``auth.secret``, a secret key) are its config; all reload live
but the address.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

import uvicorn

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
        self.server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.url: str | None = None

    async def _publish(self, topic: str, data: dict[str, Any]) -> Any:
        return await self.bus.publish(topic, data)

    async def start(self) -> None:
        sock = bind(self.config["host"], self.config["port"])
        host, port = self.config["host"], sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.context),
            lifespan="off",
            log_config=None,
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self.server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(
            self.server.serve(sockets=[sock]), name="registry-api"
        )
        while not self.server.started:  # readiness: 'started' means it accepts requests
            if self._task.done():
                sock.close()
                error = self._task.exception() if not self._task.cancelled() else None
                raise RuntimeError(f"registry API on {host}:{port} stopped during start-up: {error!r}")
            await asyncio.sleep(0.005)
        self.url = f"http://{host}:{port}"
        self.log.bind(event="registry.started", url=self.url, port=port).info(
            f"module registry on {self.url}/api/v1"
        )

    async def stop(self) -> None:
        if self.server is None or self._task is None:
            return
        self.server.should_exit = True
        done, _ = await asyncio.wait({self._task}, timeout=3.0)
        if not done:
            self.server.force_exit = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.server = self._task = None

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None:
        self.config = config

    def health(self) -> Mapping[str, Any]:
        if self._task is None or self._task.done():
            return {"status": "unhealthy", "error": "the registry API server is not running"}
        return {"status": "healthy", "url": self.url}


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handlers: the app owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; an error naming the ``api`` config keys when it cannot."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise OSError(f"registry API: cannot use host {host!r} (components.api.config.host): {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(
            f"registry API cannot listen on {host}:{port} (components.api.config.host/port): {exc.strerror}"
        ) from exc
    return sock
