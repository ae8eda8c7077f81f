"""Cross-field checks: a component class's ``validate_config``, run by check, launch and reload.

Values valid one by one but not together are reported like schema problems (key, message,
value, origin), all at once, exit 2; a reload they refuse keeps the running config.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from framework.app import App
from framework.cli import main
from framework.config.compose import ConfigSource
from tests.conftest import UserProject

MODULE = '''
SCHEMA = {"low": {"type": "integer", "default": 1}, "high": {"type": "integer", "default": 9}}


class Base:
    def __init__(self, config):
        self.config = config

    async def start(self):
        pass

    async def stop(self):
        pass


class Static(Base):
    config_schema = SCHEMA

    @staticmethod
    def validate_config(config):
        if config["low"] >= config["high"]:
            return [f"low: must be below high ({config['high']})"]
        return None


class ByClass(Base):
    config_schema = {**SCHEMA, "limits": {"type": "dict", "default": {}, "schema": {"cap": {"type": "integer"}}}}

    @classmethod
    def validate_config(cls, config):
        problems = []
        if config["low"] < 0 and config["high"] < 0:
            problems += ["low: may not be negative while high is", "high: may not be negative while low is"]
        if config["limits"].get("cap", 100) < config["high"]:
            problems.append(f"limits.cap: must be at least high ({config['high']})")
        if config["low"] == 7:
            problems.append("seven is not a low value for " + cls.__name__)
        return problems


class Plain(Base):
    config_schema = SCHEMA

    def validate_config(config):
        return ["high: must be even"] if config["high"] % 2 else []


class Secretive(Base):
    config_schema = {"token": {"type": "string", "secret": True}, "mode": {"type": "string", "default": "lax"}}

    @staticmethod
    def validate_config(config):
        return [f"mode: {config['mode']} cannot use token {config['token']!r}"] if config["mode"] == "lax" else []


class Breaks(Base):
    config_schema = SCHEMA

    @staticmethod
    def validate_config(config):
        raise RuntimeError("cannot compare " + str(config["low"]))


class Answers(Base):
    config_schema = SCHEMA

    @staticmethod
    def validate_config(config):
        return "low and high disagree"
'''

CONFIG = """
app:
  name: cross
  env_prefix: CROSS
  allowed_packages: [crossmod]
components:
{entries}
"""


def _project(user_project: UserProject, entries: str) -> Path:
    return user_project({"crossmod/__init__.py": MODULE, "conf/config.yaml": CONFIG.format(entries=entries)})


def _check(capsys: pytest.CaptureFixture[str], *overrides: str) -> tuple[int, str]:
    code = main(["check", *overrides])  # in-process: a traceback would fail the test here
    return code, capsys.readouterr().err


def test_values_valid_alone_but_not_together_are_located_problems(
    user_project: UserProject, capsys: pytest.CaptureFixture[str]
) -> None:
    """Static, class and plain checks all run; every problem is listed at once, at its key,
    with its value and origin, beside a schema problem of another component."""
    _project(user_project, """
  a: {class: crossmod.Static, config: {low: 5, high: 3}}
  b: {class: crossmod.ByClass, config: {low: -1, high: -2, limits: {cap: -5}}}
  c: {class: crossmod.Plain, config: {high: 7}}
  d: {class: crossmod.Static, config: {low: oops}}
""")
    code, err = _check(capsys, "components.b.config.low=7")
    assert code == 2, err
    assert err.startswith("error: invalid configuration (5 problems):\n") and "Traceback" not in err
    assert "components.b.config.low: may not be negative" not in err  # low=7 came from the argument
    assert "validate_config raised" not in err  # d's check never ran on a value of the wrong type
    assert "components.d.config.low: must be of type integer (got 'oops') [conf/config.yaml:10]" in err
    assert "components.a.config.low: must be below high (3) (got 5) [conf/config.yaml:7]" in err
    assert "components.c.config.high: must be even (got 7) [conf/config.yaml:9]" in err
    assert "components.b.config.limits.cap: must be at least high (-2) (got -5) [conf/config.yaml:8]" in err
    assert "components.b.config: seven is not a low value for ByClass [" in err


def test_a_check_that_breaks_or_answers_oddly_is_a_problem_not_a_traceback(
    user_project: UserProject, capsys: pytest.CaptureFixture[str]
) -> None:
    _project(user_project, """
  a: {class: crossmod.Breaks}
  b: {class: crossmod.Answers}
  c: {class: crossmod.Static}
""")
    code, err = _check(capsys)
    assert code == 2, err
    assert "components.a.config: validate_config raised RuntimeError: cannot compare 1 [" in err
    assert "components.b.config: validate_config returned str; it must return None or a list of str [" in err
    assert "components.c" not in err and "Traceback" not in err


def test_a_secret_quoted_by_a_check_is_masked(
    user_project: UserProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _project(user_project, "  s: {class: crossmod.Secretive}\n")
    monkeypatch.setenv("CROSS__COMPONENTS__S__CONFIG__TOKEN", "tok-'q9\"-value")
    code, err = _check(capsys)
    assert code == 2, err
    assert "q9" not in err
    assert "components.s.config.mode: lax cannot use token '***' (got 'lax') [" in err


def test_a_reload_the_check_refuses_keeps_the_running_config(user_project: UserProject) -> None:
    root = _project(user_project, "  a: {class: crossmod.Static, config: {low: 1, high: 3}}\n")
    config = root / "conf" / "config.yaml"

    async def scenario() -> tuple[list[str], int, int]:
        async with App(ConfigSource(root / "conf")) as app:
            config.write_text(config.read_text().replace("low: 1", "low: 4"))
            outcome = await app.reload()
            assert not outcome.ok
            good = config.read_text().replace("low: 4", "low: 2")
            config.write_text(good)
            applied = await app.reload()
            assert applied.ok, applied.reasons
            return list(outcome.reasons), outcome.version, app.snapshot.data["components"]["a"]["config"]["low"]

    reasons, version, low = asyncio.run(scenario())
    assert reasons == ["components.a.config.low: must be below high (3) (got 4) [conf/config.yaml:6]"]
    assert version == 1 and low == 2
