"""The content hash that confirms a change, and the watch that yields only settled changes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from framework.config.watch import ConfigWatch, Stamp, content_hash


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
