"""The admin API as a component: uvicorn serving the admin FastAPI app in the app's event loop.

Reads are open (the API binds to 127.0.0.1 by default) to requests that name this server in
their Host (others get 421: no DNS rebinding); anything that changes the app needs
``Authorization: Bearer <http.token>``, and with no token configured those endpoints answer
403. Bodies over ``http.max_body`` bytes are refused with 413 before any handler runs.
Whatever shows configuration, events or components' words is masked: secrets never leave the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

import uvicorn

from framework.admin.api import create_admin_api
from framework.admin.types import AdminView

if TYPE_CHECKING:
    from loguru import Logger


class PortInUseError(OSError):
    """Raised when the admin API's address is already taken by another process."""


class BindError(OSError):
    """Raised when the admin API cannot listen on ``http.host``/``http.port`` for another reason."""


class AdminApi:
    """The admin API as a component: ``class: admin`` (entry point) in a component entry.

    Its settings are the ``http`` section: host, port, token (secret), max_body.
    """

    version = "1.0.0"
    publishes: tuple[str, ...] = ()
    subscribes: tuple[str, ...] = ()

    def __init__(self, app: AdminView, logger: Logger, name: str) -> None:
        self.app, self.log, self.name = app, logger, name
        self.server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.url: str | None = None

    async def start(self) -> None:
        settings = self.app.snapshot.section("http")
        host = settings["host"]
        sock = bind(host, settings["port"])
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_admin_api(self.app, serving=self.name),
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self.server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(
            self.server.serve(sockets=[sock]), name="admin-api"
        )
        while not self.server.started:  # readiness handshake: 'started' means it accepts requests
            if self._task.done():
                sock.close()
                error = self._task.exception() if not self._task.cancelled() else None
                raise BindError(f"admin API on {host}:{port} stopped during start-up: {error!r}")
            await asyncio.sleep(0.005)
        self.url = f"http://{host}:{port}"
        self.log.bind(event="admin.started", url=self.url, port=port).info(
            f"admin API on {self.url} (docs: /docs)"
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

    def health(self) -> Mapping[str, Any]:
        if self._task is None or self._task.done():
            return {"status": "unhealthy", "error": "the admin API server is not running"}
        return {"status": "healthy", "url": self.url}


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handlers: the app owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; a clear error naming ``http.port`` when it is taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise BindError(f"admin API: http.host '{host}' does not resolve ({exc})") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise _bind_error(host, port, exc) from exc
    return sock


def _bind_error(host: str, port: int, exc: OSError) -> OSError:
    if exc.errno == errno.EADDRINUSE:
        error: OSError = PortInUseError(
            f"admin API cannot listen on {host}:{port}: port {port} (http.port) is already in use"
            f" by another process; choose another with http.port, e.g. `integrate run http.port={port + 1}`"
        )
    else:
        error = BindError(f"admin API cannot listen on {host}:{port} (http.host, http.port): {exc.strerror}")
    error.errno = exc.errno
    return error
