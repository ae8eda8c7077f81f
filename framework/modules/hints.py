"""Hearing of a registry's changes at once: its bus's installation streams on Redis, read with
XREAD (no consumer group is left behind by an app that goes away). An entry is only a hint to
ask the registry's API again, which is the authority: nothing in an entry is trusted or run.
While Redis is out of reach the app polls, as it always does; reconnects are logged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from loguru import logger

from framework.events.redis.client import redis_client
from framework.secrets import mask_url

TOPICS = (
    "installation.created",
    "installation.config_updated",
    "installation.removed",
    "installation.health_changed",
    "module.updated",
    "module.deleted",
)
BLOCK_MS = 1000
RETRY_S = 1.0

log = logger.bind(component="modules")


class RegistryHints:
    """Calls ``wake()`` for each registry event about ``company`` (or about any module)."""

    def __init__(self, url: str, prefix: str, company: str, wake: Callable[[], None], timeout: float) -> None:
        self.url, self.prefix, self.company, self.wake, self.timeout = url, prefix, company, wake, timeout
        self.connected = False

    async def run(self) -> None:
        """Until cancelled: listen, and after each loss wake the poller and try again."""
        lost = False
        while True:
            client = redis_client(self.url, cluster=False, connect_timeout=self.timeout, client_name="modules-hints")
            try:
                streams = {f"{self.prefix}:{topic}": "$" for topic in TOPICS}
                await client.ping()
                self.connected = True
                event = "modules.events_reconnected" if lost else "modules.events_connected"
                log.bind(event=event).info(f"hearing of registry changes from {mask_url(self.url)}")
                if lost:
                    self.wake()  # what happened meanwhile: ask the registry now
                await self._listen(client, streams)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # redis-py's connection errors, and a server that answers nonsense
                if self.connected or not lost:
                    log.bind(event="modules.events_lost").warning(
                        f"registry events from {mask_url(self.url)} out of reach ({type(exc).__name__}); polling"
                    )
                self.connected, lost = False, True
            finally:
                await client.aclose()
            await asyncio.sleep(RETRY_S)

    async def _listen(self, client: Any, streams: dict[str, str]) -> None:
        while True:
            replies = await client.xread(streams, block=BLOCK_MS, count=100)
            for stream, entries in replies or ():
                name = stream.decode() if isinstance(stream, bytes) else stream
                for entry_id, fields in entries:
                    streams[name] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    if self._concerns_us(fields):
                        self.wake()

    def _concerns_us(self, fields: dict[Any, Any]) -> bool:
        """Whether an entry names our company, or none (a module's); unreadable ones wake too."""
        for raw in fields.values():
            try:
                data = json.loads(raw)
            except (TypeError, ValueError):
                continue
            company = _find(data, "company_id")
            if company is not None:
                return str(company) == self.company
        return True


def _find(data: Any, key: str) -> Any:
    """The first value of ``key`` anywhere in nested mappings (an envelope holds the payload)."""
    if isinstance(data, dict):
        if key in data:
            return data[key]
        for value in data.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None
