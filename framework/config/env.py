"""The environment layer: ``<PREFIX>__<PATH>__<TO>__<KEY>=value`` as Hydra overrides.

Values are parsed as YAML and handed to Hydra as data: quoted, with every ``${`` escaped, so an
env var can never pull another value (a secret, say) into its key by interpolation. Each is
held to the nesting and alias limits of ``bounded_yaml`` and the element limit of
``override_size`` before Hydra parses it, at launch and at every reload.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from framework.config.bounded_yaml import YamlLimitError, load_yaml
from framework.config.override_size import MAX_ELEMENTS, TOO_MANY, elements_in_text, elements_in_value
from framework.config.plain import dotted_keys
from framework.errors import EnvOverrideError

if TYPE_CHECKING:  # imported where used: a start-up with no env var to apply needs neither
    from omegaconf import DictConfig

SEPARATOR = "__"


class DataOverride(Protocol):
    """An override whose value is data (an env var's, the fleet overlay's), not typed text."""

    @property
    def origin(self) -> str: ...  # "env DEMO__APP__NAME", "fleet overlay v7 (set ... by ...)"

    @property
    def text(self) -> str: ...  # the Hydra override it becomes

    @property
    def value(self) -> Any: ...  # the data, as the layer gave it


@dataclass(frozen=True)
class EnvOverride:
    """One variable under the prefix: its name, the Hydra override it becomes, its value."""

    name: str
    text: str  # "app.name='x'", "++new.key=1" or "profile=fast" (a group option)
    value: Any  # as parsed from YAML (the option name, for a group)

    @property
    def origin(self) -> str:
        return f"env {self.name}"


def env_overrides(
    prefix: str,
    environ: Mapping[str, str],
    config: DictConfig,
    known_key: Callable[[str, DictConfig], bool] | None,
    config_dir: Path,
) -> list[EnvOverride]:
    """An override for every variable under the prefix, sorted by name."""
    head = f"{prefix}{SEPARATOR}"
    result = []
    for name in sorted(n for n in environ if n.startswith(head)):
        parts = name[len(head) :].split(SEPARATOR)
        group = "/".join(p.lower() for p in parts)
        if (config_dir / group).is_dir():  # <PREFIX>__PROFILE=fast selects a group option
            if elements_in_text(environ[name]) > MAX_ELEMENTS:  # handed to Hydra as typed
                raise EnvOverrideError(f"env var {name}: {TOO_MANY}")
            result.append(EnvOverride(name, f"{group}={environ[name]}", environ[name]))
            continue
        key, exists = _match_key(config, parts)
        if not exists and not (known_key and known_key(key, config)):
            raise EnvOverrideError(_unknown_env_message(name, key, config))
        value = _parsed(name, environ[name])
        try:
            text = hydra_literal(value)
        except ValueError as exc:
            raise EnvOverrideError(f"env var {name}: {exc}") from None
        result.append(EnvOverride(name, f"{'' if exists else '++'}{key}={text}", value))
    return result


def _parsed(name: str, text: str) -> Any:
    """The variable's value as YAML, held to the nesting, alias and element limits; the error
    names the variable and where, never the value."""
    try:
        value = load_yaml(text, f"env var {name}") if text else ""
    except YamlLimitError as exc:
        line, column = exc.where()
        raise EnvOverrideError(
            f"env var {name}: {exc.problem} (line {line}, column {column} of its value, which is not"
            " shown, as it may be a secret)"
        ) from None  # the error's text shows a snippet of the value
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise EnvOverrideError(
            f"env var {name} is not valid YAML{where}; its value is not shown, as it may be a"
            f" secret. Quote it to pass it as a string: {name}=\"'...'\""
        ) from None  # the YAML error quotes the value
    if elements_in_value(value) > MAX_ELEMENTS:
        raise EnvOverrideError(f"env var {name}: {TOO_MANY}")
    return value


def _match_key(config: DictConfig, parts: Sequence[str]) -> tuple[str, bool]:
    """Map env var segments to config keys case-insensitively."""
    from omegaconf import DictConfig

    node: Any = config
    keys: list[str] = []
    for part in parts:
        candidates = {str(k).lower(): str(k) for k in node} if isinstance(node, DictConfig) else {}
        key = candidates.get(part.lower())
        if key is None:
            keys.extend(p.lower() for p in parts[len(keys) :])
            return ".".join(keys), False
        keys.append(key)
        node = node._get_node(key)
    return ".".join(keys), True


def _unknown_env_message(name: str, key: str, config: DictConfig) -> str:
    from omegaconf import OmegaConf

    known = dotted_keys(OmegaConf.to_container(config, resolve=False))
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"env var {name} sets '{key}', which is not a key of the config{hint}"


def hydra_literal(value: Any) -> str:
    """A YAML-parsed value in Hydra's override grammar, strings as literal data."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(hydra_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_dict_key(k)}:{hydra_literal(v)}" for k, v in value.items()) + "}"
    return quoted(_RAW_INTERPOLATION.sub(_escape_interpolation, str(value)))


# What Hydra's grammar lets a mapping key hold, once its special characters are escaped: it
# has no quoted keys, so a key with any other character cannot be passed as an override.
_KEY_CHARACTERS = re.compile(r"[A-Za-z0-9_/\\+.$%*@?|()\[\]{}:=, \t-]+")


def _dict_key(key: Any) -> str:
    """A mapping key in Hydra's override grammar; ValueError (never showing it) if it cannot be."""
    text = str(key)
    if not _KEY_CHARACTERS.fullmatch(text) or text != text.strip() or "${" in text:
        raise ValueError(
            "a mapping key in its value holds a character an override cannot carry (keys may hold"
            " ASCII letters, digits, spaces inside and _/\\+.$%*@?|()[]{}:=,-), and is not shown, as"
            " it may be a secret; put the mapping in a YAML file of the config instead"
        )
    from hydra._internal.grammar.utils import escape_special_characters  # Hydra's own escaping

    return escape_special_characters(text)


# OmegaConf reads `\${` as a literal `${`, and `\\${` as a backslash before an interpolation:
# a run of backslashes before `${` is doubled, then the `${` itself escaped.
_RAW_INTERPOLATION = re.compile(r"(\\*)\$\{")


def _escape_interpolation(match: re.Match[str]) -> str:
    return match.group(1) * 2 + "\\${"


# In a quoted Hydra value only backslashes before a quote or at the end are escapes.
_BEFORE_QUOTE = re.compile(r"(\\*)'")
_AT_END = re.compile(r"(\\+)$")


def quoted(text: str) -> str:
    """``text`` as a single-quoted Hydra value that parses back to exactly ``text``."""
    text = _BEFORE_QUOTE.sub(lambda m: m.group(1) * 2 + "\\'", text)
    return "'" + _AT_END.sub(lambda m: m.group(1) * 2, text) + "'"
