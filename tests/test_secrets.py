"""The masker: a secret is hidden in every form text can hold it, before and after serializing."""

from __future__ import annotations

import json

import pytest

from framework.secrets import MASK, SecretMasker
from tests.leaks import SECRETS, forms, leaks


class Holder:
    """An object json.dumps cannot take: it is written as its str()."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __str__(self) -> str:
        return f"Holder({self.secret!r})"


@pytest.mark.parametrize("secret", SECRETS)
def test_every_rendered_form_is_masked_in_text(secret: str) -> None:
    """Raw, JSON-escaped (ASCII or not) and repr- or ascii-escaped, the secret becomes the mask."""
    masker = SecretMasker([secret])
    for form in forms(secret):
        assert masker(f"before {form} after") == f"before {MASK} after", form


@pytest.mark.parametrize("secret", SECRETS)
def test_dumps_leaves_no_form_of_a_secret(secret: str) -> None:
    """Strings anywhere in the data (keys, lists, str() of objects, JSON inside a string) are masked."""
    data = {
        "plain": secret,
        "inside": f"user:{secret}@host",
        secret: "as a key",
        "nested": [{"deep": [secret, 3, None, True, 1.5]}],
        "object": Holder(secret),
        "json": json.dumps({"token": secret}),
        "tuple": (secret,),
    }
    text = SecretMasker([secret]).dumps(data)
    assert leaks(text, secret) == []
    decoded = json.loads(text)
    assert decoded["plain"] == MASK and decoded["nested"][0]["deep"][1:] == [3, None, True, 1.5]


def test_dumps_without_secrets_is_plain_json() -> None:
    """With nothing to mask, dumps writes what json.dumps(default=str) writes."""
    data = {"a": [1, "é", None], "b": Holder("x")}
    assert SecretMasker().dumps(data) == json.dumps(data, default=str)


def test_short_values_are_not_secrets() -> None:
    """One- and two-character values are left alone, in every form: masking them garbles text."""
    assert SecretMasker(["é", "ab", None]).dumps({"k": "é ab"}) == '{"k": "\\u00e9 ab"}'
