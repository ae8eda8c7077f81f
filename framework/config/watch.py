"""Watching config directories: file-system events, confirmed by a content hash that settles.

watchfiles watches directories, never a file path (a file watch dies with an atomic replace),
recursively, and every event of any kind leads to a re-hash of the YAML under the dirs: editors
that rename, tools that write a temp file and ``os.replace`` it, Kubernetes ConfigMap volumes
that swap a ``..data`` symlink without ever naming the file. Only a changed content hash counts
as a change, and only once it has held still for ``settle_ms`` (a half-written file is not a
config yet). The hash reads files as composition does (``files.read_bytes``): a FIFO, a device
or a file over the size limit is never read; its kind, size and time stand in for its bytes.

A watch follows a directory's inode, so it would go on watching a directory that was replaced
(``rm -rf conf && cp -r new conf``, a ``mv`` swap, a re-pointed symlink) without a word: each
batch of events, and each second without one, compares the directories' identity with the one
they had when the watch began, and a deletion event naming a watched dir itself counts too (a
dir made right after ``rm -rf`` may get the freed inode number). A watch that ends, for that or any other reason, ends
``changes()`` with the exception: the consumer logs it and watches anew.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from framework.bounded import in_daemon_thread
from framework.config.files import DEFAULT_MAX_FILE_BYTES, file_problem, read_bytes
from framework.errors import CompositionError

SUFFIX = ".yaml"
Identity = tuple[tuple[int, int] | None, ...]  # (device, inode) of each watched dir; None: missing


class DirReplacedError(RuntimeError):
    """Raised by ``ConfigWatch.changes()`` when a watched directory was replaced or removed."""


def content_hash(dirs: Iterable[Path], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> str:
    """sha256 of sorted (relative path, bytes) of every YAML file under ``dirs``, symlinks followed.

    Hidden entries (``.git``, editor lock files, a ConfigMap's ``..data`` and its timestamped
    dirs) are skipped: what they hold is reachable through the visible names Hydra reads.
    A file that vanishes while being read counts as absent.
    """
    return ContentIndex(dirs, max_file_bytes).scan().digest


# A file's status: device, inode, size, modification and change times (ns). Any write, rename
# over it, or re-pointed symlink to it changes one of them.
Signature = tuple[int, int, int, int, int]
# A file whose status changed less than this long before a scan may change again within the
# same tick of the file system's clock (coarse: a few ms; FAT: 2 s) and keep its signature, so
# its digest is not remembered: git's "racily clean" rule.
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class Contents:
    """The YAML content under some dirs: one hash of it all, and each file's sha256."""

    digest: str
    files: Mapping[tuple[str, str], bytes] = field(default_factory=dict)  # (dir, relative path)

    def under(self, root: Path) -> dict[str, bytes]:
        """Each file's sha256 by its path relative to ``root`` (one of the dirs scanned)."""
        return {relative: sha for (folder, relative), sha in self.files.items() if folder == str(root)}


class ContentIndex:
    """``content_hash`` that reads again only the files whose status changed since it last read
    them: at 300 files a full read costs about 13 ms, a scan of their status under 2 ms.

    A status (Signature) vouches for a digest only when it was older than RACY_NS at the scan
    that read the file; scans may run at once in several threads (each publishes a fresh table).
    """

    def __init__(self, dirs: Iterable[Path], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> None:
        self.dirs = tuple(Path(d) for d in dirs)
        self.max_file_bytes = max_file_bytes
        self._known: dict[str, tuple[Signature, bytes]] = {}
        self.reads = 0  # files read so far (the others were vouched for by their status)

    def scan(self) -> Contents:
        known, fresh = self._known, {}
        began = time.time_ns()
        whole = hashlib.sha256()
        files: dict[tuple[str, str], bytes] = {}
        for root in self.dirs:
            for relative, path in sorted(_yaml_files(root)):
                entry = self._digest(path, known.get(path), began)
                if entry is None:
                    continue
                if entry[0] is not None:
                    fresh[path] = (entry[0], entry[1])
                files[(str(root), relative)] = entry[1]
                whole.update(os.fsencode(relative) + b"\0" + entry[1])
            whole.update(b"\1")
        self._known = fresh
        return Contents(whole.hexdigest(), files)

    def _digest(
        self, path: str, cached: tuple[Signature, bytes] | None, began: int
    ) -> tuple[Signature | None, bytes] | None:
        """(signature to remember it by, or None; sha256 of its content); None when it is gone."""
        try:
            info = os.stat(path)
        except OSError:  # deleted, a dangling symlink
            return None
        signature = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        if cached is not None and cached[0] == signature:
            return cached
        data = _content(Path(path), info, self.max_file_bytes)
        if data is None:
            return None
        self.reads += 1
        settled = info.st_ctime_ns + RACY_NS < began
        return (signature if settled else None), hashlib.sha256(data).digest()


def _yaml_files(root: Path) -> Iterable[tuple[str, str]]:
    """(path relative to ``root``, path) of each visible YAML file under it."""
    seen: set[str] = set()  # real paths of the dirs walked: symlink loops end here
    top = os.fspath(root)
    for folder, dirnames, filenames in os.walk(top, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        under = os.path.relpath(folder, top)  # once per dir: it is most of a walk's time per file
        for name in filenames:
            if name.startswith(".") or not name.endswith(SUFFIX):
                continue
            yield (name if under == os.curdir else os.path.join(under, name)), os.path.join(folder, name)


def _content(path: Path, info: os.stat_result, limit: int) -> bytes | None:
    """The file's bytes; for a file never read, what it is (kind, size, time), so that a change
    to it still counts and composition gets to say why it is refused; None when it is gone."""
    if file_problem(info, limit) is not None:
        return f"never read: mode {info.st_mode:o}, {info.st_size} bytes, {info.st_mtime_ns} ns".encode()
    try:
        return read_bytes(path, limit)
    except (OSError, CompositionError):  # deleted, replaced mid-read
        return None


def identity(dirs: Iterable[Path]) -> Identity:
    """Which directories the paths name now: a replaced one has another (device, inode)."""
    found: list[tuple[int, int] | None] = []
    for path in dirs:
        try:
            info = os.stat(path)
        except OSError:
            found.append(None)
        else:
            found.append((info.st_dev, info.st_ino))
    return tuple(found)


@dataclass(frozen=True)
class Stamp:
    """A content hash and when it was first read (monotonic seconds), with each file's sha256."""

    digest: str
    seen: float
    contents: Contents | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class WatchStatistics:
    """What a watch has seen so far."""

    event_batches: int  # batches of file-system events watchfiles delivered
    hashes: int  # content hashes computed
    changes: int  # stamps yielded (content differed from the previous one)


class ConfigWatch:
    """Watches directories; ``changes()`` yields a Stamp whenever their YAML content changes.

    Use as an async context manager. ``settled(stamp)`` tells whether a stamp's content has
    held still for ``settle_ms``; a consumer that composes speculatively calls it before
    trusting what it composed. ``changes()`` raises what ended the watch: DirReplacedError, the
    error of a hash, or watchfiles' own (FileNotFoundError for a missing directory).
    """

    def __init__(
        self,
        dirs: Sequence[Path],
        *,
        step_ms: int = 2,
        settle_ms: int = 30,
        initial: str | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        index: ContentIndex | None = None,
    ) -> None:
        self.dirs = tuple(Path(d).absolute() for d in dirs)
        self.step_ms = step_ms
        self.settle = settle_ms / 1000
        self.max_file_bytes = max_file_bytes
        # Shared with the reloader's own hashing when it hands one over: each file read once.
        self.index = index if index is not None and index.dirs == self.dirs else ContentIndex(self.dirs, max_file_bytes)
        self.identity = identity(self.dirs)  # what the watch follows, from the start
        # watchfiles groups events until `step` ms pass quietly, but never longer than this.
        self.debounce_ms = max(5 * step_ms, 50)
        self._last = initial
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._batches = self._hashes = self._changes = 0

    async def __aenter__(self) -> ConfigWatch:
        self._task = asyncio.create_task(self._listen(), name="config-watch")
        # Let the task set up its inotify watches (done synchronously before its first wait).
        for _ in range(3):
            await asyncio.sleep(0)
        self._pending.set()  # catch up with anything changed before the watch existed
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _listen(self) -> None:
        from watchfiles import Change, awatch  # with anyio, 10+ ms: only an app that watches pays it

        roots = {str(d) for d in self.dirs}
        try:
            async for batch in awatch(
                *self.dirs,
                watch_filter=None,  # every event counts: a ConfigMap swap never names the file
                step=self.step_ms,
                debounce=self.debounce_ms,
                recursive=True,
                rust_timeout=1000,
                yield_on_timeout=True,  # an empty batch each quiet second: time to check identity
            ):
                if batch:
                    self._batches += 1
                    self._pending.set()
                # A new dir may get the inode just freed by `rm -rf`: the deletion names the dir.
                if identity(self.dirs) != self.identity or roots & {p for c, p in batch if c == Change.deleted}:
                    raise DirReplacedError(f"config dir {self._moved()} was replaced or removed")
        finally:
            self._pending.set()  # wake `changes()`: it raises what ended the watch

    def _moved(self) -> str:
        now = identity(self.dirs)
        moved = [str(d) for d, was, new in zip(self.dirs, self.identity, now, strict=True) if was != new]
        return ", ".join(moved or map(str, self.dirs))

    def _raise_if_ended(self) -> None:
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return
        error = task.exception() or RuntimeError("the file-system watch ended")
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]  # watchfiles runs in a task group: say what went wrong
        raise error

    async def contents(self) -> Contents:
        """The content hash now (computed in a daemon thread: a read that never returns, on a
        dead network mount say, must not hold the process up at exit)."""
        self._hashes += 1
        return await in_daemon_thread(self.index.scan, name="config-hash")

    async def changes(self) -> AsyncIterator[Stamp]:
        """A Stamp each time an event leaves the content different from the last stamp."""
        while True:
            await self._pending.wait()
            self._pending.clear()
            self._raise_if_ended()
            began = time.monotonic()  # the settle window runs from the read, not from its end
            contents = await self.contents()
            if contents.digest != self._last:
                self._last = contents.digest
                self._changes += 1
                yield Stamp(contents.digest, began, contents)

    async def settled(self, stamp: Stamp) -> bool:
        """Whether the content is still the stamp's once ``settle_ms`` have passed since it was read."""
        remaining = stamp.seen + self.settle - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)
        return (await self.contents()).digest == stamp.digest

    def statistics(self) -> WatchStatistics:
        return WatchStatistics(self._batches, self._hashes, self._changes)
