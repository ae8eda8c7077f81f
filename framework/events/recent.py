"""The events a bus published in this process: the last few kept, and watchers told of each.

A watcher sees every event as it is published, without being a subscriber: it has no mailbox,
no retries, no dead letters, no consumer group on Redis and no counters. That suits an
observer such as the web console's live tail, which must never change what the bus does.

``append`` and ``extend`` are the deque's own methods while nobody watches, so publishing pays
nothing for the feature; the first watcher swaps in methods that also tell the watchers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator

from loguru import logger

from framework.events.envelope import Envelope

Watcher = Callable[[Envelope], None]  # called in the publisher's task: it must not block
log = logger.bind(component="event_bus")


class RecentEvents:
    """The last ``size`` events published here, oldest first, and the watchers of new ones."""

    def __init__(self, size: int) -> None:
        self._events: deque[Envelope] = deque(maxlen=size)
        self._watchers: list[Watcher] = []
        self.append: Callable[[Envelope], None] = self._events.append
        self.extend: Callable[[Iterable[Envelope]], None] = self._events.extend

    def __iter__(self) -> Iterator[Envelope]:
        return iter(self._events)

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Tell ``watcher`` of every event from now on; call what it returns to stop."""
        self._watchers.append(watcher)
        self.append, self.extend = self._append_watched, self._extend_watched

        def stop() -> None:
            if watcher in self._watchers:
                self._watchers.remove(watcher)
            if not self._watchers:
                self._unwatched()

        return stop

    def _unwatched(self) -> None:
        self.append, self.extend = self._events.append, self._events.extend

    def _append_watched(self, envelope: Envelope) -> None:
        self._events.append(envelope)
        for watcher in tuple(self._watchers):
            try:
                watcher(envelope)
            except Exception as exc:  # an observer never fails a publish
                log.warning(f"event watcher {watcher!r} raised {type(exc).__name__}: {exc}")

    def _extend_watched(self, envelopes: Iterable[Envelope]) -> None:
        for envelope in envelopes:
            self._append_watched(envelope)
