"""Cross-field checks: a component class's ``validate_config(config)``, after its schema.

A schema checks each value on its own; some values are valid one by one but not together (a
fast window no smaller than the slow one). A component class says so in ``validate_config``,
a plain function, classmethod or staticmethod taking the normalized config and returning None
or a list of problems. A problem written ``"key: message"``, where ``key`` (dotted) is a key
of the config, is reported at that key with its value and origin, like a schema problem;
any other text is reported at the component's config as a whole.

It runs only when the schema found nothing wrong, so it may rely on every type and default.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from framework.config.schema import Problem
from framework.config.snapshot import freeze
from framework.secrets import SecretMasker, secret_values
from framework.types import KeyPath

# A class's validate_config, called with the normalized config (read-only).
ConfigCheck = Callable[[Mapping[str, Any]], Any]

_MISSING = object()


def cross_field_problems(check: ConfigCheck, config: Mapping[str, Any], secrets: Collection[KeyPath]) -> list[Problem]:
    """What ``check`` finds wrong with ``config``; ``secrets``: its secret keys, relative to it.

    The texts are the class's own, which may quote a secret value: each is masked.
    """
    try:
        found = check(freeze(config))
    except Exception as exc:  # a check that breaks is a problem of this config, not a crash
        found = [f"validate_config raised {type(exc).__name__}: {exc}"]
    if found is None:
        return []
    if not isinstance(found, list | tuple) or not all(isinstance(text, str) for text in found):
        found = [f"validate_config returned {type(found).__name__}; it must return None or a list of str"]
    masker = SecretMasker(secret_values(config, secrets))
    return [_located(masker(text), config) for text in found]


def _located(text: str, config: Mapping[str, Any]) -> Problem:
    """The problem at the key its text starts with (``"key: message"``), else at the config."""
    key, separator, message = text.partition(": ")
    if separator and message:
        path = tuple(key.strip().split("."))
        value = _at(config, path)
        if value is not _MISSING:
            return Problem(path, message, value, True)
    return Problem((), text, None, False)


def _at(config: Any, path: KeyPath) -> Any:
    for part in path:
        if not isinstance(config, Mapping) or part not in config:
            return _MISSING
        config = config[part]
    return config
