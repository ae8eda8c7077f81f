"""A composition from the cache is the composition Hydra makes: values, provenance, refusals.

Every config dir of the corpus is loaded three ways: with the cache off (a full Hydra compose),
with an empty cache (a full compose that keeps its entry) and again (from the entry where one
was kept); the three outcomes must be identical, error texts included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from framework.assembly import load_config
from framework.config import compose as compose_module
from framework.config.compose import ConfigSource
from framework.config.compose_cache import CACHE_DIR_VARIABLE, ComposeCache, cache_dir, cache_for
from framework.config.explain import provenance_rows
from framework.config.files import DEFAULT_MAX_FILE_BYTES
from framework.errors import ConfigError
from framework.testing import write_tree
from tests.config.test_defaults_list_refusals import CORPUS as DEFAULTS_REFUSALS

BENCH = Path(__file__).resolve().parents[2] / "bench"
SHIPPED = Path(__file__).resolve().parents[2] / "conf"

APP = "app:\n  name: corpus\n  env_prefix: CORPUS\n"
PRIMARY = """
    defaults:
      - db: sqlite
      - site
      - optional local: dev
      - _self_
    app:
      name: corpus
      env_prefix: CORPUS
    service:
      port: 8000
      tags: [a, b]
      url: http://${service.host}:${service.port}
      literal: \\${not.resolved}
      home: ${oc.env:CORPUS_HOME,/srv}
    """
FILES = {
    "config.yaml": PRIMARY,
    "db/sqlite.yaml": "driver: sqlite\npool: 1\nurl: db-${service.port}\nopts: {wal: true}\n",
    "db/postgres.yaml": "driver: postgres\npool: 10\n",
    "site.yaml": "# @package _global_\nservice:\n  host: local\n  port: 7000\n  tags: [z]\n",
    "local/dev.yaml": "# @package db\npool: 4\nopts: {sync: off, wal: false}\nextra: [1, {k: v}]\n",
    "extra/one.yaml": "# @package deep.inside.here\nvalue: 1\nnothing: null\nratio: 0.5\n",
}
CASES: dict[str, dict[str, Any]] = {
    "package headers, _self_ last, interpolations": {},
    "_self_ first": {"config.yaml": PRIMARY.replace("      - _self_\n", "").replace(
        "defaults:\n", "defaults:\n      - _self_\n")},
    "an explicit package in the defaults list": {"config.yaml": PRIMARY.replace("- site", "- site\n      - extra@pinned: one")},
    "plain values only": {"config.yaml": "defaults:\n  - db: postgres\n  - _self_\n" + APP,
                          "db/postgres.yaml": "# @package db\ndriver: postgres\npool: 10\n"},
    "no env prefix": {"config.yaml": "defaults:\n  - db: postgres\n  - _self_\napp:\n  name: plain\n"},
    "no app section (plain Hydra)": {"config.yaml": "defaults:\n  - db: postgres\n  - _self_\nx: 1\n"},
    "an env prefix given at launch": {"config.yaml": "defaults:\n  - db: postgres\n  - _self_\nx: 1\n",
                                      "environ": {"CORPUS__X": "2"}, "env_prefix": "CORPUS"},
    "a group option on the command line": {"overrides": ("db=postgres", "service.port=1")},
    "a new key on the command line": {"overrides": ("+service.extra=2",)},
    "an env var under the prefix": {"environ": {"CORPUS__SERVICE__PORT": "9"}},
    "a group chosen by env var": {"environ": {"CORPUS__DB": "postgres"}},
    "a mapping meets a scalar": {"local/dev.yaml": "# @package db\npool: {a: 1}\n"},
    "a scalar meets a mapping": {"local/dev.yaml": "# @package db\nopts: 3\n"},
    "integer keys (not kept: JSON would make them strings)": {"local/dev.yaml": "# @package db.codes\n1: one\n2: two\n"},
    "an interpolated defaults list (not kept: it may read the environment)": {
        "config.yaml": PRIMARY.replace("- db: sqlite", "- db: ${oc.env:CORPUS_DB,sqlite}")},
}
REFUSALS: dict[str, dict[str, str]] = {
    "invalid YAML": {"site.yaml": "service: [unclosed\n"},
    "a missing option": {"config.yaml": PRIMARY.replace("db: sqlite", "db: mysql")},
    "an empty file": {"site.yaml": ""},
    "a lone scalar": {"site.yaml": "just text\n"},
    "a duplicate key": {"site.yaml": "a: 1\na: 2\n"},
    "not UTF-8": {"site.yaml": "a: \udcff\n"},
    "a mandatory value left missing": {"site.yaml": "# @package _global_\nservice:\n  host: ???\n"},
    "an interpolation to nowhere": {"site.yaml": "# @package _global_\nservice:\n  host: ${nowhere}\n"},
    "an invalid framework section": {"site.yaml": "# @package _global_\napp:\n  name: [not, a, name]\n"},
    "a header with a bad package": {"site.yaml": "# @package a..b\nx: 1\n"},
    **{f"defaults list: {name}": {"config.yaml": text} for name, (text, _, _) in DEFAULTS_REFUSALS.items()},
}


def _outcome(
    conf: Path,
    cache: Path | None,
    overrides: tuple[str, ...] = (),
    environ: dict[str, str] | None = None,
    env_prefix: str | None = None,
) -> Any:
    """Everything a user sees of a load: values, every origin of every key, the merged files;
    or the error's type and text."""
    env = {**(environ or {}), CACHE_DIR_VARIABLE: str(cache) if cache else ""}
    try:
        snapshot = load_config(ConfigSource(conf, overrides=overrides, environ=env, env_prefix=env_prefix))
    except ConfigError as exc:
        return type(exc).__name__, str(exc)
    composition = snapshot.composition
    assert composition is not None
    return (
        snapshot.data,
        snapshot.digest,
        sorted(snapshot.secrets),
        provenance_rows(snapshot),
        {path: [str(o) for o in snapshot.provenance.history(path)] for path in snapshot.provenance.paths()},
        [(f.config_path, f.package, f.path, f.values, f.text) for f in composition.files],
        composition.overrides,
        composition.env_prefix,
    )


def _entry(conf: Path, cache: Path) -> Any:
    return ComposeCache(cache, conf.resolve(), "config", DEFAULT_MAX_FILE_BYTES).lookup()


def _both_ways(conf: Path, cache: Path, **how: Any) -> Any:
    """The outcome, after checking that a compose keeping its entry and one from it agree with
    a full Hydra compose."""
    expected = _outcome(conf, None, **how)
    assert _outcome(conf, cache, **how) == expected  # composed by Hydra, entry kept
    assert _outcome(conf, cache, **how) == expected  # from the entry, where one was kept
    return expected


@pytest.mark.parametrize("case", CASES)
def test_cached_compose_equals_hydra_compose(config_dir: Path, tmp_path: Path, case: str) -> None:
    """Package headers, _self_, group overrides, env vars, interpolations: the same outcome."""
    changes = dict(CASES[case])
    how = {key: changes.pop(key) for key in ("overrides", "environ", "env_prefix") if key in changes}
    write_tree(config_dir, FILES | changes)
    outcome = _both_ways(config_dir, tmp_path / "cache", **how)
    assert not isinstance(outcome[0], str) or not outcome[0].endswith("Error"), outcome
    kept = "not kept" not in case and not how.get("overrides")
    assert (_entry(config_dir, tmp_path / "cache") is not None) == kept


@pytest.mark.parametrize("case", REFUSALS)
def test_every_refusal_is_hydras(config_dir: Path, tmp_path: Path, case: str) -> None:
    """A config Hydra refuses is refused in the same words, whether or not a good compose of the
    same dir was cached before it broke; nothing is kept for it."""
    cache = tmp_path / "cache"
    write_tree(config_dir, FILES)
    _both_ways(config_dir, cache)  # a good entry for this dir, before the edit breaks it
    _write(config_dir, REFUSALS[case])
    name, _text = _both_ways(config_dir, cache)
    assert name.endswith("Error")


def _write(conf: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        (conf / relative).write_bytes(text.encode("utf-8", "surrogateescape"))


def test_the_shipped_config(tmp_path: Path) -> None:
    """The shipped conf/ (interpolations, group options, headers, components) composes alike."""
    _both_ways(SHIPPED, tmp_path / "cache")
    _both_ways(SHIPPED, tmp_path / "cache", overrides=("profile=fast",))


@pytest.mark.parametrize("count", [10, 100, 300])
def test_generated_apps(tmp_path: Path, count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's apps of 10, 100 and 300 component files compose alike, and are kept."""
    monkeypatch.syspath_prepend(str(BENCH))
    from _apps import make_app  # type: ignore[import-not-found]

    monkeypatch.syspath_prepend(str(tmp_path))  # make_app's component package
    conf = make_app(tmp_path, count)
    _both_ways(conf, tmp_path / "cache")
    assert _entry(conf, tmp_path / "cache") is not None


def test_an_edit_a_new_file_or_a_removed_one_is_seen(config_dir: Path, tmp_path: Path) -> None:
    """An entry holds only while every file read and the dir's listing are unchanged: a same-size
    edit, an optional option appearing, a file removed each compose anew."""
    cache = tmp_path / "cache"
    files = {k: v for k, v in FILES.items() if k != "local/dev.yaml"}
    write_tree(config_dir, files)
    before = _both_ways(config_dir, cache)
    (config_dir / "db" / "sqlite.yaml").write_text(FILES["db/sqlite.yaml"].replace("pool: 1", "pool: 2"))
    edited = _both_ways(config_dir, cache)
    assert edited != before
    write_tree(config_dir, {"local/dev.yaml": FILES["local/dev.yaml"]})  # the optional default now found
    appeared = _both_ways(config_dir, cache)
    assert appeared != edited
    (config_dir / "local" / "dev.yaml").unlink()
    assert _both_ways(config_dir, cache) == edited


EDITS: dict[str, tuple[dict[str, str], bool]] = {  # the edit, and whether it is re-merged without Hydra
    "a value in a packaged option": ({"local/dev.yaml": FILES["local/dev.yaml"].replace("pool: 4", "pool: 5")}, True),
    "a value in a global file": ({"site.yaml": FILES["site.yaml"].replace("7000", "7001")}, True),
    "a key removed": ({"db/sqlite.yaml": "driver: sqlite\npool: 1\nurl: x\n"}, True),
    "a key added, with integer keys": ({"extra/one.yaml": "# @package deep.inside.here\nvalue: {1: a}\n"}, True),
    "the only file of a config without a defaults list": ({"config.yaml": APP + "x: 2\n"}, True),
    "a mapping now meets a scalar": ({"local/dev.yaml": "# @package db\npool: {a: 1}\n"}, False),
    "a defaults list added": ({"site.yaml": "defaults:\n  - db: postgres\n" + FILES["site.yaml"]}, False),
    "a package header changed": ({"local/dev.yaml": FILES["local/dev.yaml"].replace("@package db", "@package other")}, False),
    "a header removed": ({"site.yaml": FILES["site.yaml"].split("\n", 1)[1]}, False),
    "the primary config's values": ({"config.yaml": PRIMARY.replace("port: 8000", "port: 8001")}, False),
    "Hydra's own node set": ({"site.yaml": FILES["site.yaml"] + "hydra:\n  job:\n    name: x\n"}, False),
    "invalid YAML": ({"site.yaml": "service: [unclosed\n"}, False),
    "emptied": ({"site.yaml": ""}, False),
}


@pytest.mark.parametrize("case", EDITS)
def test_an_edit_is_re_merged_or_composed_by_hydra(
    config_dir: Path, tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files whose edit cannot change the defaults list are merged again from the entry; any
    other edit is composed by Hydra; either way the outcome is a full compose's."""
    cache = tmp_path / "cache"
    edit, re_merged = EDITS[case]
    start = FILES | {"extra/one.yaml": FILES["extra/one.yaml"]}
    if case.startswith("the only file"):
        start = {"config.yaml": APP + "x: 1\n"}
    else:
        start["config.yaml"] = PRIMARY.replace("- site", "- site\n      - extra@deep.inside.here: one")
    write_tree(config_dir, start)
    _both_ways(config_dir, cache)
    _write(config_dir, edit)
    composed_by_hydra: list[object] = []
    hydra_compose = compose_module._hydra_compose

    def counted(*args: Any, **kwargs: Any) -> Any:
        composed_by_hydra.append(args)
        return hydra_compose(*args, **kwargs)

    monkeypatch.setattr(compose_module, "_hydra_compose", counted)
    ours = _outcome(config_dir, cache)
    assert (composed_by_hydra == []) == re_merged
    assert ours == _outcome(config_dir, None)
    assert _outcome(config_dir, cache) == ours  # and again, from the entry the edit left


@pytest.mark.parametrize(
    "damage",
    [
        "",
        "{not json",
        '{"key": [0], "listing": "", "read": {}, "files": [], "tree": {}}',  # another format
        '{"key": null}',
        "[1, 2, 3]",
        "[" * 100_000,  # nested past the recursion limit
    ],
)
def test_a_corrupt_or_stale_entry_falls_back_to_hydra(config_dir: Path, tmp_path: Path, damage: str) -> None:
    """An entry that is empty, cut short, of another version or shape is a miss, and replaced."""
    cache = tmp_path / "cache"
    write_tree(config_dir, FILES)
    expected = _both_ways(config_dir, cache)
    entry = ComposeCache(cache, config_dir.resolve(), "config", DEFAULT_MAX_FILE_BYTES).entry
    entry.write_text(damage)
    assert _outcome(config_dir, cache) == expected
    assert _entry(config_dir, cache) is not None


def test_an_entry_of_a_changed_file_is_not_reused(config_dir: Path, tmp_path: Path) -> None:
    """An entry whose recorded digest of a file no longer matches the file is ignored, even if
    the listing is the same (the content is what counts, not the names or the times)."""
    cache = tmp_path / "cache"
    write_tree(config_dir, FILES)
    _both_ways(config_dir, cache)
    entry = ComposeCache(cache, config_dir.resolve(), "config", DEFAULT_MAX_FILE_BYTES).entry
    stored = json.loads(entry.read_text())
    site = str(config_dir.resolve() / "site.yaml")
    stored["read"][site] = "0" * 40
    stored["tree"]["service"]["host"] = "stale"
    entry.write_text(json.dumps(stored))
    assert _entry(config_dir, cache) is None
    assert "stale" not in json.dumps(_outcome(config_dir, cache)[0])


def test_concurrent_writers_leave_a_whole_entry(config_dir: Path, tmp_path: Path) -> None:
    """Processes composing the same dir at once each get the right result; the entry they leave
    is whole and no temporary file is left behind."""
    cache = tmp_path / "cache"
    write_tree(config_dir, FILES)
    env = {**os.environ, CACHE_DIR_VARIABLE: str(cache)}
    command = [sys.executable, "-m", "framework", "check", "--format", "json", "--config-dir", str(config_dir)]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert len(set(outputs)) == 1
    assert _entry(config_dir, cache) is not None
    assert [p.name for p in (cache / "compose").iterdir() if p.suffix != ".json"] == []
    assert _outcome(config_dir, cache) == _outcome(config_dir, None)


def test_the_cache_dir_is_configurable_and_can_be_turned_off() -> None:
    """INTEGRATE_CACHE_DIR wins (empty: no cache); else XDG_CACHE_HOME; else ~/.cache."""
    assert cache_dir({CACHE_DIR_VARIABLE: "/var/cache/app"}) == Path("/var/cache/app")
    assert cache_dir({CACHE_DIR_VARIABLE: ""}) is None
    assert cache_dir({"XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/integrate")
    assert cache_dir({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache" / "integrate"  # XDG: ignored
    assert cache_dir({}) == Path.home() / ".cache" / "integrate"


def test_no_cache_inside_the_config_dir(config_dir: Path) -> None:
    """A cache dir inside the watched config dir is not used: its writes would look like edits."""
    write_tree(config_dir, FILES)
    environ = {CACHE_DIR_VARIABLE: str(config_dir / ".cache")}
    assert cache_for(environ, config_dir.resolve(), "config", DEFAULT_MAX_FILE_BYTES) is None
    _outcome(config_dir, config_dir / ".cache")
    assert not (config_dir / ".cache").exists()


def test_entries_are_private(config_dir: Path, tmp_path: Path) -> None:
    """The entry holds the config's values, as the files do: only its owner may read it."""
    cache = tmp_path / "cache"
    write_tree(config_dir, FILES)
    _outcome(config_dir, cache)
    entry = ComposeCache(cache, config_dir.resolve(), "config", DEFAULT_MAX_FILE_BYTES).entry
    assert entry.stat().st_mode & 0o077 == 0
    assert (cache / "compose").stat().st_mode & 0o077 == 0
