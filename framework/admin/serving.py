"""Serving an ASGI app (FastAPI's) from a component: uvicorn in the app's own event loop.

The admin API serves itself this way, and so can a component of yours (the module registry's
API does): ``bind`` the socket first, so a taken port is a clear error naming the setting
before anything starts, then ``HttpServer.start`` and ``stop`` from the component's hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Generator
from typing import Any

import uvicorn


class PortInUseError(OSError):
    """Raised when the address to listen on is already taken by another process."""


class BindError(OSError):
    """Raised when a server cannot listen on its host and port for another reason."""


class HttpServer:
    """One ASGI app served on one bound socket until stopped; ``what`` names it in errors."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.url: str | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, asgi: Any, sock: socket.socket, host: str) -> str:
        """Serve ``asgi`` on ``sock`` (from ``bind``); its URL once it accepts requests."""
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            asgi, host=host, port=port, lifespan="off", log_config=None, access_log=False,
            log_level="warning", timeout_graceful_shutdown=1,
        )
        self.server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(self.server.serve(sockets=[sock]), name=self.what)
        while not self.server.started:  # readiness handshake: 'started' means it accepts requests
            if self._task.done():
                sock.close()
                error = self._task.exception() if not self._task.cancelled() else None
                raise BindError(f"{self.what} on {host}:{port} stopped during start-up: {error!r}")
            await asyncio.sleep(0.005)
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        """Stop accepting, let requests under way finish (briefly), then cut the rest."""
        if self.server is None or self._task is None:
            return
        self.server.should_exit = True
        done, _ = await asyncio.wait({self._task}, timeout=3.0)
        if not done:
            self.server.force_exit = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.server = self._task = None


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handlers: the app owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int, what: str = "admin API", keys: tuple[str, str] = ("http.host", "http.port")) -> socket.socket:
    """A listening socket on host:port; a clear error naming the settings (``keys``) when it
    cannot be had. Port 0 takes any free port: ``getsockname()`` tells which."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise BindError(f"{what}: {keys[0]} '{host}' does not resolve ({exc})") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise _bind_error(host, port, exc, what, keys) from exc
    return sock


def _bind_error(host: str, port: int, exc: OSError, what: str, keys: tuple[str, str]) -> OSError:
    if exc.errno == errno.EADDRINUSE:
        error: OSError = PortInUseError(
            f"{what} cannot listen on {host}:{port}: port {port} ({keys[1]}) is already in use"
            f" by another process; choose another with {keys[1]}, e.g. `integrate run {keys[1]}={port + 1}`"
        )
    else:
        error = BindError(f"{what} cannot listen on {host}:{port} ({', '.join(keys)}): {exc.strerror}")
    error.errno = exc.errno
    return error
