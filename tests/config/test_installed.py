"""The installed-modules layer: an installation adds one component, named where it came from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from framework import ConfigSource, InstallationError, Layer, load_config
from framework.config.installed import Installation

CONF = Path(__file__).resolve().parents[2] / "conf"
JOURNAL = Installation(
    7, "second-journal", "1.2.0", "acme", "http://127.0.0.1:8700", "components.journal:TradeJournal",
    {"path": "var/second.jsonl"},
)


def test_an_installation_adds_its_component_with_its_origin() -> None:
    snapshot = load_config(dataclasses.replace(ConfigSource(CONF), installed=(JOURNAL,)))
    entry = snapshot.section("components")["second_journal"]
    assert entry["class"] == "components.journal.TradeJournal" and entry["config"]["path"] == "var/second.jsonl"
    origin = snapshot.provenance.history(("components", "second_journal", "config", "path"))[-1]
    assert origin.layer is Layer.MODULE
    assert origin.where == "module registry: installation 7 of second-journal 1.2.0 for acme (http://127.0.0.1:8700)"


def test_laid_on_a_running_snapshot_it_equals_a_full_compose() -> None:
    source = ConfigSource(CONF, overrides=("components.feed.config.interval=0.5",))
    running = load_config(source)
    with_it = dataclasses.replace(source, installed=(JOURNAL,))
    laid, full = load_config(with_it, previous=running), load_config(with_it)
    assert laid.data == full.data
    for path in full.provenance.paths():
        assert laid.provenance.history(path) == full.provenance.history(path), path
    without = load_config(source, previous=laid)  # uninstalled: gone again
    assert "second_journal" not in without.section("components")


def test_an_installation_may_not_replace_a_component_of_the_files() -> None:
    clash = dataclasses.replace(JOURNAL, module="journal")
    with pytest.raises(InstallationError) as caught:
        load_config(dataclasses.replace(ConfigSource(CONF), installed=(clash,)))
    assert caught.value.installation_id == 7
    assert "the config already has a component 'journal'" in str(caught.value)


def test_an_installations_config_is_data_never_interpolated() -> None:
    sneaky = dataclasses.replace(JOURNAL, config={"path": "${app.name}"})
    snapshot = load_config(dataclasses.replace(ConfigSource(CONF), installed=(sneaky,)))
    assert snapshot.section("components")["second_journal"]["config"]["path"] == "${app.name}"
