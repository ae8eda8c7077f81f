"""A webhook sink: each alert POSTed as JSON, retried with exponential backoff, bounded in time.

A POST fails on a transport error, a timeout or a non-2xx answer; it is tried again
``retries`` times, waiting ``backoff`` seconds and twice as long each time after. An alert
still not delivered is logged and dropped: a webhook that keeps failing costs its own task,
never the bus's delivery. The URL is a secret: nothing here logs it, and each message is
masked with it (in every form httpx may print it) before it is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
from loguru import logger
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from framework.alerts.settings import Webhook
from framework.alerts.sink import Alert
from framework.secrets import SecretMasker, masker

_MAX_WAIT = 60.0  # seconds: the longest wait between two POSTs, however many retries
CONCURRENT_POSTS = 4  # per webhook: a storm without a window must not open hundreds of connections
# httpx logs each request with its URL at INFO: the URL is a secret, and a failure is logged here.
logging.getLogger("httpx").setLevel(logging.WARNING)


class WebhookSink:
    """POSTs alerts to one webhook through the router's shared HTTP client."""

    def __init__(self, hook: Webhook, client: httpx.AsyncClient) -> None:
        self.hook, self._client = hook, client
        self._mask = SecretMasker([hook.url, str(httpx.URL(hook.url))])
        self._slots = asyncio.Semaphore(CONCURRENT_POSTS)
        self.log = logger.bind(component="alerts", event="alert.webhook_failed", webhook=hook.name)

    async def send(self, alert: Alert) -> None:
        """POST ``alert``; log (masked) and return if it cannot be delivered. Never raises."""
        body = json.dumps(alert, default=str).encode()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.hook.retries + 1),
            wait=wait_exponential(multiplier=self.hook.backoff, max=_MAX_WAIT),
            retry=retry_if_exception_type(httpx.HTTPError),
            reraise=True,
        )
        try:
            async with self._slots:
                async for attempt in retrying:
                    with attempt:
                        await self._post(body)
        except httpx.HTTPError as exc:
            tries = retrying.statistics.get("attempt_number", self.hook.retries + 1)
            self.log.warning(
                f"webhook '{self.hook.name}': alert '{alert.get('topic')}' not delivered after {tries}"
                f" attempt(s): {self._describe(exc)}"
            )

    async def _post(self, body: bytes) -> None:
        response = await self._client.post(
            self.hook.url, content=body, headers={"content-type": "application/json"}, timeout=self.hook.timeout
        )
        response.raise_for_status()

    def _describe(self, exc: httpx.HTTPError) -> str:
        if isinstance(exc, httpx.HTTPStatusError):  # its text quotes the URL: say only what it answered
            return f"answered HTTP {exc.response.status_code}"
        text = str(exc)  # httpx's timeouts have none
        return masker(self._mask(f"{type(exc).__name__}: {text}" if text else type(exc).__name__))
