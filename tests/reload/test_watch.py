"""The content hash that confirms a change, and the watch that yields only settled changes,
reads only regular files, notices its dir replaced, and whose failures never end watching."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from pathlib import Path

import pytest

import framework.config.watch as watch_module
from framework.config.watch import ConfigWatch, DirReplacedError, Stamp, content_hash
from framework.testing import started_app, write_tree


def test_hash_covers_yaml_content_and_names_only(tmp_path: Path) -> None:
    """The hash changes with a YAML file's bytes or name, not with other files or hidden ones."""
    (tmp_path / "a.yaml").write_text("x: 1\n")
    first = content_hash([tmp_path])
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".a.yaml.swp").write_text("editor state")
    (tmp_path / "a.yaml~").write_text("x: 0\n")
    assert content_hash([tmp_path]) == first
    (tmp_path / "a.yaml").write_text("x: 2\n")
    assert content_hash([tmp_path]) != first
    os.rename(tmp_path / "a.yaml", tmp_path / "b.yaml")
    assert content_hash([tmp_path]) not in (first, content_hash([tmp_path / "missing"]))


def test_hash_follows_symlinks_and_survives_loops(tmp_path: Path) -> None:
    """Symlinked files and dirs are read through (ConfigMap layout); a symlink loop ends."""
    real = tmp_path / "..2026_01"
    (real / "group").mkdir(parents=True)
    (real / "group" / "opt.yaml").write_text("y: 1\n")
    (tmp_path / "..data").symlink_to(real.name)
    (tmp_path / "group").symlink_to("..data/group")
    (tmp_path / "group_loop").symlink_to(".")
    (tmp_path / "dangling.yaml").symlink_to("nowhere.yaml")
    before = content_hash([tmp_path])
    (real / "group" / "opt.yaml").write_text("y: 2\n")
    assert content_hash([tmp_path]) != before


def test_watch_yields_a_change_once_and_settles(tmp_path: Path) -> None:
    """A save yields one stamp; `settled` is False when the content moved on meanwhile."""

    async def main() -> None:
        target = tmp_path / "c.yaml"
        target.write_text("v: 1\n")
        async with ConfigWatch(
            [tmp_path], step_ms=10, settle_ms=50, initial=content_hash([tmp_path])
        ) as watch:
            changes = watch.changes()
            target.write_text("v: 2\n")
            stamp = await asyncio.wait_for(anext(changes), 5)
            assert stamp.digest == content_hash([tmp_path])
            assert await watch.settled(stamp)
            target.write_text("v: 3\n")
            assert not await watch.settled(stamp)
            assert isinstance(await asyncio.wait_for(anext(changes), 5), Stamp)
            assert watch.statistics().changes == 2

    asyncio.run(main())


def hash_within(dirs: list[Path], seconds: float = 5.0, **limit: int) -> str:
    """content_hash in a daemon thread: a hash blocked on a FIFO fails the test, not the run."""
    result: list[str] = []
    worker = threading.Thread(target=lambda: result.append(content_hash(dirs, **limit)), daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        for fifo in (p for d in dirs for p in d.rglob("*") if p.is_fifo()):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # let the blocked reader go
        raise AssertionError("content_hash blocked")
    return result[0]


def test_hash_never_reads_special_or_oversized_files(tmp_path: Path) -> None:
    """A FIFO, a device and a file over the limit are never opened for reading; their kind,
    size and time stand in, so that replacing one with a regular file still counts."""
    (tmp_path / "a.yaml").write_text("x: 1\n")
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "big.yaml").write_text("#" * 2000)
    first = hash_within([tmp_path], max_file_bytes=1000)
    assert hash_within([tmp_path], max_file_bytes=1000) == first
    (tmp_path / "big.yaml").write_text("#" * 3000)
    second = hash_within([tmp_path], max_file_bytes=1000)
    assert second != first
    (tmp_path / "pipe.yaml").unlink()
    (tmp_path / "pipe.yaml").write_text("")
    assert hash_within([tmp_path], max_file_bytes=1000) != second


def test_hash_covers_names_that_are_not_utf8(tmp_path: Path) -> None:
    """A file name that is not UTF-8 is hashed as its bytes (it used to raise)."""
    (tmp_path / "a.yaml").write_text("x: 1\n")
    first = content_hash([tmp_path])
    (tmp_path / os.fsdecode(b"\xff.yaml")).write_text("y: 2\n")
    assert content_hash([tmp_path]) != first


@pytest.mark.parametrize("how", ["rename", "rm -rf"])
def test_watch_ends_with_dir_replaced_when_its_dir_is_replaced(tmp_path: Path, how: str) -> None:
    """A dir renamed away for another, or removed and made again (often with the same inode
    number), ends `changes()` with DirReplacedError instead of watching the old dir on."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.yaml").write_text("v: 1\n")
    (tmp_path / "new").mkdir()
    (tmp_path / "new/c.yaml").write_text("v: 1\n")

    async def main() -> None:
        async with ConfigWatch([conf], step_ms=10, initial=content_hash([conf])) as watch:
            changes = watch.changes()
            if how == "rename":
                os.rename(conf, tmp_path / "old")
                os.rename(tmp_path / "new", conf)
            else:
                shutil.rmtree(conf)
                shutil.copytree(tmp_path / "new", conf)
            with pytest.raises(DirReplacedError, match=f"config dir {conf} was replaced or removed"):
                await asyncio.wait_for(anext(changes), 5)

    asyncio.run(main())


def test_reloader_watch_survives_a_failing_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loguru_caplog: pytest.LogCaptureFixture
) -> None:
    """A hash that raises ends one watch, not watching: each failure is logged, the pause
    before the next watch doubles, and an edit made meanwhile is reloaded."""
    conf = write_tree(tmp_path / "conf", {"config.yaml": "app:\n  name: flaky\nlogging:\n  level: INFO\n"})
    real = watch_module.ContentIndex.scan
    calls = 0

    def flaky(index: watch_module.ContentIndex) -> watch_module.Contents:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise RuntimeError("disk hiccup")
        return real(index)

    async def main() -> None:
        async with started_app(conf, env={}) as app:
            monkeypatch.setattr(watch_module.ContentIndex, "scan", flaky)
            watching = asyncio.create_task(app.watch())
            (conf / "config.yaml").write_text("app:\n  name: flaky\nlogging:\n  level: DEBUG\n")
            for _ in range(500):
                if app.snapshot.version > 1:
                    break
                await asyncio.sleep(0.01)
            watching.cancel()
            assert app.snapshot.section("logging")["level"] == "DEBUG"

    asyncio.run(main())
    messages = [r.getMessage().splitlines()[0] for r in loguru_caplog.records]  # the first has a traceback
    failures = [m for m in messages if "failed (RuntimeError: disk hiccup)" in m]
    assert [m.rsplit(" in ", 1)[1] for m in failures] == ["0.1 s", "0.2 s", "0.4 s"]


def test_index_reads_again_only_files_whose_status_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An index hashes as content_hash does, reading again only a file whose status changed."""
    monkeypatch.setattr(watch_module, "RACY_NS", 0)  # files written before a scan count as settled
    (tmp_path / "a.yaml").write_text("a: 1\n")
    (tmp_path / "b.yaml").write_text("b: 1\n")
    index = watch_module.ContentIndex([tmp_path])
    first = index.scan()
    assert first.digest == content_hash([tmp_path]) and index.reads == 2
    assert index.scan() == first and index.reads == 2
    (tmp_path / "b.yaml").write_text("b: 22\n")
    second = index.scan()
    assert second.digest == content_hash([tmp_path]) != first.digest and index.reads == 3
    assert set(second.under(tmp_path)) == {"a.yaml", "b.yaml"}


def test_index_reads_a_file_again_while_its_change_is_recent(tmp_path: Path) -> None:
    """A same-size rewrite right after a scan is seen: a recent status vouches for nothing."""
    target = tmp_path / "a.yaml"
    target.write_text("a: 1\n")
    index = watch_module.ContentIndex([tmp_path])
    before = index.scan()
    target.write_text("a: 2\n")
    assert index.scan().digest == content_hash([tmp_path]) != before.digest
