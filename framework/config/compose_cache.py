"""The composition cache: a full Hydra compose of a config dir, remembered on disk.

Most of a compose at scale is Hydra building its defaults tree and loading file after file,
work whose result depends only on what it read. An entry holds what one full compose gave (the
composed values, unresolved, and the record of merged files) and everything it depended on:
the content digest of every file it read, the listing of the config dir (a new or removed file
or group can change the defaults list), the library versions and the framework's own config
code. When only files were edited whose edit cannot change the defaults list (no defaults list
before or after, the same package header: ``recompose``'s rule for a reload), and the cached
values are the plain merge of the files, those files are read anew and merged again in the
same order, as the first compose merges them. Any other difference, or any doubt (unreadable,
corrupt, another format), is a miss, and the caller composes with Hydra again.

Only a compose without overrides is kept: an override's value (an env var's, say) may be a
secret that was never on disk, and must not be written there. The entries sit in a directory
of their own (never the watched config dir), private to the user, one file per config dir and
config name, replaced atomically, so concurrent writers leave either entry whole.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from framework.config.files import read_text
from framework.config.hydra_files import FilesRead, file_shape, keeps_defaults_list, placed_values
from framework.config.plain_merge import merge_plain
from framework.errors import CompositionError

# A hit needs no OmegaConf: it is imported only where an edited file is parsed anew (placed_values).

CACHE_DIR_VARIABLE = "INTEGRATE_CACHE_DIR"  # set to a directory, or to nothing to turn caching off
_FORMAT = 1
_MAX_LISTING = 20_000  # a config dir with more entries than this is not worth listing on every compose
_KEEP_ENTRIES = 256  # entries kept when a store finds more than twice as many
_LIBRARIES = ("hydra-core", "omegaconf", "PyYAML", "antlr4-python3-runtime")


def cache_dir(environ: Mapping[str, str]) -> Path | None:
    """Where compositions are cached: ``$INTEGRATE_CACHE_DIR`` (empty: nowhere), else
    ``$XDG_CACHE_HOME/integrate``, else ``~/.cache/integrate``, as other tools keep theirs."""
    if CACHE_DIR_VARIABLE in environ:
        chosen = environ[CACHE_DIR_VARIABLE].strip()
        return Path(chosen).expanduser() if chosen else None
    xdg = Path(environ.get("XDG_CACHE_HOME") or ".")
    if xdg.is_absolute():  # the XDG spec: a relative path is to be ignored
        return xdg / "integrate"
    try:
        return Path.home() / ".cache" / "integrate"
    except RuntimeError:  # no home directory to be found: no cache
        return None


def cache_for(environ: Mapping[str, str], config_dir: Path, config_name: str, max_file_bytes: int) -> ComposeCache | None:
    """The cache of this config dir (resolved) and config name; None when caching is off, or when
    the cache dir would sit inside the config dir (the watcher would take its writes for edits)."""
    directory = cache_dir(environ)
    try:
        resolved = directory.resolve() if directory else None
    except (OSError, RuntimeError):  # a symlink loop on the way
        return None
    if directory is None or resolved is None or resolved == config_dir or _within(resolved, config_dir):
        return None
    return ComposeCache(directory, config_dir, config_name, max_file_bytes)


@dataclass(frozen=True)
class CachedFile:
    """One merged file of a cached compose, as ``compose.MergedFile`` holds it."""

    config_path: str
    package: str
    path: Path
    values: Any
    text: str


@dataclass(frozen=True)
class CachedCompose:
    """What a full compose gave: the config's values, unresolved, and the files merged, in order."""

    tree: dict[str, Any]
    files: tuple[CachedFile, ...]


@dataclass(frozen=True)
class ComposeCache:
    """The entry of one config dir and config name in one cache directory."""

    directory: Path
    config_dir: Path  # resolved
    config_name: str
    max_file_bytes: int

    @property
    def entry(self) -> Path:
        name = json.dumps([str(self.config_dir), self.config_name])
        return self.directory / "compose" / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.json"

    def lookup(self) -> CachedCompose | None:
        """The cached compose when nothing it depended on changed, or when only files whose
        edit cannot change Hydra's defaults list did, with those re-merged; None on any doubt."""
        try:
            entry = json.loads(self.entry.read_text(encoding="utf-8"))
            if _code_digest() is None or entry["key"] != self._key() or entry["listing"] != _listing_digest(self.config_dir):
                return None
            texts = {path: read_text(Path(path), self.max_file_bytes) for path in entry["read"]}
            edited = {path for path, expected in entry["read"].items() if _digest(texts[path]) != expected}
            files = tuple(
                CachedFile(config_path, package, Path(path), values, texts[path])
                for config_path, package, path, values in entry["files"]
            )
            tree, shapes = entry["tree"], {path: tuple(shape) for path, shape in entry["shapes"].items()}
            if not isinstance(tree, dict):
                return None
            if not edited:
                return CachedCompose(tree, files)
            if not all(keeps_defaults_list(shapes.get(path), texts[path]) for path in edited):
                return None  # Hydra builds the defaults list anew
            return self._remerged(CachedCompose(tree, files), texts, edited)
        except (OSError, ValueError, KeyError, TypeError, RecursionError, CompositionError):
            return None  # missing, unreadable, corrupt or of another shape (OmegaConf's refusals: placed_values)

    def store(self, composed: CachedCompose, read: FilesRead) -> None:
        """Keep ``composed``, made from what ``read`` records, when it depended on nothing but
        the config dir's files: Hydra's own sources and the config dir alone searched, no
        defaults list interpolating (that may read the environment)."""
        standard = [("hydra", "pkg", "hydra.conf"), ("main", "file", str(self.config_dir)), ("schema", "structured", "")]
        inside = all(_within(path, self.config_dir) for path in read.texts)
        if read.sources == standard and inside and not read.interpolated_defaults:
            self._keep(composed, {str(path): text for path, text in read.texts.items()})

    def _keep(self, composed: CachedCompose, texts: Mapping[str, str]) -> None:
        """Write the entry; skipped when the values would not come back from JSON exactly or
        the directory cannot be written."""
        listing = _listing_digest(self.config_dir)
        exact = _json_exact([composed.tree, [f.values for f in composed.files]])
        if listing is None or not exact or _code_digest() is None:
            return
        entry = {
            "key": self._key(),
            "listing": listing,
            "read": {path: _digest(text) for path, text in texts.items()},
            "shapes": {path: file_shape(text) for path, text in texts.items()},
            "files": [[f.config_path, f.package, str(f.path), f.values] for f in composed.files],
            "tree": composed.tree,
        }
        try:
            _write_atomically(self.entry, json.dumps(entry))
            _prune(self.entry.parent)
        except OSError:
            pass  # a read-only or full disk costs the next compose its speed, nothing else

    def _remerged(self, cached: CachedCompose, texts: Mapping[str, str], edited: set[str]) -> CachedCompose | None:
        """``cached`` with the edited files' values read anew and every file merged again in
        the same order, kept as the new entry; None on any doubt.

        Only where the cached values are the plain merge of the files (as the first compose
        merges them): then the same defaults list merges the edited files the same way.
        """
        if merge_plain(f.values for f in cached.files) != cached.tree:
            return None  # Hydra's own merge made these values: let it make the new ones
        files = []
        for merged in cached.files:
            if str(merged.path) in edited:
                values = placed_values(texts[str(merged.path)], merged.path, merged.package)
                if values is None:
                    return None
                merged = CachedFile(merged.config_path, merged.package, merged.path, values, texts[str(merged.path)])
            files.append(merged)
        tree = merge_plain(f.values for f in files)
        if tree is None or "hydra" in tree:  # Hydra's own node, dropped from what compose returns
            return None
        composed = CachedCompose(tree, tuple(files))
        self._keep(composed, texts)
        return composed

    def _key(self) -> list[Any]:
        return [_FORMAT, str(self.config_dir), self.config_name, self.max_file_bytes, _code_digest()]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()


@functools.cache
def _code_digest() -> str | None:
    """The Python version, the libraries' versions and the framework's config code: what turns
    the same files into a composition (read once per process; the code does not change under
    it). None when the code cannot be read: then nothing is cached."""
    try:
        parts = [sys.version, *(f"{name}=={_version(name)}" for name in _LIBRARIES), *_hydra_plugins()]
        for module in sorted(Path(__file__).parent.glob("*.py")):
            parts.append(f"{module.name}:{_digest(module.read_text(encoding='utf-8'))}")
    except (OSError, UnicodeError):
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _hydra_plugins() -> list[str]:
    """The names in Hydra's plugin namespace: a search-path plugin installed since an entry was
    kept could add a config source (installing one that shadows a name already there is not seen)."""
    spec = importlib.util.find_spec("hydra_plugins")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return sorted(f"plugin {location}/{name}" for location in locations for name in os.listdir(location))


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def _listing_digest(config_dir: Path) -> str | None:
    """A digest of every name under the config dir and its kind (symlinks followed, as Hydra
    follows them); None when it cannot be listed or is too large to list on every compose."""
    names: list[str] = []
    seen: set[tuple[int, int]] = set()
    pending = [(config_dir, "")]
    try:
        while pending:
            directory, prefix = pending.pop()
            info = directory.stat()
            if (info.st_dev, info.st_ino) in seen:
                names.append(f"{prefix}\0loop")
                continue
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(directory) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    kind = "d" if entry.is_dir() else "f" if entry.is_file() else "o"
                    names.append(f"{prefix}{entry.name}\0{kind}")
                    if kind == "d":
                        pending.append((Path(entry.path), f"{prefix}{entry.name}/"))
            if len(names) > _MAX_LISTING:
                return None
    except OSError:
        return None
    return hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def _within(path: Path, directory: Path) -> bool:
    return str(path).startswith(f"{directory}{os.sep}")


def _json_exact(node: Any) -> bool:
    """Whether JSON gives these values back unchanged: string keys, JSON's own scalar types."""
    if type(node) is dict:
        return all(type(k) is str and _json_exact(v) for k, v in node.items())
    if type(node) is list:
        return all(_json_exact(v) for v in node)
    return node is None or type(node) in (str, int, float, bool)


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the entry, then rename over it: a reader sees the old entry or the new one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _prune(directory: Path) -> None:
    """Past twice ``_KEEP_ENTRIES`` entries (config dirs come and go: tests, temporary
    checkouts), drop all but the most recently written."""
    entries = list(directory.glob("*.json"))
    if len(entries) <= 2 * _KEEP_ENTRIES:
        return
    by_age = sorted(entries, key=lambda p: p.stat().st_mtime if p.exists() else 0.0)
    for stale in by_age[: len(entries) - _KEEP_ENTRIES]:
        stale.unlink(missing_ok=True)
