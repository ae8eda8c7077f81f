"""The first compose merges the user's files in one pass and still equals Hydra's own compose."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from framework.config.compose import ConfigSource, compose_config
from framework.errors import CompositionError
from framework.testing import write_tree

PRIMARY = """
    defaults:
      - db: sqlite
      - site
      - optional local: dev
      - _self_
    service:
      port: 8000
      tags: [a, b]
      url: http://${service.host}:${service.port}
      token: ???
    hydra:
      job:
        name: merged
    """
FILES = {
    "config.yaml": PRIMARY,
    "db/sqlite.yaml": "driver: sqlite\npool: 1\nurl: ${service.port}\nopts: {wal: true}\n",
    "db/postgres.yaml": "driver: postgres\npool: 10\n",
    "site.yaml": "# @package _global_\nservice:\n  host: local\n  port: 7000\n  tags: [z]\n",
    "local/dev.yaml": "# @package db\npool: 4\nopts: {sync: off, wal: false}\nextra: [1, {k: v}]\n",
}
CASES = {
    "plain files": {},
    "a group option chosen on the command line": {"overrides": ["db=postgres", "++db.pool=2"]},
    "the primary config merged first": {"config.yaml": PRIMARY.replace("- _self_\n", "").replace(
        "defaults:\n", "defaults:\n      - _self_\n")},
    "a mapping meets a scalar": {"site.yaml": "# @package _global_\nservice:\n  port: {a: 1}\n"},
    "a scalar meets a mapping": {"local/dev.yaml": "# @package db\nopts: 3\n"},
    "null replaces a mapping": {"local/dev.yaml": "# @package db\nopts: null\n"},
}


def _hydra(config_dir: Path, overrides: list[str]) -> Any:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        try:
            return OmegaConf.to_container(compose("config", overrides=overrides), resolve=False)
        except Exception as exc:  # the comparison is of the outcome, errors included
            return type(exc).__name__


def _ours(config_dir: Path, overrides: list[str]) -> Any:
    try:
        config = compose_config(ConfigSource(config_dir, overrides=tuple(overrides), environ={})).config
    except CompositionError as exc:
        return type(exc.__cause__).__name__
    return OmegaConf.to_container(config, resolve=False)


@pytest.mark.parametrize("case", CASES)
def test_compose_equals_hydra_compose(config_dir: Path, case: str) -> None:
    """Values, key order and failures are Hydra's, whichever way the files were merged."""
    changes = dict(CASES[case])
    overrides = changes.pop("overrides", [])
    files = FILES | changes
    write_tree(config_dir, files)
    ours, expected = _ours(config_dir, overrides), _hydra(config_dir, overrides)
    assert ours == expected
    if isinstance(expected, dict):
        assert list(ours) == list(expected)
        assert list(ours["service"]) == list(expected["service"])


def test_plain_files_take_one_merge_not_one_per_file(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's files reach OmegaConf's merge once, however many there are."""
    write_tree(config_dir, FILES)
    calls: list[int] = []
    merge_with = DictConfig.merge_with

    def counting(self: DictConfig, *others: Any) -> None:
        calls.append(len(others))
        merge_with(self, *others)

    monkeypatch.setattr(DictConfig, "merge_with", counting)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        compose("config")
    by_hydra = len(calls)  # one merge per config: Hydra's own, then each of the user's
    calls.clear()
    user_files = len(compose_config(ConfigSource(config_dir, environ={})).files)
    assert user_files == 4
    assert len(calls) == by_hydra - user_files + 1


@dataclass
class Database:
    driver: str = "sqlite"
    pool: int = 1


def test_a_users_structured_schema_is_merged_by_hydra(config_dir: Path) -> None:
    """A schema in Hydra's ConfigStore types the file it matches: a wrong type still fails."""
    store = ConfigStore.instance()
    store.store(group="db", name="sqlite_schema", node=Database)
    try:
        write_tree(
            config_dir,
            {
                "config.yaml": "defaults:\n  - db: sqlite\n  - _self_\n",
                "db/sqlite.yaml": "defaults:\n  - sqlite_schema\n  - _self_\npool: many\n",
            },
        )
        with pytest.raises(CompositionError, match="pool"):
            compose_config(ConfigSource(config_dir, environ={}))
        assert _hydra(config_dir, []) == "ConfigCompositionException"
    finally:
        del store.repo["db"]
