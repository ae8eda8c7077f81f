"""The fleet overlay layer: values a whole fleet shares, laid between the files and the env layer.

Precedence, lowest first: schema defaults < files < fleet overlay < env < command line. The
overlay is plain data (dotted key -> value) that the fleet layer fetched from its store; here
it only becomes Hydra overrides, as env vars do: quoted data, never text Hydra would interpret,
so an overlay value cannot interpolate another key (a secret, say) into itself.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.config.env import hydra_literal
from framework.config.override_size import MAX_ELEMENTS, TOO_MANY, elements_in_value
from framework.config.plain import dotted_keys
from framework.errors import OverlayError

if TYPE_CHECKING:  # OmegaConf is imported where a config is at hand: an app can start without it
    from omegaconf import DictConfig

ORIGIN = "fleet overlay"  # how provenance tells the overlay layer from env vars and arguments
FLEET_SECTION = "fleet"  # says where the overlay comes from, so the overlay cannot set it
_ABSENT = object()


@dataclass(frozen=True)
class Overlay:
    """One version of a fleet's overlay: its values by dotted key, and who set it when."""

    version: int
    values: Mapping[str, Any]
    set_at: str = ""  # ISO 8601, UTC, to the minute as shown
    set_by: str = ""  # user@host

    @property
    def origin(self) -> str:
        """As provenance shows it: ``fleet overlay v7 (set 2026-12-02T10:00Z by ops@host)``."""
        if self.version <= 0:
            return f"{ORIGIN} (proposed)"
        if not self.set_at:
            return f"{ORIGIN} v{self.version}"
        return f"{ORIGIN} v{self.version} (set {self.set_at} by {self.set_by or 'unknown'})"


@dataclass(frozen=True)
class OverlayOverride:
    """One overlay key as a Hydra override (a ``DataOverride``, as an env var is)."""

    origin: str
    key: str  # dotted
    text: str
    value: Any


def refused_key(key: str, config_dir: Path) -> str | None:
    """Why the overlay may not set ``key`` (a dotted path), or None when it may."""
    parts = key.split(".")
    if not key or any(not part for part in parts):
        return "a key is a dotted path such as components.feed.config.interval"
    if parts[0] == FLEET_SECTION:
        return "the fleet section says where the overlay comes from; set it in the files, env or arguments"
    if (config_dir / key.replace(".", "/")).is_dir():
        return "the overlay sets values, not config group options; select the option in the files"
    return None


def overlay_overrides(
    overlay: Overlay,
    config: DictConfig,
    known_key: Callable[[str, DictConfig], bool] | None,
    config_dir: Path,
) -> list[OverlayOverride]:
    """An override per overlay key, sorted by key; OverlayError names a key the config lacks."""
    from omegaconf import OmegaConf

    result = []
    for key in sorted(overlay.values):
        value = overlay.values[key]
        reason = refused_key(key, config_dir)
        if reason is not None:
            raise OverlayError(f"{overlay.origin} sets '{key}': refused, {reason}")
        exists = OmegaConf.select(config, key, default=_ABSENT, throw_on_resolution_failure=False) is not _ABSENT
        if not exists and not (known_key and known_key(key, config)):
            raise OverlayError(_unknown_key_message(overlay, key, config))
        if elements_in_value(value) > MAX_ELEMENTS:
            raise OverlayError(f"{overlay.origin} sets '{key}': {TOO_MANY}")
        try:
            text = hydra_literal(value)
        except ValueError as exc:
            raise OverlayError(f"{overlay.origin} sets '{key}': {exc}") from None
        result.append(OverlayOverride(overlay.origin, key, f"{'' if exists else '++'}{key}={text}", value))
    return result


def _unknown_key_message(overlay: Overlay, key: str, config: DictConfig) -> str:
    from omegaconf import OmegaConf

    known = dotted_keys(OmegaConf.to_container(config, resolve=False))
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{overlay.origin} sets '{key}', which is not a key of the config{hint}"
