"""Composition: Hydra's compose API plus our environment-variable layer.

Layers, lowest to highest: YAML files (Hydra's defaults list, in merge order) < environment
variables < command-line overrides. Schema defaults sit below all of them and are filled in by
validation. Composition records which files Hydra merged, in order, so provenance can say
which file:line set each value.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from framework.config.compose_cache import CachedCompose, CachedFile, cache_for
from framework.config.env import SEPARATOR, DataOverride, env_overrides
from framework.config.files import DEFAULT_MAX_FILE_BYTES
from framework.config.groups import check_group_options
from framework.config.installed import Installation, installed_overrides
from framework.config.overlay import Overlay, overlay_overrides
from framework.config.override_size import MAX_ELEMENTS, TOO_MANY, elements_in_text
from framework.config.plain import TOO_DEEP, dotted_keys, holds_interpolation, too_deep
from framework.config.plain_merge import merge_plain
from framework.config.redaction import (
    UNKNOWN,
    SecretPaths,
    holds_secret,
    masked_error,
    misspelt_secret,
    secret_keys,
)
from framework.errors import CompositionError, ConfigDirNotFoundError, ConfigError
from framework.secrets import MASK, mask_url
from framework.types import KeyPath

# Hydra and OmegaConf are imported where a full compose or an OmegaConf config needs them,
# never at module level: a start-up whose composition is a cache hit with plain values
# needs neither, and importing them is most of its import time.
if TYPE_CHECKING:
    from omegaconf import DictConfig

    from framework.config.hydra_files import FilesRead

# GlobalHydra is process-global: one composition at a time.
_HYDRA_LOCK = threading.Lock()



@dataclass(frozen=True)
class ConfigSource:
    """Everything a composition depends on besides the files: kept to recompose on reload."""

    config_dir: Path
    config_name: str = "config"
    overrides: tuple[str, ...] = ()
    env_prefix: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES  # a larger config file is refused, never read
    overlay: Overlay | None = None  # the fleet overlay, between the files and the env layer
    installed: tuple[Installation, ...] = ()  # modules a registry installed, below the overlay


@dataclass(frozen=True)
class MergedFile:
    """One config file Hydra merged, in merge order."""

    config_path: str  # as Hydra names it, e.g. "components/feed"
    package: str  # where its keys land, "" for the root
    path: Path | None  # on disk; None for package sources such as Hydra's own
    values: Any  # its keys as plain data, unresolved, already placed under its package
    text: str | None = None  # the file as read, to tell later which files were edited


@dataclass(frozen=True)
class Override:
    """One value override from the environment or the command line."""

    origin: str  # "env DEMO__APP__NAME", "argument app.name=x" or "fleet overlay v7 (set ...)"
    key: str  # dotted key, or a config group name
    value: Any
    is_group: bool
    is_delete: bool


@dataclass(frozen=True)
class Composition:
    """Hydra's result before resolution, with what provenance needs."""

    config: DictConfig | None  # None when ``resolved`` holds the values
    files: tuple[MergedFile, ...]
    overrides: tuple[Override, ...]  # overlay, env, then CLI: ascending precedence
    env_prefix: str | None
    sent: tuple[str, ...] = ()  # the overrides as handed to Hydra (overlay, env, then CLI)
    resolved: dict[str, Any] | None = None  # plain values with nothing left to resolve
    overlay: Overlay | None = None  # the fleet overlay it was composed with
    installed: tuple[Installation, ...] = ()  # the installed modules it was composed with


def compose_config(
    source: ConfigSource,
    known_key: Callable[[str, DictConfig], bool] | None = None,
    secret_paths: SecretPaths | None = None,
) -> Composition:
    """Compose the config dir with the env layer and the launch overrides.

    ``secret_paths`` tells the error messages which values to mask; without it none is.
    """
    config_dir = source.config_dir.expanduser().resolve()
    if not config_dir.is_dir():
        raise ConfigDirNotFoundError(
            f"config dir '{source.config_dir}' does not exist; pass --config-dir pointing to the"
            " folder that holds your config.yaml"
        )
    if not (config_dir / f"{source.config_name}.yaml").exists():  # a FIFO is refused when read
        options = sorted(p.stem for p in config_dir.glob("*.yaml"))
        raise ConfigDirNotFoundError(
            f"config '{source.config_name}.yaml' not found in {config_dir}; available: "
            f"{', '.join(options) or 'none'} (choose with --config-name)"
        )
    # Plain `key=value` may also set a key only a schema default supplies, so we pass it as
    # `++key=value` and do Hydra's "no such key" check ourselves, schema-aware.
    limit = source.max_file_bytes
    _check_override_syntax(source.overrides, lambda: _file_secrets(config_dir, source.config_name, secret_paths, limit))
    check_group_options([(f"argument {text}", text) for text in source.overrides], config_dir)
    cli = [_force(text, config_dir) for text in source.overrides]
    origins = {sent: f"argument {typed}" for sent, typed in zip(cli, source.overrides, strict=True)}
    config, files, tree = _compose_files(source, config_dir, cli, secret_paths, origins)
    if config is None:  # a cache hit: plain values, and a config only if there is work for it
        final = _from_cache(source, files, tree or {})
        if isinstance(final, Composition):
            return final
        config = final
    from omegaconf import OmegaConf

    prefix = source.env_prefix or OmegaConf.select(config, "app.env_prefix", default=None)
    env = env_overrides(prefix, source.environ, config, known_key, config_dir) if prefix else []
    check_group_options([(e.origin, e.text) for e in env], config_dir)
    layered: list[DataOverride] = [
        *installed_overrides(source.installed, config),
        *(overlay_overrides(source.overlay, config, known_key, config_dir) if source.overlay else []),
        *env,
    ]
    if layered:  # installations, the overlay and env sit below the CLI: compose again with them first
        origins.update({o.text: o.origin for o in layered})
        config, files, _ = _hydra_compose(
            config_dir, source.config_name, [o.text for o in layered] + cli, limit, secret_paths, origins
        )
    check_changed_keys_exist(
        source.overrides, cli, files, config, known_key, lambda: _secrets_of(config, secret_paths)
    )
    parsed = _describe_overrides(layered, list(source.overrides), cli, files)
    sent = tuple(o.text for o in layered) + tuple(cli)
    return Composition(
        config, tuple(files), tuple(parsed), prefix, sent, overlay=source.overlay, installed=source.installed
    )


def _compose_files(
    source: ConfigSource,
    config_dir: Path,
    cli: list[str],
    secret_paths: SecretPaths | None,
    origins: Mapping[str, str],
) -> tuple[DictConfig | None, list[MergedFile], dict[str, Any] | None]:
    """Hydra's compose of the files with the CLI overrides: its config and the merged files;
    or, from the cache when one is kept (no overrides) and nothing it depended on changed, no
    config but the config's values, unresolved."""
    cache = None
    if not cli and not _user_schemas_registered():
        cache = cache_for(source.environ, config_dir, source.config_name, source.max_file_bytes)
    cached = cache.lookup() if cache else None
    if cached is not None:
        files = [MergedFile(f.config_path, f.package, f.path, f.values, f.text) for f in cached.files]
        return None, files, cached.tree
    config, files, read = _hydra_compose(config_dir, source.config_name, cli, source.max_file_bytes, secret_paths, origins)
    kept = tuple(CachedFile(f.config_path, f.package, f.path, f.values, f.text) for f in files if f.path and f.text)
    if cache and len(kept) == len(files):  # every merged file read from disk (none from a package)
        from omegaconf import OmegaConf

        tree: dict[str, Any] = OmegaConf.to_container(config, resolve=False)  # type: ignore[assignment]
        cache.store(CachedCompose(tree, kept), read)
    return config, files, None


def _from_cache(source: ConfigSource, files: list[MergedFile], tree: dict[str, Any]) -> Composition | DictConfig:
    """A cache hit as the composition when its plain values are final: nothing to resolve, no
    layer to add (env vars under the prefix, an overlay, installations); else Hydra's config of
    them, to go on with as after a full compose."""
    if holds_interpolation(tree) or not (source.env_prefix or _plain_env_prefix(tree)):
        return _config_of(tree)
    prefix = source.env_prefix or tree["app"].get("env_prefix")
    if source.installed or source.overlay or (prefix and _variables_under(prefix, source.environ)):
        return _config_of(tree)
    return Composition(None, tuple(files), (), prefix, resolved=tree, overlay=source.overlay, installed=source.installed)


def _config_of(tree: dict[str, Any]) -> DictConfig:
    """The DictConfig Hydra's compose returns for these values: struct mode at the root."""
    from omegaconf import OmegaConf

    config = OmegaConf.create(tree)
    OmegaConf.set_struct(config, True)
    return config


def _plain_env_prefix(tree: dict[str, Any]) -> bool:
    """Whether ``app.env_prefix`` reads from the plain values as OmegaConf would select it."""
    app = tree.get("app")
    return isinstance(app, dict) and isinstance(app.get("env_prefix"), str | None)


def _variables_under(prefix: str, environ: Mapping[str, str]) -> bool:
    return any(name.startswith(f"{prefix}{SEPARATOR}") for name in environ)


def merged_values(files: Sequence[MergedFile]) -> dict[str, Any] | None:
    """The files' plain values merged in order (``plain_merge``), or None where OmegaConf has
    rules of its own."""
    return merge_plain(merged.values for merged in files)


def _force(text: str, config_dir: Path) -> str:
    """`key=value` -> `++key=value`, unless it selects a config group."""
    if text.startswith(("+", "~")) or "=" not in text:
        return text
    key = text.split("=", 1)[0]
    if "@" in key or (config_dir / key.replace(".", "/")).is_dir():
        return text
    return f"++{text}"


def check_changed_keys_exist(
    originals: Sequence[str],
    sent: Sequence[str],
    files: list[MergedFile],
    config: DictConfig,
    known_key: Callable[[str, DictConfig], bool] | None,
    secrets: Callable[[], Collection[KeyPath]],
) -> None:
    changed = [o.split("=", 1) for o, s in zip(originals, sent, strict=True) if o != s]
    if not changed:
        return
    existing = {key for f in files for key in dotted_keys(f.values)}
    for key, value in changed:
        if key not in existing and not (known_key and known_key(key, config)):
            close = difflib.get_close_matches(key, sorted(existing), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            if misspelt_secret(key, secrets()):
                value = MASK
            raise CompositionError(
                f"cannot override '{key}' (argument {key}={value}): no such key in the config; "
                f"{hint}to add a new key use +{key}={value}"
            )


def _hydra_compose(
    config_dir: Path,
    config_name: str,
    overrides: list[str],
    max_file_bytes: int,
    secret_paths: SecretPaths | None = None,
    origins: Mapping[str, str] | None = None,
) -> tuple[DictConfig, list[MergedFile], FilesRead]:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from framework.config.hydra_files import defaults_list_message, read_files_safely

    files: list[MergedFile] = []
    with _HYDRA_LOCK:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(config_dir), version_base=None):
            read = read_files_safely(max_file_bytes)
            texts = read.texts
            _record_merged_files(files, texts)
            _merge_files_linearly(files)
            try:
                return compose(config_name=config_name, overrides=overrides), files, read
            except yaml.MarkedYAMLError as exc:
                raise CompositionError(_yaml_message(exc, config_dir)) from exc
            except (HydraException, OmegaConfBaseException) as exc:
                tree = merged_values(files)  # the files' own values, as far as they were read
                message = _hydra_message(exc, tree or {}, secret_keys(secret_paths, tree), overrides, origins)
                raise CompositionError(message) from exc
            except ConfigError:
                raise
            except (ValueError, AssertionError, TypeError) as exc:  # Hydra's bare refusals of a defaults list
                raise CompositionError(defaults_list_message(exc, texts)) from exc


def _record_merged_files(files: list[MergedFile], texts: Mapping[Path, str]) -> None:
    # Hydra has no public hook for the files it merges; wrapping the loader of this
    # (fresh, per-composition) instance is the cheapest exact record of merge order.
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    hydra = GlobalHydra.instance().hydra
    assert hydra is not None
    loader: Any = hydra.config_loader
    load_single = loader._load_single_config

    def recording(default: Any, repo: Any) -> Any:
        result = load_single(default=default, repo=repo)
        if result.provider == "hydra":  # Hydra's own config group, never user values
            return result
        path = _file_of(result.path, default.config_path)
        values = OmegaConf.to_container(result.config, resolve=False)
        text = texts[path] if path is not None else None  # as Hydra parsed it
        if too_deep(values):
            raise CompositionError(f"{path or default.config_path}: {TOO_DEEP}; flatten the structure")
        if text is not None and not text.strip():
            raise CompositionError(
                f"{path}: the file is empty; a config file must hold a YAML mapping"
                " (write {} for an intentionally empty option)"
            )
        files.append(MergedFile(default.config_path, default.package or "", path, values, text))
        return result

    loader._load_single_config = recording


def _merge_files_linearly(files: list[MergedFile]) -> None:
    """Merge the user's YAML files as plain values in one pass, then into Hydra's config once.

    Hydra merges each file into the growing config, and OmegaConf re-parents the whole tree on
    every merge: quadratic in the number of files, and most of a compose's merge time. Hydra's
    own configs, which come first in the defaults list, are merged its way; the plain files
    after them are merged as ``recompose`` merges them. Anything else (a structured schema of
    the user's, a mapping meeting a scalar, a merge OmegaConf refuses) goes through Hydra's own
    loop, so it gives Hydra's result and Hydra's error messages.
    """
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf, flag_override
    from omegaconf.errors import OmegaConfBaseException

    hydra = GlobalHydra.instance().hydra
    assert hydra is not None
    loader: Any = hydra.config_loader
    hydra_merge = loader._compose_config_from_defaults_list

    def merge(defaults: list[Any], repo: Any) -> DictConfig:
        first = len(files)

        def by_hydra() -> DictConfig:
            del files[first:]  # Hydra's loop loads (and so records) every file again
            config: DictConfig = hydra_merge(defaults, repo)
            return config

        providers = [repo.load_config(config_path=d.config_path).provider for d in defaults]
        split = next((i for i, p in enumerate(providers) if p != "hydra"), len(defaults))
        if "hydra" in providers[split:] or _user_schemas_registered():
            return by_hydra()
        config: DictConfig = hydra_merge(defaults[:split], repo)
        for default in defaults[split:]:
            loader._load_single_config(default=default, repo=repo)  # recorded into ``files``
        tree = merged_values(files[first:])
        if tree is None or any(f.path is None for f in files[first:]):
            return by_hydra()
        try:
            with flag_override(config, "no_deepcopy_set_nodes", True):
                config.merge_with(OmegaConf.create(tree))
        except OmegaConfBaseException:
            return by_hydra()
        return config

    loader._compose_config_from_defaults_list = merge


def _user_schemas_registered() -> bool:
    """Whether the user registered structured configs (they type the files they match)."""
    if "hydra.core.config_store" not in sys.modules:
        return False  # registering one imports Hydra's store: nothing imported it, so none is there
    from hydra.core.config_store import ConfigStore

    return any(name not in _HYDRA_STORE_ENTRIES for name in ConfigStore.instance().repo)


_HYDRA_STORE_ENTRIES = {"hydra", "_dummy_empty_config_.yaml"}  # what Hydra itself stores


def _file_of(source_path: str, config_path: str) -> Path | None:
    if not source_path.startswith("file://"):
        return None
    return Path(source_path.removeprefix("file://")) / f"{config_path}.yaml"


def _check_override_syntax(overrides: Sequence[str], secrets: Callable[[], Collection[KeyPath]]) -> None:
    if not overrides:
        return  # Hydra's override grammar is imported only to parse some
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException, OverrideParseException

    parser = OverridesParser.create()
    for text in overrides:
        if elements_in_text(text) > MAX_ELEMENTS:  # before Hydra parses it, never shown
            raise CompositionError(f"argument {text.split('=', 1)[0]}=...: {TOO_MANY}")
        try:
            deep = too_deep(parser.parse_override(text).value())
        except RecursionError:  # the override grammar recurses once per level
            deep = True
        except (OverrideParseException, HydraException) as exc:
            reason = str(exc).split("\n")[0]
            column = len(text)  # ANTLR names the input it choked on; point at its end
            match = re.search(r"at input '(.*)'", reason)
            if match and match.group(1) in text:
                column = text.find(match.group(1)) + len(match.group(1)) - 1
            caret = " " * max(column, 0) + "^"
            key, _, value = text.partition("=")
            shown = MASK if holds_secret(key, secrets()) else mask_url(value)
            if shown != value:  # ANTLR's reason quotes the value too
                text, caret = f"{key}={shown}", f"{' ' * len(key)} ^ (value masked: it holds a secret)"
                reason = "its value does not parse; check its quotes, brackets and ${...} (quote non-ASCII text)"
            raise CompositionError(
                f"malformed override:\n  {text}\n  {caret}\n{reason}\n"
                "accepted forms: key=value, +key=value, ++key=value, ~key, group=option,"
                " key=[a,b], key={a:1}"
            ) from exc
        if deep:
            raise CompositionError(f"argument {text.split('=', 1)[0]}=...: {TOO_DEEP}; flatten the value")


def _secrets_of(config: DictConfig, secret_paths: SecretPaths | None) -> Collection[KeyPath]:
    from omegaconf import OmegaConf

    return secret_keys(secret_paths, OmegaConf.to_container(config, resolve=False))


def _file_secrets(
    config_dir: Path, config_name: str, secret_paths: SecretPaths | None, max_file_bytes: int
) -> Collection[KeyPath]:
    """The secret keys of the files alone (an override that does not parse cannot be applied)."""
    if secret_paths is None:
        return ()
    try:
        config, _, _ = _hydra_compose(config_dir, config_name, [], max_file_bytes)
    except CompositionError:
        return UNKNOWN
    return _secrets_of(config, secret_paths)


def _yaml_message(exc: yaml.MarkedYAMLError, config_dir: Path) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{mark.name}:{mark.line + 1}:{mark.column + 1}" if mark else str(config_dir)
    context = f" ({exc.context})" if exc.context else ""
    return f"invalid YAML at {where}: {exc.problem}{context}"


def _hydra_message(
    exc: Exception,
    tree: Mapping[str, Any],
    secrets: Collection[KeyPath],
    overrides: Sequence[str],
    origins: Mapping[str, str] | None,
) -> str:
    """Hydra's (or OmegaConf's) words, with the values of secret keys masked and each override
    it names (as Hydra was handed it) named by its origin (as the user gave it)."""
    text = masked_error(exc, tree, secrets, overrides, origins or {})
    # Hydra appends its search path to missing-option errors: noise for users.
    text = text.split("\nConfig search path:")[0]
    return text.replace("To append to your config use", "the key does not exist; to add it use")


def _describe_overrides(
    layered: list[DataOverride], originals: list[str], cli: list[str], files: list[MergedFile]
) -> list[Override]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    groups = {f.config_path.rsplit("/", 1)[0] for f in files if "/" in f.config_path}
    parser = OverridesParser.create()
    origins = [o.origin for o in layered] + [f"argument {text}" for text in originals]
    texts = [o.text for o in layered] + cli
    described = []
    for index, (origin, parsed) in enumerate(zip(origins, parser.parse_overrides(texts), strict=True)):
        key = parsed.key_or_group
        is_group = parsed.package is not None or key in groups
        # An env or overlay value is data: its value, not the escaped text Hydra was handed.
        value = layered[index].value if index < len(layered) else None if parsed.is_delete() else parsed.value()
        described.append(Override(origin, key, value, is_group, parsed.is_delete()))
    return described
