"""`integrate schema`: JSON Schemas (draft 2020-12) that every shipped YAML file passes and that
catch a wrong type or an unknown key, checked with the reference validator, `jsonschema`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from framework.cli import main
from framework.config.json_schema import DEFINITIONS, package_of, value_schema
from framework.testing import integrate, write_tree
from tests.readme import shown_output

REPO = Path(__file__).resolve().parents[2]
SHIPPED_FILES = sorted(path.relative_to(REPO / "conf") for path in (REPO / "conf").rglob("*.yaml"))


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped conf/ copied to a project, and its schemas written as a user would."""
    project = tmp_path_factory.mktemp("shipped")
    shutil.copytree(REPO / "conf", project / "conf")
    result = integrate("schema", "--out", "out", cwd=project)
    assert result.returncode == 0, result.stderr
    (project / "printed.txt").write_text(result.stdout)
    return project


def schema_of(project: Path, relative: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((project / "out" / relative.parent / f"{relative.stem}.schema.json").read_text())
    return loaded


def problems(schema: dict[str, Any], document: Any) -> list[str]:
    """`path: message` of each error, the one a validator ranks most relevant first."""
    validator = jsonschema.Draft202012Validator(schema)
    best = jsonschema.exceptions.best_match(validator.iter_errors(document))
    return [f"{best.json_path}: {best.message}"] if best else []


@pytest.mark.parametrize("relative", SHIPPED_FILES, ids=str)
def test_every_shipped_file_passes_its_schema(schemas: Path, relative: Path) -> None:
    """Each schema is a valid draft 2020-12 schema, and the shipped file it is for passes it."""
    schema = schema_of(schemas, relative)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert problems(schema, yaml.safe_load((REPO / "conf" / relative).read_text())) == []


def test_the_output_names_the_line_for_each_file(schemas: Path) -> None:
    """The verb says which file gets which schema, as the modeline to paste, relative to the file."""
    printed = (schemas / "printed.txt").read_text()
    assert printed.startswith(f"Wrote {len(SHIPPED_FILES)} JSON Schemas (draft 2020-12) to out/\n")
    assert "conf/config.yaml               # yaml-language-server: $schema=../out/config.schema.json" in printed
    assert "conf/components/analyzer.yaml  # yaml-language-server: $schema=../../out/components/analyzer.schema.json" in printed


def test_a_wrong_type_and_an_unknown_key_fail_naming_the_key(schemas: Path) -> None:
    """A string where an integer belongs, and a misspelt key, each fail with the key in the message."""
    analyzer = schema_of(schemas, Path("components/analyzer.yaml"))
    assert problems(analyzer, {"config": {"fast_window": "x"}}) == [
        "$.config.fast_window: 'x' is not of type 'integer'"
    ]
    assert problems(analyzer, {"config": {"fast_windw": 5}}) == [
        "$.config: Additional properties are not allowed ('fast_windw' was unexpected)"
    ]
    app = schema_of(schemas, Path("config.yaml"))
    assert problems(app, {"app": {"watch": {"step_ms": 0}}}) == ["$.app.watch.step_ms: 0 is less than the minimum of 1"]
    assert problems(app, {"http": {"prot": 1}})[0].endswith("('prot' was unexpected)")


def test_what_hydra_resolves_later_passes_for_any_type(schemas: Path) -> None:
    """An interpolation or ??? passes where a number, a list item or a section belongs."""
    app = schema_of(schemas, Path("config.yaml"))
    assert problems(app, {"http": {"port": "${oc.env:PORT}"}}) == []
    assert problems(app, {"app": {"allowed_packages": ["${oc.env:PKG}"], "duration": "???"}}) == []
    assert problems(app, {"health": "${base_health}", "defaults": ["_self_"]}) == []
    assert problems(app, {"http": {"port": "eighty"}}) == ["$.http.port: 'eighty' is not of type 'integer'"]


def test_nullable_keys_take_null_and_others_refuse_it(schemas: Path) -> None:
    """null passes where Cerberus says nullable; a lower-case log level passes (Cerberus upper-cases it)."""
    app = schema_of(schemas, Path("config.yaml"))
    assert problems(app, {"app": {"duration": None}, "logging": {"level": "debug", "file": None}}) == []
    assert problems(app, {"app": {"name": None}}) == ["$.app.name: None is not of type 'string'"]
    assert problems(app, {"logging": {"level": "loud"}})[0].startswith("$.logging.level: 'loud' does not match")


def test_the_modeline_below_the_package_header_keeps_the_package(schemas: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Pasting each printed line below the file's `# @package` line leaves the app as it was."""
    conf = schemas / "conf"
    for line in (schemas / "printed.txt").read_text().splitlines()[2:]:
        name, modeline = line.split("  # ", 1)
        path = schemas / name.strip()
        lines = path.read_text().splitlines(keepends=True)
        at = 1 if lines and lines[0].startswith("# @package") else 0
        path.write_text("".join([*lines[:at], f"# {modeline}\n", *lines[at:]]))
    assert main(["explain", "components.analyzer.config.fast_window", "--config-dir", str(conf)]) == 0
    assert "components/analyzer.yaml:6" in capsys.readouterr().out


def test_an_out_that_is_a_file_or_cannot_be_made_is_named(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--out naming a file, or a folder under a file, is a one-screen error naming it, exit 2."""
    write_tree(config_dir, {"config.yaml": "app:\n  name: s\n"})
    taken = config_dir.parent / "taken"
    taken.write_text("")
    assert main(["schema", "--config-dir", str(config_dir), "--out", str(taken)]) == 2
    assert capsys.readouterr().err == f"error: --out {taken}: is a file; name a folder (it is made if missing)\n"
    assert main(["schema", "--config-dir", str(config_dir), "--out", str(taken / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {taken / 'sub'}: cannot write the schemas there (") and err.count("\n") == 1


def test_a_broken_config_is_the_usual_one_screen_error(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config that does not validate prints the located problem and exits 2; nothing is written."""
    write_tree(config_dir, {"config.yaml": "http:\n  port: many\n"})
    out = config_dir.parent / "out"
    assert main(["schema", "--config-dir", str(config_dir), "--out", str(out)]) == 2
    assert "http.port: must be of type integer" in capsys.readouterr().err
    assert not out.exists()


def test_the_readme_example_is_what_schema_prints(tmp_path: Path) -> None:
    """Each line the README shows of `integrate schema` is a line it prints for the shipped app."""
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    printed = integrate("schema", cwd=tmp_path).stdout.splitlines()
    shown = shown_output("integrate schema")
    assert shown and all(line in printed for line in shown), shown
    assert (tmp_path / ".schemas" / "config.schema.json").is_file()


def test_cerberus_rules_without_a_shipped_example_convert_too() -> None:
    """A list of allowed values with an item schema, and a regex beside an upper-cased choice,
    keep every constraint; an interpolated item still passes."""
    def check(rules: dict[str, Any], value: Any) -> list[str]:
        schema = {"$defs": DEFINITIONS, **value_schema(rules)}
        return [error.message for error in jsonschema.Draft202012Validator(schema).iter_errors(value)]

    listed = {"type": "list", "allowed": ["a", "b"], "schema": {"type": "string"}}
    assert check(listed, ["a", "${x}"]) == []
    assert check(listed, ["a", "c"]) == ["'c' is not one of ['a', 'b']"]
    upper = {"type": "string", "allowed": ["AB", "CD"], "coerce": "upper", "regex": "[A-Za-z]+"}
    assert check(upper, "ab") == [] and len(check(upper, "a1")) == 2


def test_a_file_lands_where_hydra_puts_it() -> None:
    """The package header decides, `_group_` and `_name_` included; else the group's path; the
    primary config and other top-level files are global."""
    assert package_of(Path("config.yaml"), "app: {}\n") == ()
    assert package_of(Path("event_bus/redis.yaml"), "backend: redis\n") == ("event_bus",)
    assert package_of(Path("components/a.yaml"), "# @package components.a\nclass: x\n") == ("components", "a")
    assert package_of(Path("components/a.yaml"), "# @package _global_\n") == ()
    assert package_of(Path("g/opt.yaml"), "# @package _group_._name_\n") == ("g", "opt")
    assert package_of(Path("g/opt.yaml"), "# a comment first\n# @package _global_\n") == ("g",)  # as Hydra reads it


def test_a_file_at_a_package_no_schema_describes_gets_none(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file under a top-level key of the user's own is listed without a schema, not refused."""
    write_tree(config_dir, {"config.yaml": "defaults:\n  - extras: one\n  - _self_\n", "extras/one.yaml": "x: 1\n"})
    out = config_dir.parent / "out"
    assert main(["schema", "--config-dir", str(config_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "extras/one.yaml  (no schema: no section is declared there)" in printed
    assert sorted(p.name for p in out.rglob("*.json")) == ["config.schema.json"]
