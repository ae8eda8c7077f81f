"""Hydra's config files, read through ``files.read_text``: regular files within the size limit.

Hydra opens a config file itself (``FileConfigSource.load_config``): a FIFO named ``x.yaml``
would block it forever, ``/dev/zero`` or a huge file would fill memory, and bytes that are not
UTF-8 end in a bare UnicodeDecodeError. The file sources of one composition are made to read
through ``read_text`` instead, which refuses all of these naming the file, and to parse what
it read within ``bounded_yaml``'s limits on nesting and aliases; the texts are kept, so the
record of merged files never reads a file a second time, and what else a composition depended
on is noted, so ``compose_cache`` knows when its result may be reused.
Hydra deep-copies its repository for each composition: the patched methods are closures,
which a deep copy shares, so the copies read the same way.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from framework.config.bounded_yaml import YamlLimitError, load_yaml
from framework.config.files import read_text
from framework.config.plain import too_deep
from framework.errors import CompositionError

# Hydra and OmegaConf are imported by the functions that use them: this module is imported at
# start-up (package headers, the composition cache), which may need neither.
if TYPE_CHECKING:
    from hydra.plugins.config_source import ConfigSource
    from omegaconf import DictConfig, ListConfig


@functools.cache
def _omegaconf_loader() -> Any:
    """OmegaConf's own loader, as ``OmegaConf.load`` uses it (duplicate keys refused, its float
    and timestamp rules); made once, as ``bounded_yaml`` makes one bounded subclass per loader class."""
    from omegaconf._utils import get_yaml_loader

    return get_yaml_loader()


@dataclass
class FilesRead:
    """What one composition read, filled in as Hydra loads: the texts of the files, by path;
    every source it searched; whether a defaults list it read interpolates (``${...}`` there is
    resolved while the list is built, so it may depend on more than the files)."""

    texts: dict[Path, str] = field(default_factory=dict)
    sources: list[tuple[str, str, str]] = field(default_factory=list)  # (provider, scheme, path)
    interpolated_defaults: bool = False


def read_files_safely(limit: int) -> FilesRead:
    """Make the initialized Hydra read its config files through ``read_text`` with ``limit``;
    return the record of what it read, filled in as Hydra loads them."""
    from hydra.core.global_hydra import GlobalHydra

    hydra = GlobalHydra.instance().hydra
    assert hydra is not None
    loader: Any = hydra.config_loader
    read = FilesRead()
    _guard(loader.repository.get_sources(), limit, read)
    create_repository = loader._parse_overrides_and_create_caching_repo

    def creating(config_name: str | None, overrides: list[str]) -> Any:
        parsed, repository = create_repository(config_name, overrides)
        sources = repository.get_sources()
        _guard(sources, limit, read)  # `hydra.searchpath` adds sources
        read.sources = [(s.provider, s.scheme(), s.path) for s in sources]
        return parsed, repository

    loader._parse_overrides_and_create_caching_repo = creating
    return read


def parse_config(text: str, path: Path) -> DictConfig | ListConfig:
    """What ``OmegaConf.load`` makes of a file's text, read within ``bounded_yaml``'s limits.

    As there, an empty document is an empty config; a lone scalar, which OmegaConf refuses
    with a bare OSError (or, for a string, parses again without limits), is refused naming the
    file. CompositionError at file:line:column past a limit; ``yaml.YAMLError`` when invalid.
    """
    return _config_of(_loaded(text, path), path)


def _loaded(text: str, path: Path) -> Any:
    try:
        return load_yaml(text, str(path), _omegaconf_loader())
    except YamlLimitError as exc:
        line, column = exc.where()
        raise CompositionError(f"{path}:{line}:{column}: {exc.problem}") from None  # one line, no snippet


def _config_of(data: Any, path: Path) -> DictConfig | ListConfig:
    from omegaconf import OmegaConf

    if data is None:
        return OmegaConf.create()
    if not isinstance(data, dict | list):
        raise CompositionError(
            f"{path}: the file holds a single {type(data).__name__} value; a config file must hold"
            " a YAML mapping (write {} for an intentionally empty option)"
        )
    return OmegaConf.create(data)


def _guard(sources: list[ConfigSource], limit: int, read: FilesRead) -> None:
    for source in sources:
        if source.scheme() == "file":  # Hydra's plugin scan loads its own copy of the class
            _read_safely(source, limit, read)


def _read_safely(source: ConfigSource, limit: int, read: FilesRead) -> None:
    from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource

    def path_of(config_path: str) -> Path:
        return Path(source.path) / ConfigSource._normalize_file_name(config_path)

    def is_config(config_path: str) -> bool:
        # A FIFO or a device is not `isfile`: Hydra would call it missing. Load it, and say why not.
        path = path_of(config_path)
        return os.path.exists(path) and not path.is_dir()

    def load_config(config_path: str) -> ConfigResult:
        path = path_of(config_path)
        try:
            text = read_text(path, limit)
        except FileNotFoundError as exc:  # deleted since Hydra looked: as Hydra says it
            raise ConfigLoadError(f"Config not found : {path}") from exc
        data = _loaded(text, path)
        config = _config_of(data, path)
        read.texts[path] = text
        if isinstance(data, dict) and "${" in repr(data.get("defaults")):
            read.interpolated_defaults = True
        header = ConfigSource._get_header_dict(text[:512])
        return ConfigResult(config=config, path=f"file://{source.path}", provider=source.provider, header=header)

    source.is_config = is_config  # type: ignore[method-assign]
    source.load_config = load_config  # type: ignore[method-assign]


def defaults_list_message(exc: BaseException, texts: Mapping[Path, str]) -> str:
    """The one-screen error for a defaults list Hydra refused with a bare ValueError,
    AssertionError or TypeError: the file it was reading (the last one read) at its
    ``defaults:`` line, Hydra's words, and what a defaults list may hold."""
    words = str(exc).strip()
    if isinstance(exc, AssertionError) or not words:  # an internal check of Hydra's: its text means nothing here
        words = f"Hydra refused it ({type(exc).__name__}; an empty group name does this)"
    where = "the config's defaults list"
    if texts:
        path, text = list(texts.items())[-1]
        match = re.search(r"^defaults\s*:", text, re.MULTILINE)
        line = text.count("\n", 0, match.start()) + 1 if match else 1
        where = f"{path}:{line}"
    return (
        f"{where}: the defaults list cannot be composed: {words}. A defaults list is a YAML list"
        " whose items are a config name, _self_, or `group: option` (an option name or a list"
        " of them; `optional`, `override` and `@package` are allowed before a group)"
    )


def package_header(text: str) -> str | None:
    """The ``# @package`` a config file's leading ``# @`` lines declare, read as Hydra reads it
    (it stops at the first other line); None when there is none."""
    from hydra.plugins.config_source import ConfigSource

    try:
        return ConfigSource._get_header_dict(text[:512]).get("package")
    except ValueError:  # a malformed header: Hydra names it when it composes the file
        return None


_PACKAGE_HEADER = re.compile(r"^#\s*@package.*$", re.MULTILINE)
_DEFAULTS_LIST = re.compile(r"^defaults\s*:", re.MULTILINE)
_PLAIN_PACKAGE = re.compile(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*")  # dotted names, no brackets
Shape = tuple[list[str], bool]


def file_shape(text: str) -> Shape:
    """What in a file's text shapes Hydra's defaults list: its package header lines, and
    whether it holds a defaults list."""
    return _PACKAGE_HEADER.findall(text), bool(_DEFAULTS_LIST.search(text))


def keeps_defaults_list(before: Shape | None, text: str) -> bool:
    """Whether editing a file of shape ``before`` into ``text`` leaves Hydra's defaults list as it
    was: the same package header, and no defaults list before or after."""
    headers, has_defaults = file_shape(text)
    return before is not None and not before[1] and list(before[0]) == headers and not has_defaults


def placed_values(text: str, path: Path, package: str) -> Any:
    """An edited file's plain values placed under its package, as Hydra places them; None when
    it is empty, does not parse to a mapping within the limits, or OmegaConf refuses it (a full
    compose then names the problem)."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not text.strip():
        return None
    try:
        loaded = parse_config(text, path)
    except (yaml.YAMLError, OmegaConfBaseException, CompositionError):
        return None
    if not isinstance(loaded, DictConfig):
        return None
    if package and package != "_global_" and not _PLAIN_PACKAGE.fullmatch(package):
        placed = OmegaConf.create()
        OmegaConf.update(placed, package, loaded, merge=False)
        loaded, package = placed, ""
    values: Any = OmegaConf.to_container(loaded, resolve=False)
    if package and package != "_global_":  # dotted names: nested mappings, as OmegaConf.update places them
        for part in reversed(package.split(".")):
            values = {part: values}
    return None if too_deep(values) else values
