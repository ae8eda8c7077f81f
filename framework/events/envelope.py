"""The envelope: one event as it travels the bus, and its JSON form."""

from __future__ import annotations

import itertools
import json
import os
from _thread import allocate_lock
from collections.abc import Mapping
from time import time as _now
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from framework.events.errors import EventDecodeError, EventSerializationError, InvalidTopicError
from framework.events.keys import check_key
from framework.events.topics import validate_topic

MIN_PRIORITY, DEFAULT_PRIORITY, MAX_PRIORITY = 0, 5, 10
SCHEMA_VERSION = 1
EMPTY: Mapping[str, Any] = MappingProxyType({})
_FIELDS = (
    "id",
    "type",
    "time",
    "source",
    "priority",
    "correlation_id",
    "causation_id",
    "schema_version",
    "data",
    "metadata",
    "key",
)


_prefix = ""  # random per process: ids stay unique across processes
# Read with next(_numbers): the builtin is a cheaper call than the bound __next__.
_numbers = itertools.count(1)
_numbering = allocate_lock()  # gives a number to an envelope that has none, once


def _reseed() -> None:
    # The counter keeps going in a forked child: an envelope made before the fork and first
    # read after it cannot then share a number with one the child makes.
    global _prefix, _numbering
    _prefix = os.urandom(8).hex() + "-"
    _numbering = allocate_lock()  # another thread may have held it at the fork


_reseed()
os.register_at_fork(after_in_child=_reseed)  # a forked child must not repeat its parent's ids
# One encoder and one decoder, made once: json.dumps with options builds a new encoder on
# every call, and json.loads adds argument checks to the decoder's work.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_decode = json.JSONDecoder().decode


def new_id() -> str:
    """A new event id, unique across processes (uuid4 costs several times more)."""
    return f"{_prefix}{next(_numbers):x}"


class Envelope:
    """One event: a dotted ``type`` (its topic), the ``data`` and who, when, why and how urgent;
    and its ``key``, if it has one: on Redis, events of one key go to one consumer, in order.

    Treat it as immutable: the bus shares one instance among subscribers. ``metadata`` is a
    read-only mapping; the bus records delivery ``attempts`` there on redelivery.
    """

    __slots__ = ("_id", *_FIELDS[1:], "_receipt")

    def __init__(
        self,
        type: str,
        data: Any = None,
        source: str | None = None,
        priority: int = DEFAULT_PRIORITY,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        metadata: Mapping[str, Any] = EMPTY,
        *,
        id: str | None = None,
        time: float | None = None,
        schema_version: int = SCHEMA_VERSION,
        key: str | None = None,
    ) -> None:
        # An int id is a number from the per-process counter, formatted on first read: the
        # in-memory bus publishes many events nobody asks the id of.
        self._id: str | int | None = id or next(_numbers)
        self.type = type
        self.data = data
        self.time = _now() if time is None else time
        self.source = source
        self.priority = priority
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.schema_version = schema_version
        self.metadata = metadata
        self.key = key

    @property
    def id(self) -> str:
        """Unique across processes."""
        value = self._id
        if value is None:  # built by the in-memory bus: numbered on first read
            value = self._number()
        if type(value) is int:
            value = self._id = f"{_prefix}{value:x}"
        return value  # type: ignore[return-value]

    def _number(self) -> str | int:
        # Under a lock: two threads reading a fresh id at once must not give it two numbers.
        with _numbering:
            if self._id is None:
                self._id = next(_numbers)
            return self._id

    @property
    def receipt(self) -> Any:
        """A backend's handle to acknowledge this delivery (Redis: stream, entry id); not sent."""
        return getattr(self, "_receipt", None)  # left unset on the in-memory hot path

    @receipt.setter
    def receipt(self, value: Any) -> None:
        self._receipt = value

    @property
    def attempts(self) -> int:
        """Which delivery attempt this is, for the handler that receives it (1 the first time)."""
        return int(self.metadata.get("attempts", 1))

    def with_metadata(self, **updates: Any) -> Envelope:
        """A copy whose metadata has these keys added or replaced."""
        copy = self.replace()
        copy.metadata = MappingProxyType({**self.metadata, **updates})
        return copy

    def replace(self, **changes: Any) -> Envelope:
        """A copy with some fields changed."""
        fields = {name: getattr(self, name) for name in _FIELDS}
        fields.update(changes)
        copy = Envelope(**fields)
        copy.receipt = self.receipt
        return copy

    def to_dict(self) -> dict[str, Any]:
        """The envelope as plain data (its JSON shape)."""
        fields = {name: getattr(self, name) for name in _FIELDS}
        fields["metadata"] = dict(self.metadata)
        return fields

    def to_json(self) -> str:
        """Compact, strict JSON (no NaN); EventSerializationError names the event type.

        Fields at their default (no source, priority 5, ...) are left out: smaller and faster.
        """
        fields: dict[str, Any] = {"id": self.id, "type": self.type, "time": self.time}
        if self.source is not None:
            fields["source"] = self.source
        if self.priority != DEFAULT_PRIORITY:
            fields["priority"] = self.priority
        if self.correlation_id is not None:
            fields["correlation_id"] = self.correlation_id
        if self.causation_id is not None:
            fields["causation_id"] = self.causation_id
        if self.schema_version != SCHEMA_VERSION:
            fields["schema_version"] = self.schema_version
        if self.metadata:
            fields["metadata"] = dict(self.metadata)
        if self.key is not None:
            fields["key"] = self.key
        fields["data"] = self.data
        try:
            return _encode(fields)
        except (TypeError, ValueError) as exc:
            raise EventSerializationError(
                f"event '{self.type}' (id {self.id}) data is not JSON-serializable: {exc}; "
                "accepted: dict, list, str, int, float (finite), bool and None"
            ) from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        """Parse ``to_json`` output; EventDecodeError says what is wrong."""
        try:
            fields = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EventDecodeError(f"not a JSON envelope: {exc}") from exc
        return cls.from_dict(fields)

    @classmethod
    def from_trusted_json(cls, text: str | bytes) -> Envelope:
        """Parse ``to_json`` output known to be intact (its signature checked): no field checks.

        Raises ValueError, KeyError, TypeError or AttributeError on anything else.
        """
        f = _decode(text if type(text) is str else text.decode())  # type: ignore[union-attr]
        get = f.get
        metadata = get("metadata")
        envelope = BareEnvelope()  # Envelope(...), without the cost of calling a class
        envelope._id = f["id"]
        envelope.type = f["type"]
        envelope.data = get("data")
        envelope.time = f["time"]
        envelope.source = get("source")
        envelope.priority = get("priority", DEFAULT_PRIORITY)
        envelope.correlation_id = get("correlation_id")
        envelope.causation_id = get("causation_id")
        envelope.schema_version = get("schema_version", SCHEMA_VERSION)
        envelope.metadata = MappingProxyType(metadata) if metadata else EMPTY
        envelope.key = get("key")
        return envelope

    @classmethod
    def from_dict(cls, fields: Any) -> Envelope:
        """Build from ``to_dict`` output, checking every field."""
        if not isinstance(fields, Mapping):
            raise EventDecodeError(f"an envelope must be a JSON object, got {type(fields).__name__}")
        missing = [name for name in ("id", "type", "time") if name not in fields]
        if missing:
            raise EventDecodeError(f"envelope lacks field(s) {', '.join(missing)}")
        unknown = sorted(set(fields) - set(_FIELDS))
        if unknown:
            raise EventDecodeError(f"envelope has unknown field(s) {', '.join(unknown)}")
        _check_fields(fields)
        values = dict(fields)
        values["metadata"] = MappingProxyType(dict(values.get("metadata") or {}))
        return cls(**values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Envelope):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return (
            f"Envelope(type={self.type!r}, id={self.id!r}, source={self.source!r}, "
            f"priority={self.priority}, data={self.data!r})"
        )


class BareEnvelope(Envelope):
    """An ``Envelope`` whose fields the caller sets one by one; it runs no ``__init__``.

    Calling a class that has a Python ``__init__`` costs about as much as the rest of an
    in-memory publish, so the bus's hot path builds its envelopes this way. It is an
    ``Envelope`` in every respect but ``type(...)``; the caller must set every field, and may
    set ``_id`` to None: the id is then drawn when first read (most are never read).
    """

    __slots__ = ()
    if TYPE_CHECKING:

        def __init__(self) -> None: ...

    else:
        __init__ = object.__init__  # instantiating runs no Python code


class DefaultEnvelope(BareEnvelope):
    """A ``BareEnvelope`` whose priority, schema version, metadata and key are the defaults.

    They are class attributes, not stored per event: the in-memory bus's hot path publishes
    only such events, and four stores fewer (and four fields fewer for the garbage collector
    to visit while a burst sits queued) are a measurable share of a publish. Those four fields
    cannot be assigned on it; nothing assigns fields of an envelope it did not build (copies
    come from ``replace``), and copying or pickling one gives an ``Envelope`` (``__reduce__``).
    """

    __slots__ = ()
    priority = DEFAULT_PRIORITY
    schema_version = SCHEMA_VERSION
    metadata = EMPTY
    key = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.to_dict(),))


class UnattributedEnvelope(DefaultEnvelope):
    """A ``DefaultEnvelope`` that has no source, correlation id or causation id either.

    Most in-memory publishes name none of the three; as class attributes (None) they cost no
    store and no visit by the garbage collector, which counts while a burst sits queued.
    """

    __slots__ = ()
    source = correlation_id = causation_id = None


def _rebuild(fields: dict[str, Any]) -> Envelope:
    fields["metadata"] = MappingProxyType(fields["metadata"])
    return Envelope(**fields)


def check_priority(priority: object) -> int:
    """The priority if it is an int in 0..10; ValueError otherwise."""
    if type(priority) is not int or not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(
            f"priority {priority!r} is invalid: use an int from {MIN_PRIORITY} (lowest) "
            f"to {MAX_PRIORITY} (highest); the default is {DEFAULT_PRIORITY}"
        )
    return priority


def check_schema_version(version: int | None) -> int:
    """The payload's schema version (1 when None) if it is an int >= 1; ValueError otherwise."""
    if version is None:
        return SCHEMA_VERSION
    if type(version) is not int or version < 1:
        raise ValueError(f"schema_version {version!r} is invalid: use an int >= 1 (the default is {SCHEMA_VERSION})")
    return version


def _check_fields(fields: Mapping[str, Any]) -> None:
    kinds: dict[str, tuple[type, ...]] = {
        "id": (str,),
        "time": (int, float),
        "source": (str, type(None)),
        "correlation_id": (str, type(None)),
        "causation_id": (str, type(None)),
        "schema_version": (int,),
        "metadata": (dict, type(None)),
        "key": (str, type(None)),
    }
    for name, accepted in kinds.items():
        if name in fields and not isinstance(fields[name], accepted):
            names = " or ".join(kind.__name__ for kind in accepted)
            raise EventDecodeError(f"envelope field '{name}' is {fields[name]!r}; expected {names}")
    try:
        validate_topic(fields["type"])
        check_priority(fields.get("priority", DEFAULT_PRIORITY))
        check_key(fields.get("key"))
    except (InvalidTopicError, ValueError) as exc:
        raise EventDecodeError(f"envelope field is invalid: {exc}") from exc
