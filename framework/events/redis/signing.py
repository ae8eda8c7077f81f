"""Signed entries: HMAC-SHA256 bound to a stream, and opening an entry into a verified envelope.

An entry has one field, ``e``: the hex HMAC-SHA256 of ``<length of the stream key>:<stream
key>`` followed by the envelope JSON, then that JSON. (One field, not two: each field costs a
RESP element to pack and parse per entry.) Binding the stream key means a genuine entry copied
into another stream (another topic's, or another prefix's) no longer verifies there. Opening
says why an entry is not an event of this stream, in the terms a dead letter records.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from framework.events.envelope import MAX_PRIORITY, Envelope
from framework.events.errors import EventDecodeError
from framework.events.records import DeadLetterReason

FIELD, SIGNATURE_LENGTH = b"e", 64
FINGERPRINT_LENGTH = 32  # hex digits of a signature that name it in the replay records
_BOUND_STREAMS = 1024  # keyed states kept per signer (topics, dead letters, reply streams)

Opened = tuple[Envelope | None, DeadLetterReason | None, str]
"""An opened entry: the envelope, or None with the reason and an explanation."""


class Signer:
    """HMAC-SHA256 over a stream key and the serialized envelope; the key never shows in a repr.

    The HMAC is keyed once, and once more per stream with the stream key absorbed; each message
    copies that state (the keyed inner and outer hash states) instead of keying a new one,
    which costs about twice as much. ``stream_of`` (a topic's stream key) lets opening tell an
    entry moved from another topic's stream from a forged one.
    """

    __slots__ = ("_keyed", "_streams", "_stream_of")

    def __init__(self, key: str, stream_of: Callable[[str], str] | None = None) -> None:
        self._keyed = hmac.new(key.encode(), digestmod=hashlib.sha256)
        self._streams: dict[str, Any] = {}
        self._stream_of = stream_of

    def sign(self, payload: bytes, stream: str | None = None) -> bytes:
        """The hex signature of a payload, bound to ``stream`` when one is given."""
        mac = (self._keyed if stream is None else self._bound(stream)).copy()
        mac.update(payload)
        return mac.hexdigest().encode()

    def verify(self, payload: bytes, signature: bytes, stream: str | None = None) -> bool:
        """Whether a signature matches (compared in constant time)."""
        return hmac.compare_digest(self.sign(payload, stream), signature)

    def seal(self, envelope: Envelope, stream: str) -> bytes:
        """The value of an entry's field ``e`` in ``stream``: the signature, then the JSON."""
        payload = envelope.to_json().encode()
        return self.sign(payload, stream) + payload

    def fields(self, envelope: Envelope, stream: str) -> dict[bytes, bytes]:
        """The fields of an entry carrying an envelope in ``stream``."""
        return {FIELD: self.seal(envelope, stream)}

    def open_entry(self, fields: Mapping[bytes, bytes] | None, stream: str) -> Opened:
        """The verified envelope of an entry read from ``stream``, or None with the reason."""
        return self.open_value((fields or {}).get(FIELD), stream)

    def open_value(self, value: bytes | None, stream: str) -> Opened:
        """``open_entry`` given the value of the entry's field ``e`` (None when it has none)."""
        if value is None:
            return None, DeadLetterReason.UNDECODABLE, "no 'e' field: not an event of this bus"
        if value[:1] == b"{":
            return None, DeadLetterReason.UNSIGNED, "entry carries no signature"
        signature, payload = value[:SIGNATURE_LENGTH], value[SIGNATURE_LENGTH:]
        if not self.verify(payload, signature, stream):
            return self._unverified(payload, signature, stream)
        try:
            # Signed means written by to_json with our key: skip the per-field checks...
            envelope = Envelope.from_trusted_json(payload.decode())
            if (
                type(envelope.priority) is int
                and 0 <= envelope.priority <= MAX_PRIORITY
                and type(envelope.time) is float  # the replay window compares it
            ):
                return envelope, None, ""
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        try:  # ...unless it looks odd (another version, say): then say what is wrong.
            return Envelope.from_json(payload), None, ""
        except EventDecodeError as exc:
            return None, DeadLetterReason.UNDECODABLE, f"signed but not an envelope: {exc}"

    def _unverified(self, payload: bytes, signature: bytes, stream: str) -> Opened:
        """Why a signature does not match: signed for its own topic's stream, or forged."""
        home = self._home(payload)
        if home is not None and home != stream:
            mac = self._binding(home)  # not cached: the type is not verified yet
            mac.update(payload)
            if hmac.compare_digest(mac.hexdigest().encode(), signature):
                return (
                    None,
                    DeadLetterReason.WRONG_STREAM,
                    f"signed for stream '{home}' but read from '{stream}': a genuine entry "
                    "copied or moved into another topic's stream",
                )
        return (
            None,
            DeadLetterReason.BAD_SIGNATURE,
            "HMAC-SHA256 signature does not match: forged, altered, signed with another key "
            "or for another stream",
        )

    def _home(self, payload: bytes) -> str | None:
        """The stream of the type an (unverified) payload names, if it names one."""
        if self._stream_of is None:
            return None
        try:
            kind = json.loads(payload).get("type")
        except (ValueError, AttributeError, RecursionError):
            return None
        return self._stream_of(kind) if type(kind) is str else None

    def _bound(self, stream: str) -> Any:
        keyed = self._streams.get(stream)
        if keyed is None:
            if len(self._streams) >= _BOUND_STREAMS:  # reply streams of many requesters, say
                self._streams.clear()
            keyed = self._streams[stream] = self._binding(stream)
        return keyed

    def _binding(self, stream: str) -> Any:
        """The keyed state after ``<length>:<stream key>``: unambiguous for any stream key."""
        mac = self._keyed.copy()
        key = stream.encode()
        mac.update(b"%d:%s" % (len(key), key))
        return mac

    def __repr__(self) -> str:
        return "Signer(key=***)"


def fingerprint(value: bytes | None) -> bytes | None:
    """What the replay records key an entry's value on: its signature's first 32 hex digits.

    None for a value that carries no signature. ``READ_LUA`` takes the same digits.
    """
    if value is None or len(value) <= SIGNATURE_LENGTH or value[:1] == b"{":
        return None
    return value[:FINGERPRINT_LENGTH]
