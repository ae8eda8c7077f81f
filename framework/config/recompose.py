"""Recomposition on reload: re-merge the files an edit touched, where Hydra's defaults list cannot
have changed; None sends the caller back to a full compose (``compose_config``)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.config.compose import (
    Composition,
    ConfigSource,
    MergedFile,
    Override,
    check_changed_keys_exist,
    merged_values,
)
from framework.config.files import read_text
from framework.config.hydra_files import file_shape, keeps_defaults_list, placed_values
from framework.config.installed import InstalledOverride, installed_overrides
from framework.config.overlay import OverlayOverride, overlay_overrides
from framework.config.plain import holds_interpolation
from framework.config.redaction import UNKNOWN
from framework.config.units import COMPONENTS, touched_by, unit_value
from framework.errors import CompositionError, InstallationError, OverlayError

# Hydra and OmegaConf are imported where overrides are laid or an edited file is parsed: the
# loader imports this module at start-up, which may need neither.
if TYPE_CHECKING:
    from omegaconf import DictConfig


def recompose(
    previous: Composition,
    source: ConfigSource,
    known_key: Callable[[str, DictConfig], bool] | None = None,
    digests: Mapping[str, bytes] | None = None,
) -> Composition | None:
    """Re-merge the files of ``previous`` with the edited ones re-read, as Hydra merges them;
    None when an edit could change Hydra's defaults list (then compose in full).

    A full Hydra compose costs tens of milliseconds for a handful of files, nearly all of it
    building the defaults list; an edit to a file that has no defaults list and keeps its
    package header cannot change that list, so only the merge needs redoing. A new fleet
    overlay is only new overrides: the files' merge is reused and the overrides laid anew.
    ``digests`` (each file's sha256 by its path relative to the config dir, as just hashed):
    a file whose text has that digest is taken as it is, unread; the others are read.
    """
    reread = _reread(previous, source, digests or {})
    if reread is None:
        return None
    files, edited = reread
    if not edited and previous.overlay == source.overlay and previous.installed == source.installed:
        return None  # something else changed (a new file, the primary config): compose in full
    plain = not previous.sent and not source.overlay and not source.installed
    tree = _remerged(previous, files) if plain else None
    if tree is None:
        tree = merged_values(files)
        if tree is None or (plain and holds_interpolation(tree)):
            plain = False
    if tree is None:
        return None
    if plain:
        # Nothing for OmegaConf to do: building its tree would be most of a reload.
        return Composition(
            None, tuple(files), previous.overrides, previous.env_prefix, resolved=tree, overlay=previous.overlay,
            installed=previous.installed,
        )
    return _overridden(previous, source, files, tree, known_key)


def _overridden(
    previous: Composition,
    source: ConfigSource,
    files: list[MergedFile],
    tree: dict[str, Any],
    known_key: Callable[[str, DictConfig], bool] | None,
) -> Composition | None:
    """The re-merged ``tree`` as Hydra's config with the overrides laid on it as Hydra lays them
    (the installations and overlay of ``source``, then the env and CLI ones as they were)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        config = OmegaConf.create(tree)
        OmegaConf.set_struct(config, True)
        groups = {f.config_path.rsplit("/", 1)[0] for f in files if "/" in f.config_path}
        parsed = OverridesParser.create().parse_overrides(list(previous.sent))
        overrides = [o for o in parsed if o.package is None and o.key_or_group not in groups]
        described, sent = _overlaid(previous, source, config, known_key)
        parsed = OverridesParser.create().parse_overrides(list(sent))
        overrides = [o for o in parsed if o.package is None and o.key_or_group not in groups]
        ConfigLoaderImpl._apply_overrides_to_config(overrides, config)
        cli = list(sent[len(sent) - len(source.overrides) :])
        check_changed_keys_exist(source.overrides, cli, files, config, known_key, lambda: UNKNOWN)
    except (HydraException, OmegaConfBaseException, CompositionError, OverlayError, InstallationError):
        return None  # the full compose reports it with Hydra's own words, or names the overlay key
    return Composition(
        config, tuple(files), described, previous.env_prefix, sent, overlay=source.overlay, installed=source.installed
    )


def _reread(
    previous: Composition, source: ConfigSource, digests: Mapping[str, bytes]
) -> tuple[list[MergedFile], bool] | None:
    """``previous``'s files, each edited one read again: (the files, whether any was edited);
    None when an edit needs a full compose."""
    files: list[MergedFile] = []
    edited = False
    vouched = _unchanged(previous.files, source, digests)
    for merged in previous.files:
        if merged.path is None or merged.text is None or id(merged) in vouched:
            files.append(merged)
            continue
        try:
            text = read_text(merged.path, source.max_file_bytes)
        except OSError:
            return None
        if text == merged.text:
            files.append(merged)
            continue
        values = _reloaded_values(merged, text, source.config_name)
        if values is None:
            return None
        files.append(MergedFile(merged.config_path, merged.package, merged.path, values, text))
        edited = True
    return files, edited


def _remerged(previous: Composition, files: Sequence[MergedFile]) -> dict[str, Any] | None:
    """``previous``'s merged values with only the units the edited files set merged again (see
    framework.config.units); None when that cannot stand for a full merge: no earlier merge to
    start from, a unit new to it (a full merge would place it elsewhere), values to resolve."""
    if previous.resolved is None:
        return None
    touched = touched_by(previous.files, files)
    if touched is None:
        return None
    tree = dict(previous.resolved)
    if any(len(unit) == 2 for unit in touched):
        entries = tree.get(COMPONENTS)
        tree[COMPONENTS] = dict(entries) if isinstance(entries, dict) else {}
    for unit in touched:
        parent = tree if len(unit) == 1 else tree[COMPONENTS]
        if unit[-1] not in parent:
            return None
        parts = [
            MergedFile(f.config_path, f.package, None, {unit[-1]: value})
            for f in files
            if (value := unit_value(f.values, unit, _ABSENT)) is not _ABSENT
        ]
        merged = merged_values(parts)
        if merged is None or holds_interpolation(merged):
            return None
        if unit[-1] in merged:
            parent[unit[-1]] = merged[unit[-1]]
        else:
            del parent[unit[-1]]
    return tree if tree.get(COMPONENTS, True) else None


_ABSENT = object()


def _unchanged(files: Sequence[MergedFile], source: ConfigSource, digests: Mapping[str, bytes]) -> set[int]:
    """The ids of the files whose text has the sha256 ``digests`` gives their path (relative to
    the config dir)."""
    if not digests:
        return set()
    root = os.path.join(source.config_dir.expanduser().resolve(), "")
    found = set()
    for merged in files:
        path = str(merged.path)
        if merged.text is None or not path.startswith(root):  # outside the config dir: read it
            continue
        if digests.get(path[len(root) :]) == hashlib.sha256(merged.text.encode()).digest():
            found.add(id(merged))
    return found


def _overlaid(
    previous: Composition,
    source: ConfigSource,
    config: DictConfig,
    known_key: Callable[[str, DictConfig], bool] | None,
) -> tuple[tuple[Override, ...], tuple[str, ...]]:
    """The overrides (described, and as sent to Hydra) with ``source``'s installations and overlay
    in place of ``previous``'s: theirs come first, then the env and CLI ones as they were."""
    if previous.overlay == source.overlay and previous.installed == source.installed:
        return previous.overrides, previous.sent
    stale = len(previous.installed) + (len(previous.overlay.values) if previous.overlay else 0)
    config_dir = source.config_dir.expanduser().resolve()
    fresh: list[InstalledOverride | OverlayOverride] = [
        *installed_overrides(source.installed, config),
        *(overlay_overrides(source.overlay, config, known_key, config_dir) if source.overlay else []),
    ]
    described = tuple(Override(o.origin, o.key, o.value, False, False) for o in fresh)
    return described + previous.overrides[stale:], tuple(o.text for o in fresh) + previous.sent[stale:]


def _reloaded_values(merged: MergedFile, text: str, config_name: str) -> Any:
    """The edited file's values under its package, or None when it needs a full compose."""
    if merged.config_path == config_name:
        return None  # the primary config holds the defaults list
    if not keeps_defaults_list(file_shape(merged.text or ""), text):
        return None
    return placed_values(text, merged.path or Path(merged.config_path), merged.package)
