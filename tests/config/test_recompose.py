"""Re-merging only edited files gives exactly what a full Hydra compose gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.config.compose import ConfigSource, recompose
from framework.config.loader import load_snapshot
from framework.config.provenance import leaves
from framework.testing import write_tree

FILES = {
    "config.yaml": """
        defaults:
          - db: sqlite
          - site
          - _self_
        app:
          name: merged
          env_prefix: MERGED
        service:
          port: 8000
          tags: [a, b]
          gone: 1
        """,
    "db/sqlite.yaml": "driver: sqlite\npool: 1\nurl: ${service.port}\n",
    "db/postgres.yaml": "driver: postgres\npool: 10\n",
    "site.yaml": "# @package _global_\nservice:\n  host: local\n  port: 7000\n",
}
OVERRIDES = ("db.pool=3", "+service.extra=x", "~service.gone", "++service.debug=true", "db=sqlite")


@pytest.fixture
def source(config_dir: Path) -> ConfigSource:
    write_tree(config_dir, FILES)
    return ConfigSource(config_dir, overrides=OVERRIDES, environ={"MERGED__SERVICE__HOST": "env-host"})


def same(fast_source: ConfigSource, previous_snapshot) -> None:  # type: ignore[no-untyped-def]
    fast = load_snapshot(fast_source, previous=previous_snapshot.composition)
    full = load_snapshot(fast_source)
    assert fast.data == full.data
    for path, _ in leaves(full.data):
        assert fast.provenance.history(path) == full.provenance.history(path), path


@pytest.mark.parametrize(
    "edit",
    [
        ("db/sqlite.yaml", "driver: sqlite3\npool: 2\nurl: ${service.port}\nnew: [1, 2]\n"),
        ("db/sqlite.yaml", "pool: 1\n"),  # keys removed
        ("site.yaml", "# @package _global_\nservice:\n  host: other\n  port: 7100\n  tags: [z]\n"),
    ],
)
def test_edited_leaf_file_matches_full_compose(source: ConfigSource, edit: tuple[str, str]) -> None:
    """Values and provenance after re-merging equal a full compose of the same files."""
    before = load_snapshot(source)
    (source.config_dir / edit[0]).write_text(edit[1])
    assert before.composition is not None
    assert recompose(before.composition, source) is not None
    same(source, before)


@pytest.mark.parametrize(
    "edit",
    [
        ("config.yaml", FILES["config.yaml"].replace("port: 8000", "port: 8001")),  # holds the defaults list
        ("site.yaml", "service:\n  host: local\n"),  # package header gone
        ("db/sqlite.yaml", "defaults:\n  - _self_\ndriver: x\n"),  # gains a defaults list
        ("db/sqlite.yaml", "driver: [broken\n"),  # invalid YAML: the full compose reports it
        ("site.yaml", "# @package _global_\nservice:\n  port: {a: 1}\n"),  # a mapping meets a scalar
    ],
)
def test_edits_that_may_change_the_defaults_list_compose_in_full(source: ConfigSource, edit: tuple[str, str]) -> None:
    """Edits that could change what Hydra merges are not re-merged."""
    import textwrap

    before = load_snapshot(source)
    (source.config_dir / edit[0]).write_text(textwrap.dedent(edit[1]).lstrip("\n"))
    assert before.composition is not None
    assert recompose(before.composition, source) is None
