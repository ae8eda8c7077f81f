"""The fleet overlay layer: between the files and the env layer, with its own provenance.

defaults < files < fleet overlay < env < CLI; an overlay value is data (never interpolated),
names its version, time and author in provenance, and is refused where it may not go.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from framework.assembly import load_config
from framework.config.compose import ConfigSource
from framework.config.overlay import Overlay
from framework.config.provenance import Layer
from framework.config.recompose import recompose
from framework.errors import OverlayError, ValidationError
from framework.testing import write_tree

FILES = {
    "config.yaml": """
        defaults:
          - db: sqlite
          - _self_
        app:
          name: layered
          env_prefix: LAYERED
        http:
          token: file-token-0123456789
        service:
          port: 8000
          host: file-host
          retries: 1
          name: file-name
        """,
    "db/sqlite.yaml": "driver: sqlite\n",
}
OVERLAY = Overlay(7, {"service.port": 9000, "service.host": "overlay-host", "service.retries": 5},
                  "2026-12-02T10:00Z", "ops@host")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "conf", FILES)


def _load(config: Path, overlay: Overlay | None = OVERLAY, overrides: tuple[str, ...] = (), **environ: str):  # type: ignore[no-untyped-def]
    return load_config(ConfigSource(config, overrides=overrides, environ=environ, overlay=overlay))


def test_the_overlay_beats_the_files_and_loses_to_env_and_arguments(config: Path) -> None:
    snapshot = _load(config, overrides=("service.retries=9",), LAYERED__SERVICE__HOST="env-host")
    assert snapshot.get("service.port") == 9000  # overlay over file
    assert snapshot.get("service.host") == "env-host"  # env over overlay
    assert snapshot.get("service.retries") == 9  # argument over overlay
    assert snapshot.get("service.name") == "file-name"  # untouched
    history = snapshot.provenance.history(("service", "host"))
    assert [o.layer for o in history] == [Layer.FILE, Layer.FLEET, Layer.ENV]
    assert history[1].where == "fleet overlay v7 (set 2026-12-02T10:00Z by ops@host)"
    assert snapshot.provenance.where(("service", "port")) == "fleet overlay v7 (set 2026-12-02T10:00Z by ops@host)"


def test_an_overlay_value_is_data_never_an_interpolation(config: Path) -> None:
    overlay = Overlay(2, {"service.name": "${http.token}"})
    assert _load(config, overlay).get("service.name") == "${http.token}"


def test_a_bad_overlay_value_is_reported_at_its_key_with_the_overlay_as_origin(config: Path) -> None:
    overlay = Overlay(3, {"service.port": "not-a-port", "http.token": "short"}, "2026-12-02T10:00Z", "ops@host")
    # Only framework sections have schemas here: the http token's minimum length is one.
    with pytest.raises(ValidationError) as caught:
        _load(config, overlay)
    text = str(caught.value)
    assert "http.token" in text and "fleet overlay v3 (set 2026-12-02T10:00Z by ops@host)" in text
    assert "short" not in text  # the secret is masked


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("service.prot", "which is not a key of the config; did you mean 'service.port'?"),
        ("fleet.name", "the fleet section says where the overlay comes from"),
        ("db", "the overlay sets values, not config group options"),
        ("service..port", "a key is a dotted path"),
    ],
)
def test_keys_the_overlay_may_not_set_are_refused_by_name(config: Path, key: str, words: str) -> None:
    with pytest.raises(OverlayError) as caught:
        _load(config, Overlay(4, {key: 1}))
    assert f"fleet overlay v4 sets '{key}'" in str(caught.value)
    assert words in str(caught.value)


def test_a_file_edit_recomposes_with_the_overlay_it_ran_and_a_new_overlay_composes_in_full(config: Path) -> None:
    first = _load(config)
    (config / "config.yaml").write_text((config / "config.yaml").read_text().replace("file-name", "edited"))
    source = ConfigSource(config, environ={}, overlay=OVERLAY)
    edited = load_config(source, 2, previous=first)
    assert (edited.get("service.name"), edited.get("service.port")) == ("edited", 9000)
    newer = Overlay(8, {"service.port": 9100})
    moved = load_config(ConfigSource(config, environ={}, overlay=newer), 3, previous=edited)
    assert (moved.get("service.port"), moved.get("service.host")) == (9100, "file-host")
    assert moved.provenance.where(("service", "port")) == "fleet overlay v8"


def test_a_new_overlay_is_laid_on_the_files_already_merged_with_exactly_a_full_composes_result(config: Path) -> None:
    environ = {"LAYERED__SERVICE__NAME": "env-name"}
    launch = ConfigSource(config, overrides=("service.retries=9", "db=sqlite"), environ=environ, overlay=OVERLAY)
    running = load_config(launch)
    newer = Overlay(9, {"service.port": 9100, "service.name": "overlay-name"},
                    "2026-12-03T08:00Z", "ops@host")
    moved = dataclasses.replace(launch, overlay=newer)
    assert running.composition is not None
    assert recompose(running.composition, moved) is not None  # no Hydra compose
    fast, full = load_config(moved, 2, previous=running), load_config(moved, 2)
    assert fast.data == full.data and fast.get("service.port") == 9100 and fast.get("service.name") == "env-name"
    assert {p: fast.provenance.history(p) for p in full.provenance.paths()} == {
        p: full.provenance.history(p) for p in full.provenance.paths()}
    assert fast.provenance.where(("service", "port")) == "fleet overlay v9 (set 2026-12-03T08:00Z by ops@host)"
    gone = dataclasses.replace(launch, overlay=None)  # the overlay dropped: files, env and CLI stay
    assert load_config(gone, 3, previous=fast).data == load_config(gone, 3).data
