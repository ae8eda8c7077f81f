"""Secrets: the mask, what counts as a secret key, and the masker that scrubs text.

A schema marks a key ``secret: True``; its value (and everything under it) is shown as
``MASK`` wherever a config could be shown, and so is the credential of any URL-valued string
(``redis://user:***@host/0``, ``https://***@host``). Three passes keep secrets in: values are masked per key before
anything is serialized (``mask``: values, and the command-line arguments provenance names);
whatever else is serialized has each of its strings masked first (``SecretMasker.scrub``,
``SecretMasker.dumps``); and finished text goes through a ``SecretMasker`` as a last line of
defence (logs, error messages, HTTP bodies). The masker knows each secret as it is rendered, not
only as it is: escaped inside a JSON string (with and without ``ensure_ascii``) and inside a
Python repr, so a quote, a backslash, a control character or a non-ASCII character in a secret
does not let it through.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from framework.types import KeyPath

MASK = "***"
_MIN_SECRET_LENGTH = 3  # masking one- or two-character values would garble every line


def is_secret(path: KeyPath, secrets: Iterable[KeyPath]) -> bool:
    """A key is secret when it, or an ancestor, is marked secret.

    A list item's keys are marked under the list's path (``alerts.webhooks.url``), while a
    validation error names the item (``alerts.webhooks.0.url``): index segments are skipped too.
    """
    secrets = tuple(secrets)
    if any(path[: len(s)] == s for s in secrets):
        return True
    items = tuple(part for part in path if not part.isdigit())
    return items != path and any(items[: len(s)] == s for s in secrets)


def mask(value: Any, path: KeyPath, secrets: Collection[KeyPath]) -> Any:
    """A plain copy of ``value`` (found at ``path``) with every secret replaced by the mask, and
    every URL's credential."""
    return _masked(value, path, frozenset(secrets), is_secret(path, secrets))


def _masked(value: Any, path: KeyPath, secrets: frozenset[KeyPath], secret: bool) -> Any:
    # Below ``path`` a key is secret when it is marked itself: a set lookup, not a scan.
    if secret:
        return MASK if value is not None else None
    if isinstance(value, Mapping):
        return {k: _masked(v, (*path, k), secrets, (*path, k) in secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v, path, secrets, False) for v in value]
    return mask_url(value) if isinstance(value, str) else value


def secret_values(data: Any, secrets: Collection[KeyPath]) -> list[Any]:
    """Every value at or under a secret key of ``data``, and every URL credential in it: what
    finished text must not show."""
    found: list[Any] = []
    _collect(data, (), frozenset(secrets), is_secret((), secrets), found)
    return found


def _collect(value: Any, path: KeyPath, secrets: frozenset[KeyPath], secret: bool, found: list[Any]) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            child_path = (*path, str(key))
            _collect(child, child_path, secrets, secret or child_path in secrets, found)
    elif isinstance(value, list | tuple):
        for child in value:
            _collect(child, path, secrets, secret, found)
    elif secret:
        found.append(value)
    elif isinstance(value, str) and (password := url_credential(value)) is not None:
        found.append(password)


def url_credential(text: str) -> str | None:
    """The credential in a URL's userinfo, or None: the password of ``scheme://user:PASSWORD@host``,
    or all of a userinfo without one, ``https://TOKEN@host`` (how tokens ride in git and API URLs)."""
    if "://" not in text or "@" not in text:
        return None
    try:
        netloc = urlsplit(text).netloc
    except ValueError:  # not a URL after all (an unbalanced IPv6 bracket, say)
        return None
    userinfo, at, _ = netloc.rpartition("@")
    if not at:
        return None
    user, colon, password = userinfo.partition(":")
    return (password if colon else user) or None


def mask_url(text: str) -> str:
    """``text`` with the credential of its URL masked; scheme, user (beside a password), host and
    path stay readable."""
    if url_credential(text) is None:
        return text
    netloc = urlsplit(text).netloc
    userinfo, _, host = netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    return text.replace(netloc, f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}", 1)


def rendered_forms(secret: str) -> set[str]:
    """The ways ``secret`` shows up in text: as is, inside a JSON string, inside a Python repr or ascii."""
    return {
        secret,
        json.dumps(secret)[1:-1],  # json.dumps: quote, backslash, controls and non-ASCII escaped
        json.dumps(secret, ensure_ascii=False)[1:-1],  # FastAPI's JSONResponse: non-ASCII as is
        repr(secret)[1:-1],  # f"{value!r}", reprs of containers and exceptions
        ascii(secret)[1:-1],  # f"{value!a}": the repr with non-ASCII escaped
    }


class SecretMasker:
    """Replaces known secret values in text; ``update`` when a reload brings new secrets."""

    def __init__(self, values: Iterable[Any] = ()) -> None:
        self._forms: list[str] = []
        self.update(values)

    def update(self, values: Iterable[Any]) -> None:
        texts = {str(v) for v in values if v is not None and len(str(v)) >= _MIN_SECRET_LENGTH}
        forms = {form for text in texts for form in rendered_forms(text)}
        self._forms = sorted(forms, key=len, reverse=True)  # longest first: no partial leaks

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def scrub(self, data: Any) -> Any:
        """A JSON-ready copy of ``data`` with every string in it masked (others become ``str``)."""
        if isinstance(data, str):
            return self(data)
        if data is None or isinstance(data, bool | int | float):
            return data
        if isinstance(data, dict):
            return {self(k) if isinstance(k, str) else k: self.scrub(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.scrub(v) for v in data]
        return self(str(data))  # what json.dumps(..., default=str) would have written

    def dumps(self, data: Any) -> str:
        """``data`` as JSON with no secret in it: strings masked before, the text after serializing."""
        if not self._forms:
            return json.dumps(data, default=str)
        return self(json.dumps(self.scrub(data)))


# The process's masker: the logging sinks and the CLI's error output pass text through it.
# The running app updates it with each committed snapshot's secret values.
masker = SecretMasker()


def reset_masker() -> None:
    """Forget every secret value the process's masker knows (tests start from a clean slate)."""
    masker.update(())
