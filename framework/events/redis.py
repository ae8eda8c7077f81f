"""The Redis Streams backend: a stream per topic, a consumer group per subscriber.

Publishing XADDs the signed envelope to ``{prefix}:{topic}`` (approximate MAXLEN) and adds
the topic to the registry set ``{prefix}:@topics``. Publishes that arrive while Redis is busy
with earlier ones, and ``publish_many`` bursts, go as one EVALSHA of a script that runs the
XADDs: redis-py spends far more per command than Redis does. An entry has one field, ``e``:
the hex HMAC-SHA256 of the envelope JSON followed by that JSON.

Each subscriber name is a consumer group on every stream its pattern matches, so every
component gets each event once and several processes running one component share the load.
An entry is XACKed only after its handler succeeded; entries a dead consumer left pending are
claimed after ``claim_idle_ms`` and, past ``max_deliveries``, dead-lettered. Entries that are
not signed envelopes are dead-lettered with the reason, never handled. A reader blocks in
XREADGROUP while its streams are quiet; after a read that filled a batch (a backlog), it reads
with a script that runs the same XREADGROUP without blocking and packs each stream's entries
into one string, since parsing redis-py's usual reply costs more than the rest of delivery.

Delivery inside the process reuses the shared core and its workers (priority, retries, timeouts).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from loguru import logger
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from framework.config.schema import Schema
from framework.events.core import BusCore
from framework.events.delivery import Worker
from framework.events.envelope import DEFAULT_PRIORITY, MAX_PRIORITY, Envelope
from framework.events.errors import (
    BusConnectionError,
    DeadLetterNotFoundError,
    DuplicateSubscriberError,
    EventDecodeError,
    InvalidTopicError,
    MissingSigningKeyError,
    ReplayError,
    StreamError,
)
from framework.events.records import DeadLetter, DeadLetterReason
from framework.events.settings import BusSettings
from framework.events.topics import is_pattern, matches, overlaps, validate_topic

# An entry has one field, b"e": the hex HMAC-SHA256 of the envelope JSON, then that JSON.
# (One field, not two: each field costs a RESP element to pack and parse per entry.)
FIELD, SIGNATURE_LENGTH = b"e", 64
_DELIVERY_KEYS = ("attempts", "replay_for")  # bookkeeping of this bus, not part of the event
_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_MAX_BACKOFF = 2.0
_REPLY_MAXLEN, _REPLY_TTL = 1000, 300
_RAW_LIMIT = 1000  # characters of a foreign entry kept for diagnosis
_SCRIPT_CHUNK = 1000  # entries per EVALSHA: bounds how long one call holds Redis
# Acknowledgements wait this long to share one XACK: a burst costs one command, and a lone
# event's XACK is not sent (and its reply parsed) in the middle of the next event's delivery.
# A process that dies within it has those entries redelivered, as at-least-once allows.
_ACK_GATHER_S = 0.002
# KEYS: the topic registry, then the stream of each entry. ARGV: MAXLEN, the number of topics
# new to the registry, those topics, then the value of each entry (its single field 'e').
_XADD_LUA = """
local new = tonumber(ARGV[2])
if new > 0 then redis.call('SADD', KEYS[1], unpack(ARGV, 3, 2 + new)) end
local first = 1 + new
for i = 2, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[first + i])
end
return #KEYS - 1
"""
# A non-blocking XREADGROUP whose reply redis-py parses cheaply: per stream, its name and one
# string of entries, each "<id> <length> <value of 'e'>" (length -1 and no value for an entry
# that is not a single field 'e': the reader fetches those with XRANGE). Parsing a reply costs
# redis-py several elements per entry; this is two per stream. KEYS: the streams. ARGV: group,
# consumer, COUNT.
_READ_LUA = """
local args = {'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS'}
for i = 1, #KEYS do args[#args + 1] = KEYS[i] end
for i = 1, #KEYS do args[#args + 1] = '>' end
local reply = redis.call('XREADGROUP', unpack(args))
local out = {}
if not reply then return out end
for _, stream in ipairs(reply) do
  local parts = {}
  for _, entry in ipairs(stream[2]) do
    local fields = entry[2]
    if fields and #fields == 2 and fields[1] == 'e' then
      parts[#parts + 1] = entry[1] .. ' ' .. #fields[2] .. ' ' .. fields[2]
    else
      parts[#parts + 1] = entry[1] .. ' -1 '
    end
  end
  out[#out + 1] = stream[1]
  out[#out + 1] = table.concat(parts)
end
return out
"""
log = logger.bind(component="event_bus")


class Signer:
    """HMAC-SHA256 over the serialized envelope; the key never shows in a repr.

    The HMAC is keyed once; each message copies it (the keyed inner and outer hash states)
    instead of keying a new one, which costs about twice as much.
    """

    __slots__ = ("_keyed",)

    def __init__(self, key: str) -> None:
        self._keyed = hmac.new(key.encode(), digestmod=hashlib.sha256)

    def sign(self, payload: bytes) -> bytes:
        """The hex signature of a payload."""
        mac = self._keyed.copy()
        mac.update(payload)
        return mac.hexdigest().encode()

    def verify(self, payload: bytes, signature: bytes) -> bool:
        """Whether a signature matches (compared in constant time)."""
        return hmac.compare_digest(self.sign(payload), signature)

    def __repr__(self) -> str:
        return "Signer(key=***)"


class RedisBus(BusCore):
    """The event bus over Redis Streams; same API and semantics as ``MemoryBus``, plus:

    - delivery is at least once: a consumer that dies mid-handler has its entries redelivered;
    - ``overflow`` does not apply (a stream is the buffer; MAXLEN trims its oldest entries);
    - priority orders the events one read brings in, not a stream;
    - ``history()`` lists the events this process published; dead letters live in a stream.
    """

    def __init__(
        self, settings: BusSettings | None = None, *, schemas: Mapping[str, Schema] | None = None
    ) -> None:
        super().__init__(settings, schemas=schemas)
        redis = self._settings.redis
        if not redis.signing_key:
            raise MissingSigningKeyError(
                "event_bus.redis.signing_key is required for the redis backend (HMAC-SHA256 "
                "signs every event); set a random string of 16+ characters"
            )
        self._signer = Signer(redis.signing_key)
        self._redis = redis
        self.consumer = redis.consumer_name
        prefix = redis.stream_prefix
        self._prefix = prefix
        # '@' cannot occur in a topic, so these never collide with a topic stream.
        self._registry = f"{prefix}:@topics"
        self._dead_stream = f"{prefix}:@dead"
        self._reply_stream = f"{prefix}:@reply:{self.node}"
        self._client: Redis | None = None
        self._xadd_script: Any = None
        self._read_script: Any = None
        self._registered: set[str] = set()
        self._outbox: list[_Pending] = []
        self._outbox_ready = asyncio.Event()
        self._acks: dict[tuple[str, str], list[str]] = {}
        self._acks_ready = asyncio.Event()
        self._acking = False  # an XACK pipeline is in flight
        self._readers: dict[Worker, _Reader] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._reply_task: asyncio.Task[None] | None = None
        self._closing = False  # loops end when set, even if a cancellation went missing

    # connection

    @property
    def client(self) -> Redis:
        """The redis-py client (after ``start``)."""
        if self._client is None:
            self._require_running("use Redis")
        return self._client  # type: ignore[return-value]

    def _unreachable(self, exc: BaseException) -> BusConnectionError:
        return BusConnectionError(f"Redis at {self._redis.address} unreachable: {exc}")

    async def _open(self) -> None:
        redis = self._redis
        self._client = Redis.from_url(
            redis.url,
            socket_connect_timeout=redis.connect_timeout,
            # No socket_timeout: redis-py then wraps each send in asyncio.wait_for, which on
            # Python 3.11 can swallow a cancellation and leave a reader running after stop().
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 1),  # one immediate retry replaces a stale pooled connection
            client_name=f"event-bus:{self.consumer}",
        )
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            await self._client.aclose()
            self._client = None
            raise BusConnectionError(
                f"Redis at {self._redis.address} unreachable: {exc} "
                f"(event_bus.redis.url = {_safe_url(redis.url)})"
            ) from exc
        self._xadd_script = self._client.register_script(_XADD_LUA)
        self._read_script = self._client.register_script(_READ_LUA)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._flush_loop(), name="event-bus:publish"),
            loop.create_task(self._ack_loop(), name="event-bus:ack"),
        ]

    async def _close_intake(self, deadline: float) -> None:
        for reader in self._readers.values():
            reader.closed = True
        readers = [r.task for r in self._readers.values() if r.task is not None]
        for task in readers:
            task.cancel()
        if readers:
            await asyncio.wait(readers, timeout=1.0)
        loop = asyncio.get_running_loop()
        while (self._outbox or self._outbox_ready.is_set()) and loop.time() < deadline:
            await asyncio.sleep(0.001)

    async def _close(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while (self._acks or self._acking) and loop.time() < deadline + 1.0:  # handled: ack them
            await asyncio.sleep(0.001)
        self._closing = True
        tasks = [*self._tasks, *([self._reply_task] if self._reply_task else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        self._readers.clear()
        if self._client is not None:
            if self._reply_task is not None:
                try:
                    await self._client.delete(self._reply_stream)
                except _CONNECTION_ERRORS:
                    pass
            await self._client.aclose()
            self._client = None

    # publishing

    async def publish(
        self,
        topic: str,
        data: Any = None,
        *,
        priority: int = DEFAULT_PRIORITY,
        source: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Envelope:
        """Publish an event; return its envelope once Redis has stored it.

        Raises what ``MemoryBus.publish`` raises, EventSerializationError for data that is
        not JSON, and BusConnectionError when Redis cannot be reached.
        """
        envelope = self._envelope(topic, data, priority, source, correlation_id, causation_id, metadata)
        await self._send([envelope])
        return envelope

    async def _publish_checked(self, envelopes: list[Envelope]) -> None:
        await self._send(envelopes)  # one pipeline for the whole burst

    def _fields(self, envelope: Envelope) -> dict[bytes, bytes]:
        return {FIELD: self._signed(envelope)}

    def _signed(self, envelope: Envelope) -> bytes:
        payload = envelope.to_json().encode()
        return self._signer.sign(payload) + payload

    async def _send(self, envelopes: list[Envelope]) -> None:
        entries = [(envelope.type, self._signed(envelope)) for envelope in envelopes]
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for start in range(0, len(entries), _SCRIPT_CHUNK):
            futures.append(loop.create_future())
            self._outbox.append(_Pending(entries[start : start + _SCRIPT_CHUNK], futures[-1]))
        self._outbox_ready.set()
        if len(futures) == 1:
            await futures[0]  # the usual case: gather would cost a future and a callback more
        else:
            await asyncio.gather(*futures)  # marks every exception retrieved, not just the first
        self._history.extend(envelopes)
        self._published += len(envelopes)

    async def _flush_loop(self) -> None:
        # Group commit: publishes that arrive while a pipeline is in flight share the next one.
        while not self._closing:
            await self._outbox_ready.wait()
            batch, self._outbox = self._outbox, []
            if batch:
                await self._flush(batch)
            if not self._outbox:
                self._outbox_ready.clear()

    async def _flush(self, batch: list[_Pending]) -> None:
        # One EVALSHA per chunk instead of one XADD per entry: packing and parsing a command
        # in redis-py costs far more than the XADD itself, so a burst pays it once.
        chunks: list[list[_Pending]] = [[]]
        size = 0
        for pending in batch:
            if size and size + len(pending.entries) > _SCRIPT_CHUNK:
                chunks.append([])
                size = 0
            chunks[-1].append(pending)
            size += len(pending.entries)
        for chunk in chunks:
            await self._flush_chunk(chunk)

    async def _flush_chunk(self, chunk: list[_Pending]) -> None:
        topics = {topic for pending in chunk for topic, _ in pending.entries}
        new = sorted(topics - self._registered)
        prefix = self._prefix
        keys = [self._registry]
        values: list[bytes | str | int] = [self._redis.maxlen, len(new), *new]
        for pending in chunk:
            for topic, value in pending.entries:
                keys.append(f"{prefix}:{topic}")
                values.append(value)
        error: Exception | None = None
        try:
            await self._xadd_script(keys=keys, args=values)
        except _CONNECTION_ERRORS as exc:
            error = self._unreachable(exc)
        except Exception as exc:  # a refusal (wrong key type, OOM): fail these publishes only
            error = StreamError(f"Redis refused XADD to '{keys[1]}' (or the entries after it): {exc}")
        else:
            self._registered.update(new)
        for pending in chunk:
            if pending.future.done():
                continue
            if error is None:
                pending.future.set_result(None)
            else:
                pending.future.set_exception(error)

    # acknowledging

    def _ack(self, stream: str, group: str, entry_id: str) -> None:
        key = (stream, group)
        ids = self._acks.get(key)
        if ids is None:  # the first of its stream since the last flush (which emptied _acks)
            self._acks[key] = [entry_id]
            self._acks_ready.set()
        else:
            ids.append(entry_id)

    async def _ack_loop(self) -> None:
        backoff = 0.05
        while not self._closing:
            await self._acks_ready.wait()
            await asyncio.sleep(_ACK_GATHER_S)
            self._acks_ready.clear()
            batch, self._acks = self._acks, {}
            self._acking = True
            try:
                if len(batch) == 1:  # the usual case; a pipeline costs redis-py far more
                    [((stream, group), ids)] = batch.items()
                    await self.client.xack(stream, group, *ids)
                else:
                    async with self.client.pipeline(transaction=False) as pipe:
                        for (stream, group), ids in batch.items():
                            pipe.xack(stream, group, *ids)
                        await pipe.execute()
                backoff = 0.05
            except _CONNECTION_ERRORS:
                for key, ids in batch.items():  # keep them: the handlers did succeed
                    self._acks.setdefault(key, []).extend(ids)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                self._acks_ready.set()
            except Exception as exc:  # a group or stream deleted under us: nothing left to ack
                log.warning(f"could not acknowledge {sum(map(len, batch.values()))} entries: {exc}")
            finally:
                self._acking = False

    # subscribing

    async def _attach(self, worker: Worker) -> None:
        for other in self._workers:
            if other.name == worker.name and overlaps(other.pattern, worker.pattern):
                raise DuplicateSubscriberError(
                    f"subscriber '{worker.name}' already subscribes to '{other.pattern}', which "
                    f"overlaps '{worker.pattern}': on Redis a subscriber is one consumer group, so "
                    "the two handlers would split events; pass a distinct subscriber= to one"
                )
        reader = _Reader(self, worker)
        try:
            await reader.prepare()
        except ResponseError as exc:
            raise StreamError(f"Redis refused to set up '{worker.pattern}': {exc}") from exc
        except _CONNECTION_ERRORS as exc:
            raise self._unreachable(exc) from exc
        worker.on_success = reader.delivered
        self._readers[worker] = reader
        reader.start()

    def _detach(self, worker: Worker) -> None:
        reader = self._readers.pop(worker, None)
        if reader is not None and reader.task is not None:
            reader.closed = True
            reader.task.cancel()
        super()._detach(worker)

    # entries

    def open_entry(
        self, fields: Mapping[bytes, bytes] | None
    ) -> tuple[Envelope | None, DeadLetterReason | None, str]:
        """The verified envelope of an entry, or None with the reason and an explanation."""
        return self.open_value((fields or {}).get(FIELD))

    def open_value(self, value: bytes | None) -> tuple[Envelope | None, DeadLetterReason | None, str]:
        """``open_entry`` given the value of the entry's field ``e`` (None when it has none)."""
        if value is None:
            return None, DeadLetterReason.UNDECODABLE, "no 'e' field: not an event of this bus"
        if value[:1] == b"{":
            return None, DeadLetterReason.UNSIGNED, "entry carries no signature"
        signature, payload = value[:SIGNATURE_LENGTH], value[SIGNATURE_LENGTH:]
        if not self._signer.verify(payload, signature):
            return (
                None,
                DeadLetterReason.BAD_SIGNATURE,
                ("HMAC-SHA256 signature does not match: forged, altered or signed with another key"),
            )
        try:
            # Signed means written by to_json with our key: skip the per-field checks...
            envelope = Envelope.from_trusted_json(payload.decode())
            if type(envelope.priority) is int and 0 <= envelope.priority <= MAX_PRIORITY:
                return envelope, None, ""
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        try:  # ...unless it looks odd (another version, say): then say what is wrong.
            return Envelope.from_json(payload), None, ""
        except EventDecodeError as exc:
            return None, DeadLetterReason.UNDECODABLE, f"signed but not an envelope: {exc}"

    # dead letters

    async def _dead_letter(
        self, worker: Worker, envelope: Envelope, reason: DeadLetterReason, error: str
    ) -> None:
        stream, entry_id = envelope.receipt or ("", "")
        try:
            await self.store_dead_letter(worker.name, reason, error, stream, entry_id, envelope)
        except (RedisError, OSError) as exc:
            # Left unacknowledged, the entry comes back once Redis does.
            log.warning(f"could not dead-letter '{envelope.type}' ({reason.value}): {exc}")
            return
        reader = self._readers.get(worker)
        if reader is not None and entry_id:
            reader.release(stream, entry_id)

    async def store_dead_letter(
        self,
        subscriber: str,
        reason: DeadLetterReason,
        error: str,
        stream: str,
        entry_id: str,
        envelope: Envelope | None = None,
        raw: Mapping[bytes, bytes] | None = None,
    ) -> None:
        """XADD a dead letter to ``{prefix}:@dead``."""
        fields: dict[bytes, bytes] = {
            b"subscriber": subscriber.encode(),
            b"reason": reason.value.encode(),
            b"error": error.encode(),
            b"stream": stream.encode(),
            b"entry": entry_id.encode(),
            b"time": repr(time.time()).encode(),
        }
        if envelope is not None:
            fields.update(self._fields(_undelivered(envelope)))
        if raw is not None:
            fields[b"raw"] = _describe_raw(raw).encode()
        await self.client.xadd(
            self._dead_stream,
            fields,  # type: ignore[arg-type]
            maxlen=self._settings.dead_letter_size,
            approximate=True,
        )
        self._counters.dead_lettered += 1

    async def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """The dead-letter stream, oldest first (at most ``limit``, the newest ones)."""
        entries: Any
        try:
            if limit is None:
                entries = await self.client.xrange(self._dead_stream)
            else:
                newest: Any = await self.client.xrevrange(self._dead_stream, count=limit)
                entries = list(reversed(newest))
        except _CONNECTION_ERRORS as exc:
            raise self._unreachable(exc) from exc
        return [self._letter(entry_id.decode(), fields) for entry_id, fields in entries]

    def _letter(self, entry_id: str, fields: Mapping[bytes, bytes]) -> DeadLetter:
        envelope = self.open_entry(fields)[0] if FIELD in fields else None
        raw = fields.get(b"raw")
        try:
            reason = DeadLetterReason(fields.get(b"reason", b"").decode())
        except ValueError:
            reason = DeadLetterReason.UNDECODABLE
        return DeadLetter(
            entry_id,
            fields.get(b"subscriber", b"").decode(),
            reason,
            fields.get(b"error", b"").decode(),
            envelope,
            float(fields.get(b"time", b"0") or 0),
            {"fields": raw.decode(errors="replace")} if raw is not None else None,
        )

    async def replay_dead_letter(self, dead_letter_id: str) -> None:
        """Publish a dead letter again, for its subscriber only, and delete it.

        Other subscribers of the topic skip the replayed entry. Raises
        DeadLetterNotFoundError for an unknown id, ReplayError for a foreign entry.
        """
        self._require_running("replay a dead letter")
        entries: Any
        try:
            entries = await self.client.xrange(self._dead_stream, dead_letter_id, dead_letter_id)
        except ResponseError as exc:
            raise DeadLetterNotFoundError(f"{dead_letter_id!r} is not a dead letter id: {exc}") from exc
        except _CONNECTION_ERRORS as exc:
            raise self._unreachable(exc) from exc
        if not entries:
            raise DeadLetterNotFoundError(
                f"no dead letter with id {dead_letter_id!r} in stream '{self._dead_stream}'"
            )
        letter = self._letter(dead_letter_id, entries[0][1])
        if letter.envelope is None:
            raise ReplayError(
                f"dead letter {dead_letter_id} ({letter.reason.value}) is not a signed envelope "
                "of this bus; it cannot be replayed"
            )
        await self._send([letter.envelope.with_metadata(replay_for=letter.subscriber)])
        await self.client.xdel(self._dead_stream, dead_letter_id)

    # request / reply

    async def request(
        self,
        topic: str,
        data: Any = None,
        *,
        timeout: float = 5.0,
        priority: int = DEFAULT_PRIORITY,
        source: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Envelope:
        """``MemoryBus.request``; replies travel on a stream private to this bus instance."""
        self._require_running(f"request '{topic}'")
        if self._reply_task is None:
            self._reply_task = asyncio.get_running_loop().create_task(
                self._reply_loop(), name="event-bus:replies"
            )
        return await super().request(
            topic, data, timeout=timeout, priority=priority, source=source, metadata=metadata
        )

    async def _send_reply(self, reply_to: str, response: Envelope) -> None:
        if reply_to == self.node:
            self._resolve_reply(response)
            return
        stream = f"{self._prefix}:@reply:{reply_to}"
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xadd(stream, self._fields(response), maxlen=_REPLY_MAXLEN, approximate=True)  # type: ignore[arg-type]
                pipe.expire(stream, _REPLY_TTL)  # a requester that died leaves no garbage
                await pipe.execute()
        except _CONNECTION_ERRORS as exc:
            raise self._unreachable(exc) from exc

    async def _reply_loop(self) -> None:
        last, backoff = "0-0", 0.05
        while not self._closing:
            response: Any
            try:
                response = await self.client.xread(
                    {self._reply_stream: last}, count=100, block=self._redis.block_ms
                )
                backoff = 0.05
            except _CONNECTION_ERRORS:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            for _, entries in response or []:
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    envelope, reason, error = self.open_entry(fields)
                    if envelope is None:
                        log.warning(f"ignored a reply that is not a signed envelope: {error}")
                    else:
                        self._resolve_reply(envelope)

    def __repr__(self) -> str:
        return (
            f"RedisBus({self._state.value}, {_safe_url(self._redis.url)}, "
            f"prefix={self._prefix!r}, consumer={self.consumer!r}, "
            f"{len(self._workers)} subscription(s))"
        )


class _Pending:
    """One publish call waiting for its flush: (topic, signed value) entries and one future."""

    __slots__ = ("entries", "future")

    def __init__(self, entries: list[tuple[str, bytes]], future: asyncio.Future[None]) -> None:
        self.entries, self.future = entries, future


class _Reader:
    """Feeds one subscription's worker from its streams: read, claim, keep alive, discover."""

    def __init__(self, bus: RedisBus, worker: Worker) -> None:
        self.bus, self.worker, self.group = bus, worker, worker.name
        settings = bus.settings.redis
        self.claim_idle_ms, self.max_deliveries = settings.claim_idle_ms, settings.max_deliveries
        self.block_ms, self.refresh_s = settings.block_ms, settings.refresh_ms / 1000
        self.claim_every = settings.claim_idle_ms / 2000  # seconds
        self.keep_alive_every = settings.claim_idle_ms / 3000
        self.streams: dict[str, str] = {}  # stream -> topic
        self.held: dict[tuple[str, str], float] = {}  # entries read, not yet acknowledged
        # Read ahead at most one batch: a consumer hoarding entries starves its group's others.
        self.batch = max(1, min(worker.options.queue_size, 100))
        self.backlog = False  # the last read filled a batch: more entries are likely waiting
        self.plain = worker.filter is None
        self.start_id = "$"
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self._next = {"refresh": 0.0, "claim": 0.0, "keep_alive": 0.0}

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"event-bus:read:{self.group}:{self.worker.pattern}"
        )

    async def prepare(self) -> None:
        """Create the group on every matching stream, starting now (server time)."""
        seconds, micros = await self.bus.client.time()
        now_ms = seconds * 1000 + micros // 1000
        # Deliver entries from this millisecond on; an existing group keeps its position.
        self.start_id = f"{now_ms - 1}-18446744073709551615"
        await self._refresh()
        self._next["refresh"] = asyncio.get_running_loop().time() + self.refresh_s

    def delivered(self, envelope: Envelope) -> None:
        """Worker hook: the handler took the event, acknowledge its entry."""
        receipt = envelope._receipt  # set by this reader: (stream, entry id)
        self.held.pop(receipt, None)
        self.bus._ack(receipt[0], self.group, receipt[1])

    def release(self, stream: str, entry_id: str) -> None:
        """Acknowledge an entry (handled or dead-lettered)."""
        self.held.pop((stream, entry_id), None)
        self.bus._ack(stream, self.group, entry_id)

    async def _run(self) -> None:
        backoff, failing = 0.05, False
        while not self.closed:
            try:
                await self._maintain()
                await self._read()
                if failing:
                    log.info(f"subscriber '{self.group}' reconnected to Redis")
                backoff, failing = 0.05, False
            except ResponseError as exc:
                if "NOGROUP" in str(exc) or "UNBLOCKED" in str(exc):
                    # The stream or group is gone (Redis restarted empty, or a DEL): recreate.
                    self.streams.clear()
                    self.bus._registered.clear()  # and let publishers re-register topics
                    continue
                log.warning(f"subscriber '{self.group}': Redis refused a command: {exc}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            except _CONNECTION_ERRORS as exc:
                if not failing:
                    log.warning(
                        f"subscriber '{self.group}' lost Redis at {self.bus.settings.redis.address}"
                        f" ({exc}); reconnecting with backoff"
                    )
                failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            except Exception as exc:  # never let one bad entry end the subscription
                log.error(f"subscriber '{self.group}': {type(exc).__name__}: {exc}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _maintain(self) -> None:
        now = asyncio.get_running_loop().time()
        due = now >= self._next["refresh"] and is_pattern(self.worker.pattern)
        if due or not self.streams:
            await self._refresh()
            self._next["refresh"] = now + self.refresh_s
        if now >= self._next["keep_alive"]:
            await self._keep_alive(now)
            self._next["keep_alive"] = now + self.keep_alive_every
        if now >= self._next["claim"]:
            await self._claim()
            self._next["claim"] = now + self.claim_every

    async def _read(self) -> None:
        mailbox = self.worker.mailbox
        if not self.streams:  # nothing matches yet
            await asyncio.sleep(self.refresh_s)
            return
        if mailbox.size > self.batch // 2:  # the worker is behind: wait, but keep maintaining
            try:
                async with asyncio.timeout(min(self.keep_alive_every, self.refresh_s)):
                    await mailbox.wait_space(below=self.batch // 2)
            except TimeoutError:
                pass
            return
        if self.backlog:  # entries are waiting: take them without blocking, cheap to parse
            taken = await self._read_packed()
            self.backlog = taken >= self.batch
            if taken:
                return
        response: Any = await self.bus.client.xreadgroup(
            self.group,
            self.bus.consumer,
            {stream: ">" for stream in self.streams},
            count=self.batch,
            block=self.block_ms,
        )
        now = asyncio.get_running_loop().time()
        taken = 0
        for stream, entries in response or []:
            name = stream.decode()
            taken += len(entries)
            for raw_id, fields in entries:
                entry_id = raw_id.decode()
                opened = self._queue(name, entry_id, fields.get(FIELD) if fields else None, now)
                if opened is not None:
                    await self._accept(name, entry_id, fields, opened, 1)
        self.backlog = taken >= self.batch
        if taken:  # let the worker run the handlers before the next read is sent
            await asyncio.sleep(0)

    async def _read_packed(self) -> int:
        """Read with ``_READ_LUA`` (no blocking); return how many entries came."""
        bus = self.bus
        reply: Any = await bus._read_script(
            keys=list(self.streams), args=[self.group, bus.consumer, self.batch]
        )
        now = asyncio.get_running_loop().time()
        taken = 0
        for position in range(0, len(reply), 2):
            name, packed = reply[position].decode(), reply[position + 1]
            find, start, end = packed.find, 0, len(packed)
            while start < end:  # "<id> <length> <value>" after one another
                space = find(b" ", start)
                gap = find(b" ", space + 1)
                entry_id, length = packed[start:space].decode(), int(packed[space + 1 : gap])
                start = gap + 1 + max(length, 0)
                taken += 1
                if length >= 0:
                    value = packed[gap + 1 : start]
                    opened = self._queue(name, entry_id, value, now)
                    if opened is not None:
                        await self._accept(name, entry_id, {FIELD: value}, opened, 1)
                    continue
                # Not a single field 'e' (a foreign producer's, say): fetch the entry as it is.
                found: Any = await bus.client.xrange(name, entry_id, entry_id)
                fields = found[0][1] if found else {}
                await self._accept(name, entry_id, fields, bus.open_entry(fields), 1)
        return taken

    def _queue(
        self, stream: str, entry_id: str, value: bytes | None, now: float
    ) -> tuple[Envelope | None, DeadLetterReason | None, str] | None:
        """Queue the common entry (signed, no filter, no replay); else return it opened."""
        opened = self.bus.open_value(value)
        envelope = opened[0]
        if envelope is None or not self.plain or "replay_for" in envelope.metadata:
            return opened
        receipt = envelope._receipt = (stream, entry_id)
        self.held[receipt] = now
        self.worker.mailbox.put(envelope)
        return None

    async def _accept(
        self,
        stream: str,
        entry_id: str,
        fields: Mapping[bytes, bytes] | None,
        opened: tuple[Envelope | None, DeadLetterReason | None, str],
        attempts: int,
    ) -> None:
        worker, bus = self.worker, self.bus
        envelope, reason, error = opened
        if envelope is None:
            await bus.store_dead_letter(
                self.group,
                reason or DeadLetterReason.UNDECODABLE,
                error,
                stream,
                entry_id,
                raw=fields or {},
            )
            self.release(stream, entry_id)
            return
        replay_for = envelope.metadata.get("replay_for")
        if replay_for is not None and replay_for != self.group:
            self.release(stream, entry_id)  # a replay meant for another subscriber
            return
        if worker.filter is not None and not await self._wanted(worker.filter, envelope, stream):
            self.release(stream, entry_id)
            return
        if attempts > 1:
            envelope.metadata = MappingProxyType({**envelope.metadata, "attempts": attempts})
        envelope.receipt = (stream, entry_id)
        self.held[(stream, entry_id)] = asyncio.get_running_loop().time()
        worker.mailbox.put(envelope)

    async def _wanted(self, predicate: Any, envelope: Envelope, stream: str) -> bool:
        try:
            return bool(predicate(envelope))
        except Exception as exc:
            text = f"filter of subscriber '{self.group}' raised {type(exc).__name__}: {exc}"
            await self.bus.store_dead_letter(
                self.group,
                DeadLetterReason.FILTER_FAILED,
                text,
                stream,
                "",
                envelope,
            )
            return False

    async def _refresh(self) -> None:
        pattern, client = self.worker.pattern, self.bus.client
        if is_pattern(pattern):
            members: Any = await client.smembers(self.bus._registry)
            topics = {m.decode() for m in members if _is_topic(m)}
            wanted = {t for t in topics if matches(pattern, t)}
        else:
            wanted = {pattern}
        prefix = self.bus._prefix
        for topic in sorted(wanted - set(self.streams.values())):
            stream = f"{prefix}:{topic}"
            try:
                await client.xgroup_create(stream, self.group, id=self.start_id, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):  # the group exists: it keeps its position
                    raise
            self.streams[stream] = topic
        if not is_pattern(pattern) and pattern not in self.bus._registered:
            await client.sadd(self.bus._registry, pattern)  # pattern subscribers may want it
            self.bus._registered.add(pattern)

    async def _keep_alive(self, now: float) -> None:
        # Reset the idle time of entries held here, so no other consumer claims them from a
        # live (if slow) one. JUSTID leaves the delivery count alone.
        stale: dict[str, list[str]] = {}
        for (stream, entry_id), since in self.held.items():
            if now - since >= self.keep_alive_every:
                stale.setdefault(stream, []).append(entry_id)
        for stream, ids in stale.items():
            await self.bus.client.xclaim(stream, self.group, self.bus.consumer, 0, ids, justid=True)  # type: ignore[arg-type]
            for entry_id in ids:
                if (stream, entry_id) in self.held:
                    self.held[(stream, entry_id)] = now

    async def _claim(self) -> None:
        mailbox = self.worker.mailbox
        for stream in list(self.streams):
            free = self.batch - mailbox.size
            if free <= 0:
                return
            client = self.bus.client
            _, claimed, *_ = await client.xautoclaim(
                stream, self.group, self.bus.consumer, self.claim_idle_ms, "0-0", count=free
            )
            claimed = [(entry_id, fields) for entry_id, fields in claimed if fields]
            if claimed:
                await self._redeliver(stream, claimed)

    async def _redeliver(self, stream: str, claimed: list[tuple[bytes, Any]]) -> None:
        first, last = claimed[0][0], claimed[-1][0]
        pending: Any = await self.bus.client.xpending_range(
            stream,
            self.group,
            first,
            last,
            len(claimed) + len(self.held) + 10,
            consumername=self.bus.consumer,
        )
        deliveries = {p["message_id"]: p["times_delivered"] for p in pending}
        for raw_id, fields in claimed:
            entry_id, count = raw_id.decode(), deliveries.get(raw_id, 1)
            opened = self.bus.open_entry(fields)
            if count <= self.max_deliveries:
                await self._accept(stream, entry_id, fields, opened, count)
                continue
            envelope = opened[0]
            error = (
                f"delivered {count - 1} times without acknowledgement (consumers died or "
                f"stalled); max_deliveries={self.max_deliveries}"
            )
            await self.bus.store_dead_letter(
                self.group,
                DeadLetterReason.MAX_DELIVERIES,
                error,
                stream,
                entry_id,
                envelope=envelope,
                raw=None if envelope else fields,
            )
            self.release(stream, entry_id)


def _undelivered(envelope: Envelope) -> Envelope:
    """The event without this bus's delivery bookkeeping."""
    metadata = {k: v for k, v in envelope.metadata.items() if k not in _DELIVERY_KEYS}
    return envelope.replace(metadata=MappingProxyType(metadata))


def _is_topic(member: bytes) -> bool:
    try:
        validate_topic(member.decode())
    except (InvalidTopicError, UnicodeDecodeError):
        return False
    return True


def _describe_raw(fields: Mapping[bytes, bytes]) -> str:
    shown = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}
    return json.dumps(shown)[:_RAW_LIMIT]


def _safe_url(url: str) -> str:
    """The URL without user or password."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
