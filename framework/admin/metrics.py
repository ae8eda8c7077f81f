"""Metrics: the app's figures in Prometheus text format, from a registry of its own.

The framework's own figures are not counted here: at each scrape a collector reads the
statistics the bus (per subscriber too), the health monitor, the resilience service and the
lifecycle already keep. Partition ownership and lag live in Redis, so a scrape asks the bus for
them first (``render`` is async) and the collector reports that answer. Components' own metrics
(the ``metrics`` service) live longer, in the App's registry of them, which each scrape reads
beside. Both belong to one App (never prometheus-client's global registry), so two apps in one
process, or a test's, never mix their figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from itertools import accumulate

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from framework.admin.types import AdminView
from framework.events.errors import BusClosedError, BusConnectionError
from framework.events.records import HANDLER_SECONDS_BUCKETS, PartitionStatus, SubscriberStatistics
from framework.resilience import BreakerState

PREFIX = "framework"


class Metrics:
    """One app's Prometheus registry; ``render()`` is the ``/metrics`` body."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, app: AdminView) -> None:
        self.app = app

    async def render(self) -> bytes:
        # A registry per scrape for what is read now: each carries its own partition answer, so
        # scrapes never mix. The components' metrics outlive scrapes: their registry is read as
        # one more collector (it never describes itself, so nothing is checked twice).
        registry = CollectorRegistry(auto_describe=False)
        registry.register(AppCollector(self.app, await self._partitions()))
        registry.register(self.app.metrics.registry)
        return generate_latest(registry)

    async def _partitions(self) -> list[PartitionStatus]:
        try:
            return await self.app.bus.partitions()
        except (BusClosedError, BusConnectionError):  # Redis away, or stopping: the rest still counts
            return []


class AppCollector(Collector):
    """Reads the app's own statistics at scrape time."""

    def __init__(self, app: AdminView, partitions: list[PartitionStatus]) -> None:
        self.app, self.partitions = app, partitions

    def collect(self) -> Iterator[Metric]:
        yield from self._bus()
        yield from self._partitions()
        yield from self._health()
        yield from self._breakers()
        yield from self._reloads()
        app = self.app
        uptime = GaugeMetricFamily(f"{PREFIX}_uptime_seconds", "Seconds since the app started")
        started = app.started_at
        uptime.add_metric([], time.time() - started if started else 0.0)
        yield uptime
        version = GaugeMetricFamily(f"{PREFIX}_config_version", "Version of the running config snapshot")
        version.add_metric([], float(app.snapshot.version))
        yield version

    def _bus(self) -> Iterator[Metric]:
        stats = self.app.bus.statistics()
        counters = {
            "events_published": ("Events published on the bus", stats.published),
            "events_delivered": ("Events a handler took", stats.delivered),
            "event_handler_errors": ("Failed handler attempts, timeouts included", stats.failed),
            "events_dead_lettered": ("Events set aside as dead letters", stats.dead_lettered),
            "events_dropped": ("Events dropped (overflow, cancelled, stopped)", stats.dropped),
        }
        for name, (help_text, value) in counters.items():
            yield CounterMetricFamily(f"{PREFIX}_{name}", help_text, value=value)
        depth = GaugeMetricFamily(
            f"{PREFIX}_event_queue_depth", "Events queued per subscriber", labels=["subscriber"]
        )
        for subscriber, size in sorted(stats.queue_depths.items()):
            depth.add_metric([subscriber], size)
        yield depth
        yield from _subscribers(stats.subscribers)

    def _partitions(self) -> Iterator[Metric]:
        labels = ["subscriber", "topic"]
        owned = GaugeMetricFamily(
            f"{PREFIX}_partitions_owned", "Partitions of a keyed topic this process owns", labels=labels
        )
        lag = GaugeMetricFamily(
            f"{PREFIX}_partition_lag",
            "Entries of an owned partition not yet acknowledged (pending and unread)",
            labels=[*labels, "partition"],
        )
        rebalances = CounterMetricFamily(
            f"{PREFIX}_partition_rebalances",
            "Rebalances that moved partitions to or from this process",
            labels=labels,
        )
        for status in self.partitions:
            names = [status.subscriber, status.topic]
            owned.add_metric(names, len(status.owned))
            rebalances.add_metric(names, status.rebalances)
            for partition, entries in sorted(status.lag.items()):
                lag.add_metric([*names, str(partition)], entries)
        yield owned
        yield lag
        yield rebalances

    def _health(self) -> Iterator[Metric]:
        monitor = self.app.health
        app_status = GaugeMetricFamily(
            f"{PREFIX}_health_status", "App health: 0 healthy, 1 degraded, 2 unhealthy"
        )
        app_status.add_metric([], monitor.status.severity)
        yield app_status
        ready = GaugeMetricFamily(f"{PREFIX}_ready", "1 when the readiness probe passes")
        ready.add_metric([], 1.0 if monitor.readiness().ok else 0.0)
        yield ready
        component = GaugeMetricFamily(
            f"{PREFIX}_component_health_status",
            "Component health: 0 healthy, 1 degraded, 2 unhealthy",
            labels=["component"],
        )
        restarts = CounterMetricFamily(
            f"{PREFIX}_component_restarts", "Restarts by the health monitor since start", labels=["component"]
        )
        streak = GaugeMetricFamily(
            f"{PREFIX}_component_restart_streak",
            "Restarts since the component was last stable for health.stable_after (max_restarts counts these)",
            labels=["component"],
        )
        for name, record in sorted(monitor.records.items()):
            component.add_metric([name], record.status.severity)
            restarts.add_metric([name], record.restarts_total)
            streak.add_metric([name], record.restarts)
        yield component
        yield restarts
        yield streak
        state = GaugeMetricFamily(
            f"{PREFIX}_component_state",
            "1 for each component's lifecycle state",
            labels=["component", "state"],
        )
        for name, value in sorted(self.app.lifecycle.states.items()):
            state.add_metric([name, value.value], 1.0)
        yield state

    def _breakers(self) -> Iterator[Metric]:
        resilience = self.app.resilience
        stats = resilience.statistics()
        state = GaugeMetricFamily(
            f"{PREFIX}_breaker_state", "1 for each breaker's current state", labels=["breaker", "state"]
        )
        rejected = CounterMetricFamily(
            f"{PREFIX}_breaker_rejected", "Calls refused by an open breaker", labels=["breaker"]
        )
        opened = CounterMetricFamily(f"{PREFIX}_breaker_opened", "Times a breaker opened", labels=["breaker"])
        for name, breaker in sorted(stats.breakers.items()):
            for candidate in BreakerState:
                state.add_metric([name, candidate.value], 1.0 if breaker.state is candidate else 0.0)
            rejected.add_metric([name], breaker.rejected)
            opened.add_metric([name], breaker.opened)
        yield state
        yield rejected
        yield opened
        yield CounterMetricFamily(
            f"{PREFIX}_retries", "Retries made by resilience.retry", value=stats.retries
        )
        yield CounterMetricFamily(f"{PREFIX}_fallbacks", "Fallback values used", value=stats.fallbacks)

    def _reloads(self) -> Iterator[Metric]:
        reloads = CounterMetricFamily(
            f"{PREFIX}_config_reloads", "Config reloads by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(self.app.reload_totals().items()):  # counted as they happen
            reloads.add_metric([outcome], count)
        yield reloads


def _subscribers(subscribers: Mapping[str, SubscriberStatistics]) -> Iterator[Metric]:
    """The bus's counters per subscriber (a component's subscriptions are named after it)."""
    labels = ["subscriber"]
    counters: dict[str, tuple[str, Callable[[SubscriberStatistics], int]]] = {
        "events_delivered": ("Events the subscriber's handler took", lambda s: s.delivered),
        "handler_errors": ("Failed handler attempts of the subscriber, timeouts included", lambda s: s.failed),
        "events_dead_lettered": ("Events set aside as dead letters for the subscriber", lambda s: s.dead_lettered),
        "events_dropped": ("Events of the subscriber dropped (overflow, cancelled, stopped)", lambda s: s.dropped),
    }
    for name, (help_text, value) in counters.items():
        family = CounterMetricFamily(f"{PREFIX}_subscriber_{name}", help_text, labels=labels)
        for subscriber, stats in subscribers.items():
            family.add_metric([subscriber], value(stats))
        yield family
    seconds = HistogramMetricFamily(
        f"{PREFIX}_subscriber_handler_duration_seconds",
        "Seconds each call of the subscriber's handler took, failed attempts and retries included",
        labels=labels,
    )
    bounds = [*(str(bound) for bound in HANDLER_SECONDS_BUCKETS), "+Inf"]  # as Go writes these floats
    for subscriber, stats in subscribers.items():
        cumulative = list(accumulate(stats.handler_seconds))  # counted per bucket, shown as `le`
        seconds.add_metric([subscriber], list(zip(bounds, cumulative, strict=True)), stats.handler_seconds_sum)
    yield seconds
