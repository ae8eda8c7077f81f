"""The alert router: the framework's own subscription that turns routed events into alerts.

For each event a route's patterns match, at or above its ``min_severity``: with no window,
one alert now; with a window, the first event of a topic opens it and every event of that
topic until it closes is folded in, so a storm becomes one alert with a count. Alerts go to
the route's sinks in the background: the router's handler only counts and schedules, so a
slow or failing sink never holds the bus up.

The router subscribes once per distinct pattern (a pattern another one covers is left out;
on Redis one subscriber may not hold two overlapping patterns, so each has its own name). An
event two subscriptions receive is routed by the first of them only.

``reconfigure`` swaps the routes live (a reload's ``alerts`` callback): pending windows are
sent first, with the routing that collected them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loguru import logger

from framework.alerts.settings import LOG_SINK, AlertSettings, Route
from framework.alerts.sink import Alert, log_alert
from framework.callbacks import call_maybe_async
from framework.error_events import SEVERITIES
from framework.events.bus import EventBus
from framework.events.envelope import Envelope
from framework.events.records import Subscription
from framework.events.topics import covers, matches
from framework.secrets import SecretMasker

if TYPE_CHECKING:
    import httpx

    from framework.alerts.webhook import WebhookSink

SUBSCRIBER = "framework.alerts"
MAX_PENDING = 1000  # sends under way at once; past it an alert is logged and dropped
SINK_TIMEOUT = 30.0  # seconds a component's send_alert may take
_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass
class _Window:
    """Events of one route and topic folded into one alert."""

    route: Route
    topic: str
    first: float
    last: float = 0.0
    count: int = 0
    severity: str = "info"
    components: set[str] = field(default_factory=set)
    event: Any = None
    timer: asyncio.TimerHandle | None = None

    def add(self, data: Any, severity: str, now: float) -> None:
        self.count, self.last, self.event = self.count + 1, now, data
        self.severity = max(self.severity, severity, key=lambda s: _RANK.get(s, 0))
        component = data.get("component") if isinstance(data, Mapping) else None
        if component is not None:
            self.components.add(str(component))

    def alert(self) -> dict[str, Any]:
        return {
            "route": self.route.name,
            "topic": self.topic,
            "severity": self.severity,
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "components": sorted(self.components),
            "event": self.event,
        }


class AlertRouter:
    """Routes events to sinks as the ``alerts`` section says.

    ``component(name)``: the running instance of a component sink, or None. ``masker``: what
    every alert is scrubbed with before it leaves (the process's masker).
    """

    def __init__(self, bus: EventBus, component: Callable[[str], Any], masker: SecretMasker) -> None:
        self._bus, self._component, self._masker = bus, component, masker
        self._settings = AlertSettings()
        self._patterns: list[str] = []
        self._subscriptions: list[Subscription] = []
        self._windows: dict[tuple[str, str], _Window] = {}
        self._webhooks: dict[str, WebhookSink] = {}
        self._client: httpx.AsyncClient | None = None
        self._sending: set[asyncio.Task[Any]] = set()
        self.sent = 0  # alerts handed to sinks since start
        self.log = logger.bind(component="alerts")

    async def reconfigure(self, section: Mapping[str, Any], keys: frozenset[str] = frozenset()) -> None:
        """Route as ``section`` (a normalized ``alerts`` section) says, from now on."""
        settings = AlertSettings.from_section(section)
        self._flush()
        self._settings = settings
        self._set_webhooks(settings)
        patterns = _patterns(settings.routes)
        if patterns != self._patterns:
            await self._subscribe(patterns)

    async def _subscribe(self, patterns: list[str]) -> None:
        for subscription in self._subscriptions:
            subscription.cancel()
        self._subscriptions, self._patterns = [], patterns
        for index, pattern in enumerate(patterns):
            name = SUBSCRIBER if index == 0 else f"{SUBSCRIBER}.{index + 1}"
            self._subscriptions.append(await self._bus.subscribe(pattern, self._handler(pattern), subscriber=name))

    def _set_webhooks(self, settings: AlertSettings) -> None:
        if not settings.webhooks:
            self._webhooks = {}
            return
        import httpx  # only an app that has webhooks pays for the import

        from framework.alerts.webhook import WebhookSink

        client = self._client = self._client or httpx.AsyncClient()
        self._webhooks = {name: WebhookSink(hook, client) for name, hook in settings.webhooks.items()}

    def _handler(self, pattern: str) -> Callable[[Envelope], None]:
        def handle(envelope: Envelope) -> None:
            first = next((p for p in self._patterns if matches(p, envelope.type)), None)
            if first == pattern:  # else another subscription of the router has it too
                self.route(envelope.type, envelope.data)

        return handle

    def route(self, topic: str, data: Any) -> None:
        """Fold one event into the alerts of every route that takes it."""
        severity = data.get("severity") if isinstance(data, Mapping) else None
        severity = severity if severity in _RANK else "info"
        now = time.time()
        for route in self._settings.routes:
            if _RANK[severity] < _RANK[route.min_severity] or not any(matches(p, topic) for p in route.topics):
                continue
            window = self._windows.get((route.name, topic))
            if window is None:
                window = _Window(route, topic, now)
                if route.window > 0:
                    self._windows[(route.name, topic)] = window
                    loop = asyncio.get_running_loop()
                    window.timer = loop.call_later(route.window, self._close, (route.name, topic))
            window.add(data, severity, now)
            if route.window <= 0:
                self._send(route, window.alert())

    def _close(self, key: tuple[str, str]) -> None:
        window = self._windows.pop(key, None)
        if window is not None:
            self._send(window.route, window.alert())

    def _flush(self) -> None:
        """Send every open window now (the routing changes, or the app stops)."""
        for key, window in list(self._windows.items()):
            if window.timer is not None:
                window.timer.cancel()
            self._close(key)

    def _send(self, route: Route, alert: dict[str, Any]) -> None:
        scrubbed: Alert = self._masker.scrub(alert)
        self.sent += 1
        for sink in route.sinks:
            if sink == LOG_SINK:
                log_alert(scrubbed)
            elif len(self._sending) >= MAX_PENDING:
                self.log.bind(event="alert.dropped", sink=sink).warning(
                    f"alert '{route.name}' for {alert['topic']} not sent to '{sink}': {MAX_PENDING} sends under way"
                )
            else:
                task = asyncio.get_running_loop().create_task(self._deliver(sink, scrubbed))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _deliver(self, sink: str, alert: Alert) -> None:
        hook = self._webhooks.get(sink)
        if hook is not None:
            await hook.send(alert)
            return
        instance = self._component(sink)
        if instance is None:
            self.log.bind(event="alert.sink_missing", sink=sink).warning(
                f"alert for {alert['topic']} not sent: component '{sink}' is not running"
            )
            return
        try:
            await call_maybe_async(instance.send_alert, alert, timeout=SINK_TIMEOUT)
        except Exception as exc:  # a sink's failure is its own: logged, never raised into the bus
            self.log.bind(event="alert.sink_failed", sink=sink).warning(
                self._masker(f"component '{sink}' send_alert raised {type(exc).__name__}: {exc}")
            )

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is pending, wait up to ``timeout`` s for the sends, then let go of the bus."""
        self._flush()
        if self._sending:
            _, late = await asyncio.wait(set(self._sending), timeout=timeout)
            for task in late:
                task.cancel()
        for subscription in self._subscriptions:
            subscription.cancel()
        self._subscriptions, self._patterns = [], []
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _patterns(routes: tuple[Route, ...]) -> list[str]:
    """The distinct patterns of every route, without those another one covers (in order)."""
    every = list(dict.fromkeys(p for route in routes for p in route.topics))
    return [p for p in every if not any(q != p and covers(q, p) for q in every)]
