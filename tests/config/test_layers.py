"""Composition layers, precedence and provenance, driven through the `integrate` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework.testing import integrate, write_tree


@pytest.fixture
def app(config_dir: Path) -> Path:
    write_tree(
        config_dir,
        {
            "config.yaml": """
                defaults:
                  - db: sqlite
                  - extra
                  - _self_
                app:
                  name: layered
                  env_prefix: LAYERED
                service:
                  port: 8000
                  host: localhost
                  tags: [a, b]
                """,
            "db/sqlite.yaml": """
                driver: sqlite
                pool: 1
                """,
            "db/postgres.yaml": """
                driver: postgres
                pool: 10
                """,
            "extra.yaml": """
                service:
                  port: 7000
                  timeout: 3
                """,
        },
    )
    return config_dir.parent


def show(cwd: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    result = integrate("show", "--format", "json", "--provenance", *args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return {row["key"]: row for row in json.loads(result.stdout)}


def test_files_merge_in_defaults_order_and_self_wins(app: Path) -> None:
    """The primary config's own keys (_self_ last) override earlier files, with file:line."""
    rows = show(app)
    assert rows["service.port"]["value"] == 8000
    assert rows["service.port"]["where"] == "conf/config.yaml:9"
    assert rows["service.timeout"]["where"] == "conf/extra.yaml:3"
    assert rows["db.driver"] == {
        "key": "db.driver",
        "value": "sqlite",
        "layer": "file",
        "where": "conf/db/sqlite.yaml:1",
    }


def test_env_beats_files_and_cli_beats_env(app: Path) -> None:
    """Precedence is files < env vars < command line, and each winner is named."""
    env = {"LAYERED__SERVICE__PORT": "9000", "LAYERED__SERVICE__HOST": "example.org"}
    rows = show(app, "service.host=cli.example", env=env)
    assert rows["service.port"]["value"] == 9000
    assert rows["service.port"]["where"] == "env LAYERED__SERVICE__PORT"
    assert rows["service.host"]["value"] == "cli.example"
    assert rows["service.host"]["where"] == "argument service.host=cli.example"


def test_env_values_are_yaml_scalars(app: Path) -> None:
    """An env value is parsed as YAML: ints, booleans and flow lists keep their types."""
    env = {"LAYERED__SERVICE__TAGS": "[x, y, 3]", "LAYERED__SERVICE__TIMEOUT": "2.5"}
    rows = show(app, env=env)
    assert rows["service.tags"]["value"] == ["x", "y", 3]
    assert rows["service.timeout"]["value"] == 2.5


def test_env_can_set_a_key_only_the_schema_defaults(app: Path) -> None:
    """A framework key absent from the YAML can still be set from the environment."""
    rows = show(app, env={"LAYERED__APP__STOP_TIMEOUT": "4"})
    assert rows["app.stop_timeout"] == {
        "key": "app.stop_timeout",
        "value": 4,
        "layer": "env",
        "where": "env LAYERED__APP__STOP_TIMEOUT",
    }


def test_env_prefix_flag_overrides_app_env_prefix(app: Path) -> None:
    """--env-prefix chooses which variables form the env layer."""
    rows = show(
        app, "--env-prefix", "OTHER", env={"OTHER__SERVICE__PORT": "1", "LAYERED__SERVICE__PORT": "2"}
    )
    assert rows["service.port"]["value"] == 1


def test_schema_defaults_are_the_lowest_layer(app: Path) -> None:
    """Keys no file sets come from the framework schema and say so."""
    rows = show(app)
    assert rows["app.stop_timeout"]["layer"] == "schema default"
    assert rows["app.stop_timeout"]["value"] == 10.0


def test_group_option_and_cli_override_forms(app: Path) -> None:
    """group=option, +key, ++key, ~key and list values follow Hydra's grammar."""
    rows = show(
        app, "db=postgres", "+service.debug=true", "++service.port=1", "~service.timeout", "service.tags=[q]"
    )
    assert rows["db.driver"]["value"] == "postgres"
    assert rows["db.driver"]["where"] == "conf/db/postgres.yaml:1"
    assert rows["service.debug"]["value"] is True
    assert rows["service.port"]["where"] == "argument ++service.port=1"
    assert "service.timeout" not in rows
    assert rows["service.tags"]["value"] == ["q"]


def test_explain_lists_every_layer_it_overrode(app: Path) -> None:
    """explain names the winner and every lower layer with its value and location."""
    result = integrate(
        "explain",
        "service.port",
        "--format",
        "json",
        "service.port=1",
        cwd=app,
        env={"LAYERED__SERVICE__PORT": "2"},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["value"] == 1
    assert report["where"] == "argument service.port=1"
    assert [(o["value"], o["where"]) for o in report["overrode"]] == [
        (2, "env LAYERED__SERVICE__PORT"),
        (8000, "conf/config.yaml:9"),
        (7000, "conf/extra.yaml:2"),
    ]


def test_explain_text_shows_reload_policy(app: Path) -> None:
    """explain in text names the layer, the location and the reload policy."""
    result = integrate("explain", "app.name", cwd=app)
    assert result.returncode == 0, result.stderr
    assert 'app.name = "layered"' in result.stdout
    assert "file (conf/config.yaml:6)" in result.stdout
    assert "reload:  never" in result.stdout


def test_interpolations_are_resolved_at_launch(config_dir: Path) -> None:
    """${oc.env:...} and ${key} references are resolved before anything uses them."""
    write_tree(config_dir, {"config.yaml": "a: ${oc.env:SOME_HOST,fallback}\nb: ${a}-x\n"})
    result = integrate("show", "--format", "json", cwd=config_dir.parent, env={"SOME_HOST": "h1"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["a"], data["b"]) == ("h1", "h1-x")


def test_check_reports_success(app: Path) -> None:
    """check exits 0 and summarizes a valid config."""
    result = integrate("check", cwd=app)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: conf/config.yaml is valid")


def test_every_verb_has_help(app: Path) -> None:
    """Each verb explains itself with --help."""
    for verb in ("show", "explain", "check"):
        result = integrate(verb, "--help", cwd=app)
        assert result.returncode == 0 and "--config-dir" in result.stdout


def test_env_var_can_select_a_group_option(app: Path) -> None:
    """<PREFIX>__<GROUP>=option chooses a config group's option, below the command line."""
    rows = show(app, env={"LAYERED__DB": "postgres"})
    assert rows["db.driver"]["where"] == "conf/db/postgres.yaml:1"
    assert show(app, "db=sqlite", env={"LAYERED__DB": "postgres"})["db.driver"]["value"] == "sqlite"
