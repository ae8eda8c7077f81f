"""A reload that re-merges some files traces, validates and hashes only the units they touch,
and what it builds is exactly what loading the same files in full builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.assembly import assemble, load_config
from framework.config.compose import ConfigSource
from framework.config.snapshot import Snapshot
from framework.config.watch import ContentIndex
from framework.errors import ValidationError
from framework.reload.plan import diff
from tests.reload.conftest import component, make_project

GAMMA = component("gamma", "rx.Still", value=3, token="s3cret-gamma", label='"https://user:pw-gamma@db.example"')
HEALTH = "# @package _global_\nhealth:\n  interval: 7\n"
CONFIG = """\
defaults:
  - components/alpha
  - components/beta
  - components/gamma
  - health
  - _self_

app:
  name: units
  allowed_packages: [rx]
"""


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_project(tmp_path, config=CONFIG, components__gamma=GAMMA, health=HEALTH)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.chdir(root)
    return root / "conf"


def reloaded(conf: Path, running: Snapshot) -> Snapshot:
    """What a reload builds: the running snapshot re-merged with the files' digests."""
    digests = ContentIndex([conf]).scan().under(conf)
    return load_config(ConfigSource(conf), running.version + 1, previous=running, digests=digests)


def assert_same(fast: Snapshot, full: Snapshot) -> None:
    assert fast.data == full.data and list(fast.data) == list(full.data)
    assert list(fast.data["components"]) == list(full.data["components"])
    assert sorted(fast.provenance.paths()) == sorted(full.provenance.paths())
    for path in full.provenance.paths():
        assert fast.provenance.history(path) == full.provenance.history(path), path
    assert fast.reload_policy == full.reload_policy
    assert fast.secrets == full.secrets
    assert sorted(map(str, fast.secret_values())) == sorted(map(str, full.secret_values()))
    assert fast.digest == full.digest
    assert [fast.description(p) for p in full.provenance.paths()] == [full.description(p) for p in full.provenance.paths()]


EDITS = {
    "a value": ("components/alpha.yaml", component("alpha", value=2, label="first")),
    "lines shifted": ("components/alpha.yaml", component("alpha", value=1, label="first").replace("\n", "\n\n# a comment\n", 1)),
    "a key removed, its default back": ("components/alpha.yaml", component("alpha", value=1)),
    "a class changed": ("components/alpha.yaml", component("alpha", "rx.Still", value=1, token="t0ken-alpha")),
    "a secret changed": ("components/gamma.yaml", GAMMA.replace("s3cret-gamma", "s3cret-other")),
    "a section's file": ("health.yaml", "# @package _global_\nhealth:\n  interval: 9\n"),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=list(EDITS))
def test_a_reload_of_some_units_builds_what_a_full_load_builds(conf: Path, edit: tuple[str, str]) -> None:
    """Data, key order, origins, policies, secrets and digest equal a full load's."""
    running = load_config(ConfigSource(conf))
    (conf / edit[0]).write_text(edit[1])
    fast = reloaded(conf, running)
    assert fast.changed_since is not None  # the units path was taken
    assert_same(fast, load_config(ConfigSource(conf)))


def test_diff_of_touched_units_equals_a_full_diff(conf: Path) -> None:
    """The changes listed from the touched units are those of comparing everything."""
    running = load_config(ConfigSource(conf))
    (conf / "components/gamma.yaml").write_text(GAMMA.replace("value: 3", "value: 4").replace("pw-gamma", "pw-new"))
    fast = reloaded(conf, running)
    full = load_config(ConfigSource(conf), running.version + 1)
    assert full.changed_since is None
    assert diff(running, fast) == diff(running, full)
    assert [c.key for c in diff(running, fast)] == ["components.gamma.config.label", "components.gamma.config.value"]


def test_an_invalid_edit_is_refused_with_the_reasons_of_a_full_load(conf: Path) -> None:
    """A schema violation in an edited unit reads as it does when everything is loaded."""
    running = load_config(ConfigSource(conf))
    (conf / "components/alpha.yaml").write_text(component("alpha", value="'many'", colour="red"))
    with pytest.raises(ValidationError) as fast:
        reloaded(conf, running)
    with pytest.raises(ValidationError) as full:
        load_config(ConfigSource(conf))
    assert fast.value.reasons == full.value.reasons


def test_the_app_section_or_an_override_means_a_full_load(conf: Path) -> None:
    """Every component's schema depends on `app`: an edit there validates everything again."""
    running = load_config(ConfigSource(conf))
    (conf / "config.yaml").write_text(CONFIG.replace("name: units", "name: other"))
    assert reloaded(conf, running).changed_since is None
    source = ConfigSource(conf, overrides=("components.alpha.config.value=5",))
    running = load_config(source)
    (conf / "components/alpha.yaml").write_text(component("alpha", value=2))
    assert load_config(source, 2, previous=running).changed_since is None


def test_only_the_edited_file_is_read_again(conf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files whose digest the hash vouches for are not read by the re-merge."""
    import framework.config.recompose as recompose_module

    running = load_config(ConfigSource(conf))
    (conf / "components/beta.yaml").write_text(component("beta", "rx.Dependent", "alpha", value=11))
    read: list[Path] = []
    real = recompose_module.read_text
    monkeypatch.setattr(recompose_module, "read_text", lambda path, limit: read.append(path) or real(path, limit))
    assert reloaded(conf, running).get("components.beta.config.value") == 11
    assert [p.name for p in read] == ["beta.yaml"]


def test_a_chain_of_reloads_stays_equal_to_full_loads(conf: Path) -> None:
    """Reload after reload (each re-merging only its units from the last), nothing drifts."""
    running = load_config(ConfigSource(conf))
    for name, text in [
        ("components/alpha.yaml", component("alpha", value=5, label="x")),
        ("components/gamma.yaml", GAMMA.replace("value: 3", "value: 30")),
        ("health.yaml", "# @package _global_\nhealth:\n  interval: 2\n"),
        ("components/alpha.yaml", component("alpha", value=6)),
    ]:
        (conf / name).write_text(text)
        fast = reloaded(conf, running)
        assert fast.changed_since is not None
        assert_same(fast, load_config(ConfigSource(conf)))
        running = fast


def test_a_config_only_edit_reuses_the_running_plan(conf: Path) -> None:
    """Only `config` values changed: the graph and classes are the running ones, the specs
    those a full assembly gives; a changed dependency assembles everything again."""
    running = load_config(ConfigSource(conf))
    plan = assemble(running)
    (conf / "components/beta.yaml").write_text(component("beta", "rx.Dependent", "alpha", value=12))
    fast = reloaded(conf, running)
    reused = assemble(fast, running=(running, plan))
    full = assemble(load_config(ConfigSource(conf)))
    assert reused.graph is plan.graph and reused.classes is plan.classes
    assert reused.specs == full.specs and list(reused.specs) == list(full.specs)
    assert reused.graph.order == full.graph.order
    (conf / "components/beta.yaml").write_text(component("beta", "rx.Dependent", value=12))
    again = assemble(reloaded(conf, running), running=(running, plan))
    assert again.graph is not plan.graph and again.graph.edges["beta"] == ()
