"""Masking secrets in what composition says when it fails, before any schema has validated.

Composition errors quote what they choke on: an argument as typed, a value OmegaConf cannot
parse. Which keys are secret is the schemas' knowledge, so the loader hands composition a
``SecretPaths`` callable; these helpers ask it about the best tree at hand and mask per key.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from framework.secrets import SecretMasker, is_secret, secret_values, url_credential
from framework.types import KeyPath

# The secret key paths of a plain, unresolved config tree.
SecretPaths = Callable[[Mapping[str, Any]], Collection[KeyPath]]
UNKNOWN: frozenset[KeyPath] = frozenset({()})  # no tree to ask: every key counts as secret


def secret_keys(secret_paths: SecretPaths | None, tree: Any) -> Collection[KeyPath]:
    """The secret keys of ``tree`` (UNKNOWN without one); none when nobody says which are."""
    if secret_paths is None:
        return ()
    return secret_paths(tree) if isinstance(tree, Mapping) else UNKNOWN


def holds_secret(key: str, secrets: Collection[KeyPath]) -> bool:
    """Whether a dotted key (``+``/``~`` prefixes allowed) is secret, lies under one or holds one."""
    path = tuple(part for part in key.lstrip("+~").split(".") if part)
    return any(s[: len(path)] == path or path[: len(s)] == s for s in secrets)


def misspelt_secret(key: str, secrets: Collection[KeyPath]) -> bool:
    """Whether a key that does not exist lies under a secret or looks like a misspelt one."""
    path = tuple(key.split("."))
    if is_secret(path, secrets):
        return True
    siblings = [s[-1] for s in secrets if s[:-1] == path[:-1]]
    return bool(difflib.get_close_matches(path[-1], siblings, n=1, cutoff=0.6))


def masked_error(
    exc: BaseException,
    tree: Mapping[str, Any],
    secrets: Collection[KeyPath],
    overrides: Sequence[str],
    origins: Mapping[str, str] | None = None,
) -> str:
    """The error's words with every secret value in ``tree`` and ``overrides`` masked.

    OmegaConf names the key it failed on and quotes part of its value: that part is kept only
    for a key known to be plain (a file that fails to load names its keys relative to itself,
    so they cannot be placed).
    """
    from omegaconf.errors import GrammarParseError  # a failed compose has imported it already

    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    key = getattr(root, "full_key", None) or ""
    text = str(exc)
    if not text:  # Hydra wraps some OmegaConf errors without a word of its own
        words = str(root).split("\n")[0] or type(root).__name__
        text = f"{key}: {words}" if key else words
    if text.startswith("Error merging override") and "Cannot merge" in str(root):
        # OmegaConf's "Cannot merge DictConfig with ListConfig": a mapping given a list or a value
        sent = text.removeprefix("Error merging override ")
        text = (
            f"{(origins or {}).get(sent, 'override ' + sent)}: '{key}' holds a mapping, which a list or"
            f" a single value cannot replace; set its keys ({key}.x=...)"
        )
    elif key and (holds_secret(key, secrets) or not _has_key(tree, key)):
        hint = "; check its ${...} syntax, or write a literal ${ as \\${" if isinstance(root, GrammarParseError) else ""
        text = f"{key}: {type(root).__name__} in its value (not shown: it may be a secret){hint}"
    values: list[Any] = secret_values(tree, secrets)
    for override in overrides:
        target, _, value = override.partition("=")
        if holds_secret(target, secrets):
            quoted = len(value) > 1 and value[0] in "'\"" and value[-1] == value[0]
            values += [value, value[1:-1]] if quoted else [value]  # as sent, and unquoted
        values.append(url_credential(value))
    return SecretMasker(values)(text)


def _has_key(tree: Any, key: str) -> bool:
    for part in key.split("."):
        if not isinstance(tree, Mapping) or part not in tree:
            return False
        tree = tree[part]
    return True
