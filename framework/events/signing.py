"""Signed events: HMAC-SHA256 bound to where an event travels, and opening a sealed value.

A sealed value is the hex HMAC-SHA256 of ``<length of the address>:<address>`` followed by the
envelope JSON, then that JSON. The address names where the event travels: a Redis stream key,
or a RabbitMQ exchange and routing key. Binding it means a genuine event copied to another
topic (or another prefix, or exchange) no longer verifies there. Opening says why a value is
not an event of that address, in the terms a dead letter records. Every backend signs alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from framework.events.envelope import MAX_PRIORITY, Envelope
from framework.events.errors import EventDecodeError
from framework.events.records import DeadLetterReason

SIGNATURE_LENGTH = 64
_BOUND_STREAMS = 1024  # keyed states kept per signer (topics, dead letters, reply addresses)

Opened = tuple[Envelope | None, DeadLetterReason | None, str]
"""An opened value: the envelope, or None with the reason and an explanation."""


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
        """An envelope sealed for ``stream``: the hex signature, then the JSON."""
        payload = envelope.to_json().encode()
        return self.sign(payload, stream) + payload

    def open_value(self, value: bytes | None, stream: str) -> Opened:
        """The verified envelope of a sealed value read from ``stream``, or None with the reason.

        None stands for a message or entry that carries no sealed value at all.
        """
        if value is None:
            return None, DeadLetterReason.UNDECODABLE, "no sealed value: not an event of this bus"
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
