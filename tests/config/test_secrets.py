"""Secrets never leave `show`, `explain` or `check`: not in values, origins, errors or copies.

Every secret here carries MARK, so a leak is found whatever form it takes: raw, JSON- or
Hydra-escaped, or a fragment that an error message quotes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from framework.testing import integrate, write_tree

MARK = "zq7x"
SECRETS = {
    "quotes": f"{MARK}-it's-\"quoted\"",
    "backslashes": f"{MARK}\\back\\\\slash\\",
    "non-ascii": f"{MARK}-ünïcødé-€",
    "interpolation": f"{MARK}-${{oc.env:HOME}}-${{",
}
secrets = pytest.mark.parametrize("secret", list(SECRETS.values()), ids=list(SECRETS))


@pytest.fixture
def project(config_dir: Path) -> Path:
    write_tree(
        config_dir,
        {
            "config.yaml": """
                app:
                  name: secretive
                  env_prefix: SEC
                http:
                  token: file-token-0001
                event_bus:
                  redis:
                    url: redis://127.0.0.1:6379/0
                """
        },
    )
    return config_dir.parent


def hydra_quoted(text: str) -> str:
    """``text`` as a single-quoted command-line value that Hydra and OmegaConf keep literal."""
    text = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", text)
    text = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    return "'" + re.sub(r"(\\+)$", lambda m: m.group(1) * 2, text) + "'"


def ok(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = integrate(*args, cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert MARK not in result.stdout + result.stderr, result.stdout + result.stderr
    return result.stdout


def fails(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = integrate("check", *args, cwd=project, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) < 25  # one screen
    assert MARK not in result.stdout + result.stderr, result.stderr
    return result.stderr


def views(project: Path, key: str, *args: str, env: dict[str, str] | None = None) -> tuple[dict, dict, str]:
    """The config (`show`), every key's origin (`show --provenance`) and `explain KEY`."""
    shown = json.loads(ok(project, "show", "--format", "json", *args, env=env))
    rows = json.loads(ok(project, "show", "--provenance", "--format", "json", *args, env=env))
    return shown, {row["key"]: row for row in rows}, ok(project, "explain", key, *args, env=env)


@secrets
def test_env_values_are_data_and_cannot_copy_a_secret(project: Path, secret: str) -> None:
    """An env var's `${...}` stays literal text, so a secret cannot be copied into a key that
    is shown; and a value with quotes, backslashes or `${` arrives exactly as written."""
    env = {
        "SEC__HTTP__TOKEN": secret,
        "SEC__APP__NAME": "${http.token}",
        "SEC__APP__VERSION": "${oc.env:SEC__HTTP__TOKEN}",
        "SEC__EVENT_BUS__REDIS__CONSUMER": secret.replace(MARK, "plain"),
    }
    shown, rows, explained = views(project, "app.name", env=env)
    assert explained.startswith('app.name = "${http.token}"\n  set by:  env (env SEC__APP__NAME)')
    described = {"description": "bearer token for the admin endpoints that change anything; null disables them"}
    expected = {"key": "http.token", "value": "***", "layer": "env", "where": "env SEC__HTTP__TOKEN", **described}
    assert rows["http.token"] == expected
    assert shown["app"]["name"] == "${http.token}"
    assert shown["app"]["version"] == "${oc.env:SEC__HTTP__TOKEN}"
    assert shown["http"]["token"] == "***"
    assert shown["event_bus"]["redis"]["consumer"] == secret.replace(MARK, "plain")


@secrets
def test_a_mapping_override_masks_its_secret_in_every_origin(project: Path, secret: str) -> None:
    """`http={host:..,port:..,token:..}` is the origin of host and port too: it is shown with
    the token masked, wherever it is shown."""
    argument = f"http={{host:127.0.0.1,port:8765,token:{hydra_quoted(secret)}}}"
    shown, rows, explained = views(project, "http", argument)
    for key in ("http.host", "http.port", "http.token"):
        assert rows[key]["where"] == "argument http={host:127.0.0.1,port:8765,token:***}"
    assert rows["http.token"]["value"] == shown["http"]["token"] == "***"
    assert "set by:  command line (argument http={host:127.0.0.1,port:8765,token:***})" in explained


URLS = {  # a URL with a credential in it, and how it is shown
    "password": (f"redis://cache-user:{MARK}-pä55@cache.local:6380/2", "redis://cache-user:***@cache.local:6380/2"),
    "token": (f"redis://{MARK}-t0ken@cache.local:6380/2", "redis://***@cache.local:6380/2"),
}


@pytest.mark.parametrize("layer", ["file", "env", "argument"])
@pytest.mark.parametrize("credential", sorted(URLS))
def test_a_url_credential_is_masked_in_values_and_origins(project: Path, layer: str, credential: str) -> None:
    """A password in a URL-valued key, or a token alone in its userinfo, is masked where the
    value and its origin are shown; scheme, host, path (and a user beside a password) stay."""
    url, masked = URLS[credential]
    args, env = [], {}
    if layer == "file":
        config = project / "conf/config.yaml"
        config.write_text(config.read_text().replace("redis://127.0.0.1:6379/0", url))
    elif layer == "env":
        env = {"SEC__EVENT_BUS__REDIS__URL": url}
    else:
        args = [f"event_bus.redis.url='{url}'"]  # Hydra takes non-ASCII only quoted
    shown, rows, explained = views(project, "event_bus.redis.url", *args, env=env)
    assert shown["event_bus"]["redis"]["url"] == rows["event_bus.redis.url"]["value"] == masked
    assert explained.startswith(f'event_bus.redis.url = "{masked}"')
    if layer == "argument":
        assert rows["event_bus.redis.url"]["where"] == f"argument event_bus.redis.url={masked}"


def test_a_malformed_override_of_a_secret_is_not_echoed(project: Path) -> None:
    """The malformed-override error shows the key, not the secret value ANTLR quotes."""
    err = fails(project, f"http.token=[{MARK}-unclosed")
    assert err.startswith("error: malformed override") and "http.token=***" in err
    result = integrate("check", "--format", "json", f"http.token=[{MARK}-unclosed", cwd=project)
    assert result.returncode == 2 and "http.token=***" in result.stdout and MARK not in result.stdout


def test_an_env_value_that_is_not_yaml_is_a_one_screen_error(project: Path) -> None:
    """An env var whose value is not valid YAML is named, with where it breaks, never echoed."""
    err = fails(project, env={"SEC__HTTP__TOKEN": f"{{{MARK}: [unclosed"})
    assert "env var SEC__HTTP__TOKEN is not valid YAML (line 1, column" in err


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (f'"{MARK}-${{no.such.key}}"', "http.token: InterpolationKeyError in the value of a secret key (masked)"
         " (got ***) [conf/config.yaml:5]"),
        (f'"{MARK}-${{oc.env:SEC_NEVER_SET}}"', "(got ***) [conf/config.yaml:5]"),
        (f'"{MARK}${{broken-{MARK}"', "http.token: GrammarParseError in its value (not shown: it may be a secret)"),
    ],
    ids=["missing-key", "missing-env-var", "bad-syntax"],
)
def test_a_secret_that_fails_to_interpolate_is_not_echoed(project: Path, token: str, expected: str) -> None:
    """A secret holding a `${` that cannot be resolved is reported by key and origin, masked."""
    config = project / "conf/config.yaml"
    config.write_text(config.read_text().replace("file-token-0001", token))
    assert expected in fails(project)


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        (f"http.token='{MARK}-${{no.such.key}}'", "(got ***) [argument http.token=***]"),
        (f"http.token='{MARK}${{broken-{MARK}'", "http.token: GrammarParseError in its value"),
        (f"+http.token={MARK}-appended", "An item is already at 'http.token'"),
        (f"http.tokne={MARK}-misspelt", "cannot override 'http.tokne' (argument http.tokne=***)"),
    ],
    ids=["missing-key", "bad-syntax", "append-existing", "misspelt-key"],
)
def test_a_bad_secret_argument_is_not_echoed(project: Path, argument: str, expected: str) -> None:
    """Errors about a command-line argument that sets a secret mask its value."""
    assert expected in fails(project, argument)


def test_masking_is_per_key(project: Path) -> None:
    """Only secret keys lose their detail: errors about plain keys still quote what was typed."""
    assert "cannot override 'http.tokne' (argument http.tokne=***)" in fails(project, f"http.tokne={MARK}")
    assert "cannot override 'app.nmae' (argument app.nmae=x)" in fails(project, "app.nmae=x")
    assert "http.token=***" in fails(project, f"http.token=[{MARK}")
    assert "app.name=[x\n" in fails(project, "app.name=[x")
    assert "Error merging override ++app.name='${broken'" in fails(project, "app.name='${broken'")


def test_a_secret_interpolated_into_a_plain_key_is_not_printed(project: Path) -> None:
    """A file interpolating a secret into a plain key does not get it printed either: what
    the verbs print passes through the masker last."""
    config = project / "conf/config.yaml"
    text = config.read_text().replace("name: secretive", "name: ${http.token}")
    config.write_text(text.replace("file-token-0001", f"{MARK}-file-token"))
    shown, rows, explained = views(project, "app.name")
    assert shown["app"]["name"] == rows["app.name"]["value"] == "***"
    assert ok(project, "show").count("***") == 2


@pytest.mark.parametrize(
    ("yaml_value", "problem"),
    [
        (f'"{MARK}\\t-token"', "holds a control character"),
        (f'"{MARK}-token\\n"', "holds a control character"),
        (f'"{MARK}\\x7f-token"', "holds a control character"),
        (f"' {MARK}-token'", "starts or ends with a space"),
        (f"'{MARK}-token '", "starts or ends with a space"),
    ],
)
def test_a_token_no_http_header_can_carry_is_refused(project: Path, yaml_value: str, problem: str) -> None:
    """A bearer token with a control character or an edge space could never authenticate:
    it is refused at launch, by key and origin, and never shown."""
    err = fails(project, env={"SEC__HTTP__TOKEN": yaml_value})
    assert f"http.token: {problem}" in err and "[env SEC__HTTP__TOKEN]" in err
    assert MARK not in err


@pytest.mark.parametrize("key", [f"{MARK}'quote", f"{MARK}-ünï", f"{MARK}${{x}}", f" {MARK}", f'{MARK}"'])
def test_an_env_mapping_key_no_override_can_carry_is_refused_unshown(project: Path, key: str) -> None:
    """Hydra has no quoted mapping keys: such a key is refused naming the variable, not echoed."""
    value = json.dumps({key: 1, "x": f"{MARK}-value"})
    err = fails(project, env={"SEC__HTTP__TOKEN": value})
    assert err.startswith("error: env var SEC__HTTP__TOKEN: a mapping key in its value holds a character")


@pytest.mark.parametrize("key", ["a,b", "x:y", "sp ace", "br{ac}e[t](s)", "back\\slash", "eq=ual", "tab\there"])
def test_an_env_mapping_key_with_hydras_special_characters_arrives_intact(key: str) -> None:
    """Every key the override grammar can carry, escaped, parses back to itself."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from framework.config.env import hydra_literal

    override = OverridesParser.create().parse_override(f"a={hydra_literal({key: 'v', 'n': [1, {key: 2}]})}")
    assert override.value() == {key: "v", "n": [1, {key: 2}]}
