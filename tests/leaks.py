"""Secrets with every kind of awkward character, and a search for one in any form text can show.

The forms are spelt out here rather than taken from ``framework.secrets``: a test that asked the
masker which forms to look for would miss exactly the ones the masker forgot.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

SECRETS = [
    pytest.param("pa\"ss\\wo'rd-1", id="quotes-backslash"),
    pytest.param("new\nline\ttab\x01ctl", id="controls"),
    pytest.param("mot-de-passé", id="latin"),
    pytest.param("密码-中文-secret", id="cjk"),
    pytest.param("clé-🔑-emoji", id="emoji"),
]
"""One secret per kind of character a JSON or repr rendering escapes."""


def forms(secret: str) -> set[str]:
    """The secret as text may hold it: raw, JSON-escaped (ASCII or not), repr- and ascii-escaped."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
    }


def leaks(text: str, secret: str) -> list[str]:
    """Every form of ``secret`` found in ``text``, or in any string of the JSON documents it holds."""
    found = [f"{form!r} in the text" for form in sorted(forms(secret)) if form in text]
    for document in _json_documents(text):
        for string in _strings(document):
            found += [f"{form!r} in the JSON string {string!r}" for form in forms(secret) if form in string]
    return found


def _json_documents(text: str) -> list[Any]:
    """``text`` parsed as one JSON document, else each of its lines that parses as one."""
    documents = []
    for chunk in [text, *text.splitlines()]:
        try:
            documents.append(json.loads(chunk))
        except ValueError:
            continue
        if chunk is text:
            break
    return documents


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value (keys too), and those in any JSON document a string holds."""
    if isinstance(value, str):
        nested = _json_documents(value) if value[:1] in ("{", "[") else []
        return [value, *(s for document in nested for s in _strings(document))]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
