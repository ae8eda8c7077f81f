"""Signed stream entries: the shared ``Signer`` (``framework.events.signing``) in an entry's field.

An entry has one field, ``e``: the sealed envelope (its hex HMAC-SHA256, bound to the stream
key, then the JSON). One field, not two: each field costs a RESP element to pack and parse per
entry.
"""

from __future__ import annotations

from collections.abc import Mapping

from framework.events.envelope import Envelope
from framework.events.records import DeadLetterReason
from framework.events.signing import SIGNATURE_LENGTH, Opened
from framework.events.signing import Signer as SealSigner

__all__ = ["FIELD", "FINGERPRINT_LENGTH", "SIGNATURE_LENGTH", "Opened", "Signer", "fingerprint"]

FIELD = b"e"
FINGERPRINT_LENGTH = 32  # hex digits of a signature that name it in the replay records


class Signer(SealSigner):
    """``framework.events.signing.Signer``, with the sealed value kept in an entry's field ``e``."""

    __slots__ = ()

    def fields(self, envelope: Envelope, stream: str) -> dict[bytes, bytes]:
        """The fields of an entry carrying an envelope in ``stream``."""
        return {FIELD: self.seal(envelope, stream)}

    def open_entry(self, fields: Mapping[bytes, bytes] | None, stream: str) -> Opened:
        """The verified envelope of an entry read from ``stream``, or None with the reason."""
        value = (fields or {}).get(FIELD)
        if value is None:
            return None, DeadLetterReason.UNDECODABLE, "no 'e' field: not an event of this bus"
        return self.open_value(value, stream)


def fingerprint(value: bytes | None) -> bytes | None:
    """What the replay records key an entry's value on: its signature's first 32 hex digits.

    None for a value that carries no signature. ``READ_LUA`` takes the same digits.
    """
    if value is None or len(value) <= SIGNATURE_LENGTH or value[:1] == b"{":
        return None
    return value[:FINGERPRINT_LENGTH]
