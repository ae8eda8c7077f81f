"""Every bad input gets a one-screen error naming the key, value and origin; never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.testing import integrate, write_tree

BASE = {
    "config.yaml": """
        defaults:
          - db: sqlite
          - _self_
        app:
          name: bad
          env_prefix: BAD
          start_timeout: 5
        """,
    "db/sqlite.yaml": "driver: sqlite\n",
    "db/postgres.yaml": "driver: postgres\n",
}


@pytest.fixture
def project(config_dir: Path) -> Path:
    write_tree(config_dir, BASE)
    return config_dir.parent


def fails(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = integrate("check", *args, cwd=cwd, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) < 25  # one screen
    return result.stderr


def test_invalid_yaml_names_file_and_line(project: Path) -> None:
    """A YAML syntax error names the file and the line."""
    (project / "conf/db/sqlite.yaml").write_text("driver: sqlite\npool: [1, 2\nx: 1\n")
    err = fails(project)
    assert "invalid YAML at" in err and "conf/db/sqlite.yaml:3" in err


def test_empty_file_is_refused(project: Path) -> None:
    """An emptied config file is an error, not a silently missing section."""
    (project / "conf/db/sqlite.yaml").write_text("")
    assert "conf/db/sqlite.yaml: the file is empty" in fails(project)


def test_truncated_file_is_refused(project: Path) -> None:
    """A file cut off mid-structure is a YAML error with its location."""
    (project / "conf/config.yaml").write_text("app:\n  name: [bad, \n")
    assert "conf/config.yaml" in fails(project)


def test_unknown_group_option_lists_available(project: Path) -> None:
    """Selecting a group option that does not exist lists the ones that do."""
    err = fails(project, "db=mysql")
    assert "Could not find 'db/mysql'" in err
    assert "postgres" in err and "sqlite" in err


def test_malformed_override_shows_a_caret(project: Path) -> None:
    """A malformed override is echoed with a caret under the problem."""
    err = fails(project, "app.name=[1,")
    lines = err.splitlines()
    assert "malformed override" in lines[0]
    assert lines[1].strip() == "app.name=[1,"
    assert lines[2].strip() == "^"


def test_override_of_missing_key_suggests_plus(project: Path) -> None:
    """Overriding a key that does not exist suggests the close one and the +key= form."""
    err = fails(project, "app.nmae=x")
    assert "did you mean 'app.name'?" in err
    assert "+app.nmae=x" in err


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "app.start_timeout=soon",
            "app.start_timeout: must be of type number (got 'soon') [argument app.start_timeout=soon]",
        ),
        (
            "app.start_timeout=-3",
            "app.start_timeout: must be >= 0.01 (got -3) [argument app.start_timeout=-3]",
        ),
        (
            "logging.format=xml",
            "logging.format: must be one of text, json (got 'xml') [argument logging.format=xml]",
        ),
        ("+app.nme=x", "app.nme: unknown key; did you mean 'name'?"),
    ],
)
def test_schema_violations_name_key_value_and_origin(project: Path, override: str, expected: str) -> None:
    """Type, range, allowed-set and unknown-key errors name the key, the value and its origin."""
    assert expected in fails(project, override)


def test_all_errors_are_reported_at_once(project: Path) -> None:
    """Several problems are all listed in one run, with file:line for file values."""
    (project / "conf/config.yaml").write_text(
        "defaults:\n  - db: sqlite\n  - _self_\napp:\n  name: bad\n  start_timeout: -1\n  parallel_start: maybe\n"
    )
    err = fails(project, "logging.level=LOUD")
    assert "invalid configuration (3 problems)" in err
    assert "app.start_timeout: must be >= 0.01 (got -1) [conf/config.yaml:6]" in err
    assert "app.parallel_start: must be of type boolean (got 'maybe') [conf/config.yaml:7]" in err


def test_missing_required_key(project: Path) -> None:
    """A component entry without its required class is named, with how to set it."""
    err = fails(project, "+components.feed.enabled=true")
    assert "components.feed.class: required key is missing" in err


def test_missing_env_var_in_interpolation(project: Path) -> None:
    """A missing env var in ${oc.env:...} fails at launch naming the key and file:line."""
    (project / "conf/db/sqlite.yaml").write_text("driver: sqlite\npassword: ${oc.env:DB_PASSWORD_UNSET}\n")
    err = fails(project)
    assert "db.password" in err and "DB_PASSWORD_UNSET" in err and "conf/db/sqlite.yaml:2" in err


def test_broken_interpolation(project: Path) -> None:
    """A reference to a key that does not exist fails at launch naming the key."""
    (project / "conf/db/sqlite.yaml").write_text("driver: sqlite\nurl: ${db.host}/x\n")
    err = fails(project)
    assert "db.url" in err and "conf/db/sqlite.yaml:2" in err


def test_env_var_for_missing_key(project: Path) -> None:
    """An env var under the prefix for a key that does not exist is refused with a suggestion."""
    err = fails(project, env={"BAD__APP__NAMME": "x"})
    assert "env var BAD__APP__NAMME sets 'app.namme'" in err and "did you mean 'app.name'?" in err


def test_config_dir_that_does_not_exist(tmp_path: Path) -> None:
    """A missing config dir is named, with the flag that fixes it."""
    err = fails(tmp_path, "--config-dir", "nowhere")
    assert "config dir 'nowhere' does not exist" in err and "--config-dir" in err


def test_unknown_key_in_explain(project: Path) -> None:
    """explain of a key that does not exist suggests the close ones."""
    result = integrate("explain", "app.nam", cwd=project)
    assert result.returncode == 2
    assert "'app.nam' is not a key of the config; did you mean app.name?" in result.stderr


def test_check_json_lists_errors(project: Path) -> None:
    """check --format json reports failures as data, exit code non-zero."""
    result = integrate("check", "--format", "json", "app.start_timeout=-1", cwd=project)
    assert result.returncode == 2
    assert '"ok": false' in result.stdout and "app.start_timeout" in result.stdout


ELSEWHERE = "# @package _global_\nloaded_from_elsewhere: true\n"


@pytest.mark.parametrize(
    ("option", "reason"),
    [
        ("../../elsewhere/evil", "climbs out of the group folder with '..'"),
        ("sqlite/../../../elsewhere/evil", "climbs out of the group folder with '..'"),
        ("{tmp}/elsewhere/evil", "is an absolute path"),
        ("${{oc.env:ELSEWHERE}}", "is an interpolation, which could resolve to any path"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "interpolation"],
)
@pytest.mark.parametrize("via", ["argument", "env"])
def test_a_group_option_cannot_leave_its_group_folder(project: Path, via: str, option: str, reason: str) -> None:
    """A group option naming a path outside its folder, from an argument or the env, is refused
    before any file is read, naming where it came from and the options there are."""
    write_tree(project / "elsewhere", {"evil.yaml": ELSEWHERE})
    option = option.format(tmp=project)
    env = {"ELSEWHERE": "../../elsewhere/evil"}
    if via == "argument":
        err = fails(project, f"db={option}", env=env)
        origin = f"argument db={option}"
    else:
        err = fails(project, env={**env, "BAD__DB": option})
        origin = "env BAD__DB"
    assert err == (
        f"error: {origin}: group option '{option}' of 'db' {reason}; an option names a file in"
        f" {project / 'conf' / 'db'}: postgres, sqlite\n"
    )


def test_a_list_of_group_options_is_checked_option_by_option(project: Path) -> None:
    """Each option of `group=[a,b]` is checked, and a package form `group@pkg=` too."""
    assert "group option '../x' of 'db' climbs out" in fails(project, "db=[sqlite,../x]")
    assert "group option '/x' of 'db' is an absolute path" in fails(project, "+db@other=/x")


@pytest.mark.parametrize(
    ("value", "kind"),
    [("5", "the number 5"), ("null", "null"), ("true", "the boolean true"), ("{a:1}", "a mapping"),
     ("[sqlite,2.5]", "the number 2.5")],
)
def test_a_group_option_that_is_no_name_is_a_located_error(project: Path, value: str, kind: str) -> None:
    """`group=5`, `group=null`, ...: Hydra fails with a bare ValueError or TypeError; refused first."""
    assert fails(project, f"db={value}") == (
        f"error: argument db={value}: 'db' is a config group, and {kind} is not an option of it;"
        f" an option names a file in {project / 'conf' / 'db'}: postgres, sqlite\n"
    )


def test_a_list_in_place_of_a_mapping_names_its_origin_and_what_to_do(project: Path) -> None:
    """Hydra says only "Error merging override ++app=[1,2]": the error names the argument or env
    var as given, and says a mapping takes its keys one by one."""
    advice = "'app' holds a mapping, which a list or a single value cannot replace; set its keys (app.x=...)\n"
    assert fails(project, "app=[1,2]") == f"error: argument app=[1,2]: {advice}"
    assert fails(project, env={"BAD__APP": "[1, 2]"}) == f"error: env BAD__APP: {advice}"


def test_an_override_without_a_key_is_a_located_error(project: Path) -> None:
    assert fails(project, "=5") == "error: argument =5: no key before '='; an override is key=value\n"
    assert fails(project, env={"BAD__": "5"}).startswith("error: env BAD__")


def test_a_nested_option_inside_its_group_folder_is_accepted(project: Path) -> None:
    """An option in a subfolder of its group, from an argument or the env, still composes; a value
    that merely looks like a path is no group option."""
    write_tree(project / "conf/db", {"nested/mysql.yaml": "driver: mysql\n"})
    for args, env in (("db=nested/mysql",), {}), ((), {"BAD__DB": "nested/mysql"}):
        result = integrate("show", "--format", "json", "app.name=../../x", *args, cwd=project, env=env)
        assert result.returncode == 0, result.stderr
        assert '"driver": "mysql"' in result.stdout and '"name": "../../x"' in result.stdout


@pytest.mark.parametrize("text", ["5\n", "hello\n", "'a: 1'\n"])
def test_a_file_holding_a_single_value_is_refused(project: Path, text: str) -> None:
    """A file holding one scalar is refused naming the file (a number was an OSError traceback;
    a string was read as YAML once more, without any limit, and merged as its keys)."""
    (project / "conf/db/sqlite.yaml").write_text(text)
    assert "conf/db/sqlite.yaml: the file holds a single" in fails(project)


def test_a_mapping_mixing_int_and_str_keys_is_checked_not_a_traceback(project: Path) -> None:
    """YAML allows `1:` beside `name:` in one mapping; the config digest used to sort those keys
    and die with a TypeError. Such a config is valid, with or without the composition cache."""
    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text() + "extra:\n  1: one\n  name: two\n")
    for _ in range(2):  # the second run reads the cache's entry
        result = integrate("check", cwd=project)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("OK: ")
    explained = integrate("explain", "extra.1", cwd=project)
    assert explained.returncode == 0 and 'extra.1 = "one"' in explained.stdout
