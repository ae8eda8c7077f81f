"""Re-merging only edited files gives exactly what a full Hydra compose gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.assembly import load_config
from framework.config.compose import ConfigSource
from framework.config.plain import leaves
from framework.config.recompose import recompose
from framework.errors import InterpolationError
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
    fast = load_config(fast_source, previous=previous_snapshot)
    full = load_config(fast_source)
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
    before = load_config(source)
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

    before = load_config(source)
    (source.config_dir / edit[0]).write_text(textwrap.dedent(edit[1]).lstrip("\n"))
    assert before.composition is not None
    assert recompose(before.composition, source) is None


PLAIN_FILES = {
    "config.yaml": "defaults:\n  - db: sqlite\n  - site\n  - _self_\napp:\n  name: plain\nservice:\n  port: 8000\n",
    "db/sqlite.yaml": "driver: sqlite\npool: 1\nopts: {wal: true}\n",
    "site.yaml": "# @package _global_\nservice:\n  host: local\n  tags: [a, b]\n",
}


@pytest.mark.parametrize(
    "edit, plain",
    [
        (("db/sqlite.yaml", "driver: sqlite3\npool: 2\nopts: {wal: false, sync: 1}\n"), True),
        (("site.yaml", "# @package _global_\nservice:\n  host: other\n"), True),
        (("db/sqlite.yaml", "driver: sqlite\npool: ${service.port}\n"), False),  # to resolve
        (("db/sqlite.yaml", "driver: sqlite\npool: ???\n"), False),  # OmegaConf reports it
    ],
)
def test_plain_edits_need_no_omegaconf(config_dir: Path, edit: tuple[str, str], plain: bool) -> None:
    """With no launch overrides and nothing to resolve, a reload skips OmegaConf and still
    equals a full compose; an interpolation or a ??? goes through OmegaConf."""
    write_tree(config_dir, PLAIN_FILES)
    source = ConfigSource(config_dir, environ={})
    before = load_config(source)
    (config_dir / edit[0]).write_text(edit[1])
    assert before.composition is not None
    fast = recompose(before.composition, source)
    assert fast is not None
    assert (fast.config is None) is plain
    if edit[1].endswith("???\n"):
        with pytest.raises(InterpolationError, match="db.pool: mandatory value is missing"):
            load_config(source, previous=before)
        return
    same(source, before)
