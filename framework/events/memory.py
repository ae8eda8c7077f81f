"""The in-memory backend: routes each published event to its subscribers' mailboxes.

``MemoryBus`` adds only in-process routing (a topic index with a per-topic cache) and an
in-memory dead-letter store to ``BusCore``; delivery itself is the shared ``Worker``.
Nothing leaves the process, so it suits a single process and tests.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from framework.config.schema import Schema
from framework.events.core import BusCore
from framework.events.delivery import Mailbox, Worker
from framework.events.envelope import (
    DEFAULT_PRIORITY,
    DefaultEnvelope,
    Envelope,
    UnattributedEnvelope,
    new_id,
)
from framework.events.errors import DeadLetterNotFoundError, ReplayError
from framework.events.failures import set_aside
from framework.events.records import DeadLetter, DeadLetterReason, Filter
from framework.events.settings import BusSettings, Overflow
from framework.events.topics import TopicIndex, matches

_now = time.time


class MemoryBus(BusCore):
    """The in-process bus: publish enqueues into the matching subscribers' mailboxes.

    Matching is a topic index with a per-topic cache, so a publish costs one dict lookup and
    one enqueue per matching subscriber, however many patterns are registered. Each
    subscriber has a bounded priority mailbox and its own worker task: a slow handler delays
    only its own subscription, and a full mailbox applies that subscription's overflow policy.
    """

    def __init__(
        self, settings: BusSettings | None = None, *, schemas: Mapping[str, Schema] | None = None
    ) -> None:
        super().__init__(settings, schemas=schemas)
        self._index: TopicIndex[Worker] = TopicIndex()
        self._routes: dict[str, tuple[Mailbox, ...]] = {}  # topic -> its subscribers' mailboxes
        self._owners: dict[Mailbox, Worker] = {}
        self._letters: OrderedDict[str, DeadLetter] = OrderedDict()

    async def publish(
        self,
        topic: str,
        data: Any = None,
        priority: int = DEFAULT_PRIORITY,
        source: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        key: str | None = None,
        schema_version: int | None = None,
    ) -> Envelope:
        """Publish an event; return its envelope once every matching subscriber has it queued.

        ``key`` is carried, and checked, but changes nothing here: one process delivers every
        event of a key to the same subscriber in order anyway (on Redis it picks a partition).

        Raises InvalidTopicError, ValueError (priority), PayloadValidationError,
        EventSerializationError (with ``check_json``) or BusClosedError. With overflow
        ``block``, waits while a matching subscriber's mailbox is full.

        Pass what follows ``data`` by keyword, as ``EventBus.publish`` declares. They are not
        keyword-only here because a call then looks each omitted one up in a dict: about a
        tenth of the cost of a publish.
        """
        if not (self._fast and priority == DEFAULT_PRIORITY and metadata is None and key is None and schema_version is None):
            checked = self._envelope(topic, data, priority, source, correlation_id, causation_id, metadata, key, schema_version)
            if self._settings.check_json:
                checked.to_json()
            return await self._enqueue(checked)
        # The hot path: a default-priority event of a type without a schema. Not Envelope(...):
        # calling a class with a Python __init__ costs more than the whole enqueue.
        if source is None and correlation_id is None and causation_id is None:
            envelope: Envelope = UnattributedEnvelope()  # these three are None on its class
        else:
            envelope = DefaultEnvelope()  # priority, schema version, metadata, key: the defaults
            envelope.source = source
            envelope.correlation_id = correlation_id
            envelope.causation_id = causation_id
        envelope._id = None  # numbered when first read: most never are
        envelope.type = topic
        envelope.data = data
        envelope.time = _now()
        try:
            mailboxes = self._routes[topic]
        except KeyError:
            mailboxes = self._route(topic)
        remember = self._history.append  # x.append(...) in one go: a slower, generic lookup
        remember(envelope)
        self._published += 1
        for mailbox in mailboxes:  # Mailbox.offer, inlined for a default-priority event
            if mailbox.size < mailbox.limit:
                mailbox.normal.append(envelope)
                mailbox.size += 1
                if mailbox.getter is not None:
                    mailbox.wake()
            else:
                await self._offer(self._owners[mailbox], envelope)
        return envelope

    async def _enqueue(self, envelope: Envelope) -> Envelope:
        mailboxes = self._routes.get(envelope.type)
        if mailboxes is None:
            mailboxes = self._route(envelope.type)
        self._history.append(envelope)
        self._published += 1
        for mailbox in mailboxes:
            if not mailbox.offer(envelope):
                await self._offer(self._owners[mailbox], envelope)
        return envelope

    def _route(self, topic: str) -> tuple[Mailbox, ...]:
        mailboxes = tuple(worker.mailbox for worker in self._index.match(topic))
        if len(self._routes) >= 10_000:  # topics can be unbounded (one per symbol, say)
            self._routes.clear()
        self._routes[topic] = mailboxes
        return mailboxes

    async def _publish_checked(self, envelopes: list[Envelope]) -> None:
        if self._settings.check_json:  # all serializable before any is queued
            for envelope in envelopes:
                envelope.to_json()
        for envelope in envelopes:
            await self._enqueue(envelope)

    async def _offer(self, worker: Worker, envelope: Envelope) -> None:
        if worker.filter is not None and not await self._passes(worker, worker.filter, envelope):
            return
        mailbox = worker.mailbox
        if mailbox.size < mailbox.maxsize:
            mailbox.put(envelope)
        elif worker.options.overflow is Overflow.BLOCK:
            while mailbox.size >= mailbox.maxsize:
                if not worker.active:
                    return
                await mailbox.wait_space()
            if worker.active:
                mailbox.put(envelope)
        elif worker.options.overflow is Overflow.DROP_OLDEST:
            mailbox.drop_oldest()
            worker.counters.dropped += 1
            mailbox.put(envelope)
        else:
            text = f"queue of subscriber '{worker.name}' is full ({mailbox.maxsize} events)"
            await self._dead_letter(worker, envelope, DeadLetterReason.QUEUE_FULL, text)

    async def _passes(self, worker: Worker, predicate: Filter, envelope: Envelope) -> bool:
        try:
            return bool(predicate(envelope))
        except Exception as exc:
            text = f"filter of subscriber '{worker.name}' raised {type(exc).__name__}: {exc}"
            await self._dead_letter(worker, envelope, DeadLetterReason.FILTER_FAILED, text)
            return False

    async def _attach(self, worker: Worker) -> None:
        self._index.add(worker.pattern, worker)
        self._owners[worker.mailbox] = worker
        self._routes.clear()

    def _detach(self, worker: Worker) -> None:
        self._index.remove(worker.pattern, worker)
        self._owners.pop(worker.mailbox, None)
        self._routes.clear()
        super()._detach(worker)

    async def _close(self, deadline: float) -> None:
        for worker in list(self._index.items()):
            self._index.remove(worker.pattern, worker)
        self._routes.clear()
        self._owners.clear()

    async def _dead_letter(
        self, worker: Worker, envelope: Envelope, reason: DeadLetterReason, error: str
    ) -> None:
        self._store(DeadLetter(new_id(), worker.name, reason, error, envelope, envelope.time))
        self._failed(set_aside(worker.name, reason.value, error, envelope))

    def _store(self, letter: DeadLetter) -> None:
        self._letters[letter.id] = letter
        self._counters.of(letter.subscriber).dead_lettered += 1
        while len(self._letters) > self._settings.dead_letter_size:
            self._letters.popitem(last=False)

    async def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """The stored dead letters, oldest first (at most ``limit``, the newest ones)."""
        letters = list(self._letters.values())
        return letters if limit is None else letters[-limit:] if limit > 0 else []

    async def replay_dead_letter(self, dead_letter_id: str) -> None:
        """Queue a dead letter again for its subscriber(s) and forget it.

        Raises DeadLetterNotFoundError for an unknown id, ReplayError when no live
        subscription of that subscriber matches the event's type any more.
        """
        self._require_running("replay a dead letter")
        letter = self._letters.get(dead_letter_id)
        if letter is None:
            raise DeadLetterNotFoundError(
                f"no dead letter with id {dead_letter_id!r} (it was replayed, or evicted beyond "
                f"dead_letter_size={self._settings.dead_letter_size})"
            )
        envelope = letter.envelope
        if envelope is None:
            raise ReplayError(f"dead letter {dead_letter_id} is not an envelope; cannot replay")
        targets = [
            w for w in self._workers if w.name == letter.subscriber and matches(w.pattern, envelope.type)
        ]
        if not targets:
            raise ReplayError(
                f"dead letter {dead_letter_id} ('{envelope.type}') cannot be replayed: subscriber "
                f"'{letter.subscriber}' has no live subscription matching it"
            )
        del self._letters[dead_letter_id]
        fresh = envelope.replace(
            metadata=MappingProxyType({k: v for k, v in envelope.metadata.items() if k != "attempts"})
        )
        for worker in targets:
            await self._offer(worker, fresh)
