"""Secrets: the mask, what counts as a secret key, and the masker that scrubs text.

A schema marks a key ``secret: True``; its value (and everything under it) is shown as
``MASK`` wherever a config could be shown. Two passes keep secrets in: values are masked per
key before anything is serialized (``mask``), and finished text goes through a ``SecretMasker``
as a last line of defence (logs, error messages, HTTP bodies).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from framework.types import KeyPath

MASK = "***"
_MIN_SECRET_LENGTH = 3  # masking one- or two-character values would garble every line


def is_secret(path: KeyPath, secrets: Iterable[KeyPath]) -> bool:
    """A key is secret when it, or an ancestor, is marked secret."""
    return any(path[: len(s)] == s for s in secrets)


def mask(value: Any, path: KeyPath, secrets: frozenset[KeyPath]) -> Any:
    """A plain copy of ``value`` (found at ``path``) with every secret replaced by the mask."""
    if is_secret(path, secrets):
        return MASK if value is not None else None
    if isinstance(value, Mapping):
        return {k: mask(v, (*path, k), secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v, path, secrets) for v in value]
    return value


class SecretMasker:
    """Replaces known secret values in text; ``update`` when a reload brings new secrets."""

    def __init__(self, values: Iterable[Any] = ()) -> None:
        self._secrets: list[str] = []
        self.update(values)

    def update(self, values: Iterable[Any]) -> None:
        texts = {str(v) for v in values if v is not None and len(str(v)) >= _MIN_SECRET_LENGTH}
        self._secrets = sorted(texts, key=len, reverse=True)  # longest first: no partial leaks

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


# The process's masker: the logging sinks and the CLI's error output pass text through it.
# The running app updates it with each committed snapshot's secret values.
masker = SecretMasker()


def reset_masker() -> None:
    """Forget every secret value the process's masker knows (tests start from a clean slate)."""
    masker.update(())
