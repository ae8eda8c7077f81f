"""Signed entries: HMAC-SHA256 signing, and opening an entry back into a verified envelope.

An entry has one field, ``e``: the hex HMAC-SHA256 of the envelope JSON, then that JSON.
(One field, not two: each field costs a RESP element to pack and parse per entry.) Opening
says why an entry is not an event of this bus, in the terms a dead letter records.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from framework.events.envelope import MAX_PRIORITY, Envelope
from framework.events.errors import EventDecodeError
from framework.events.records import DeadLetterReason

FIELD, SIGNATURE_LENGTH = b"e", 64

Opened = tuple[Envelope | None, DeadLetterReason | None, str]
"""An opened entry: the envelope, or None with the reason and an explanation."""


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

    def seal(self, envelope: Envelope) -> bytes:
        """The value of an entry's field ``e``: the signature, then the envelope JSON."""
        payload = envelope.to_json().encode()
        return self.sign(payload) + payload

    def fields(self, envelope: Envelope) -> dict[bytes, bytes]:
        """The fields of an entry carrying an envelope."""
        return {FIELD: self.seal(envelope)}

    def open_entry(self, fields: Mapping[bytes, bytes] | None) -> Opened:
        """The verified envelope of an entry, or None with the reason and an explanation."""
        return self.open_value((fields or {}).get(FIELD))

    def open_value(self, value: bytes | None) -> Opened:
        """``open_entry`` given the value of the entry's field ``e`` (None when it has none)."""
        if value is None:
            return None, DeadLetterReason.UNDECODABLE, "no 'e' field: not an event of this bus"
        if value[:1] == b"{":
            return None, DeadLetterReason.UNSIGNED, "entry carries no signature"
        signature, payload = value[:SIGNATURE_LENGTH], value[SIGNATURE_LENGTH:]
        if not self.verify(payload, signature):
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

    def __repr__(self) -> str:
        return "Signer(key=***)"
