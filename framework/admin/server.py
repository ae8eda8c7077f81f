"""The admin API as a component: uvicorn serving the admin FastAPI app in the app's event loop.

Reads are open (the API binds to 127.0.0.1 by default) to requests that name this server in
their Host (others get 421: no DNS rebinding); anything that changes the app needs
``Authorization: Bearer <http.token>``, and with no token configured those endpoints answer
403. Bodies over ``http.max_body`` bytes are refused with 413 before any handler runs.
Whatever shows configuration, events or components' words is masked: secrets never leave the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from framework.admin.api import create_admin_api
from framework.admin.serving import HttpServer, bind
from framework.admin.types import AdminView

if TYPE_CHECKING:
    from loguru import Logger


class AdminApi:
    """The admin API as a component: ``class: admin`` (entry point) in a component entry.

    Its settings are the ``http`` section: host, port, token (secret), max_body.
    """

    version = "1.0.0"
    publishes: tuple[str, ...] = ()
    subscribes: tuple[str, ...] = ()

    def __init__(self, app: AdminView, logger: Logger, name: str) -> None:
        self.app, self.log, self.name = app, logger, name
        self.http = HttpServer("admin API")

    @property
    def url(self) -> str | None:
        return self.http.url

    async def start(self) -> None:
        settings = self.app.snapshot.section("http")
        host = settings["host"]
        sock = bind(host, settings["port"])
        url = await self.http.start(create_admin_api(self.app, serving=self.name), sock, host)
        port = sock.getsockname()[1]
        self.log.bind(event="admin.started", url=url, port=port).info(f"admin API on {url} (docs: /docs)")

    async def stop(self) -> None:
        await self.http.stop()

    def health(self) -> Mapping[str, Any]:
        if not self.http.running:
            return {"status": "unhealthy", "error": "the admin API server is not running"}
        return {"status": "healthy", "url": self.url}
