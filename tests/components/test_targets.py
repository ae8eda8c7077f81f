"""Hydra `_target_` objects in a component's config: allowed packages only, checked before
anything is imported or called, made with Hydra's instantiate, remade on reload."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from framework.app import App
from framework.cli import main
from framework.config.compose import ConfigSource
from framework.testing import integrate
from tests.conftest import UserProject

MODULE = '''
class Strategy:
    def __init__(self, threshold, scale=1.0, *, tags=()):
        self.threshold, self.scale, self.tags = threshold, scale, tags


class Combined:
    def __init__(self, parts):
        self.parts = parts


class Fussy:
    def __init__(self, level):
        raise ValueError(f"level {level} is too fussy")


def make_limit(value):
    return {"limit": value}


LOUD = "import time side effect"


class Trader:
    config_schema = {"strategy": {"type": "dict"}, "extra": {"type": "list", "default": []}}

    def __init__(self, config, logger):
        self.config, self.log = config, logger

    async def start(self):
        strategy = self.config["strategy"]
        self.log.bind(event="tx.started").info(f"strategy {type(strategy).__name__} {strategy.threshold}")

    async def stop(self):
        pass

    def on_config_change(self, config, changed):
        self.config = config
        self.log.bind(event="tx.changed").info(f"now {config['strategy'].threshold}")
'''

CONFIG = """
app:
  name: targets
  env_prefix: TARGETS
  allowed_packages: [tgt]
components:
  trader:
    _target_: tgt.Trader
    config:
      strategy:
        _target_: tgt.Strategy
        threshold: 3
        tags: [a, b]
      extra:
        - {_target_: tgt.make_limit, value: 5}
        - {_target_: tgt.Strategy, _partial_: true, scale: 2.0}
"""


@pytest.fixture
def project(user_project: UserProject) -> Path:
    return user_project({"tgt/__init__.py": MODULE, "conf/config.yaml": CONFIG})


def test_the_component_receives_the_objects_and_a_reload_remakes_them(project: Path) -> None:
    config = project / "conf" / "config.yaml"

    async def scenario() -> tuple[object, object, object]:
        async with App(ConfigSource(project / "conf")) as app:
            trader = app.instance("trader")
            first = trader.config["strategy"]
            config.write_text(config.read_text().replace("threshold: 3", "threshold: 4"))
            outcome = await app.reload()
            assert outcome.ok, outcome.reasons
            return first, trader.config, app.snapshot.data["components"]["trader"]["config"]["strategy"]

    first, made, plain = asyncio.run(scenario())
    assert type(first).__name__ == "Strategy" and first.threshold == 3 and list(first.tags) == ["a", "b"]
    assert made["strategy"].threshold == 4 and made["strategy"] is not first
    limit, partial = made["extra"]
    assert limit == {"limit": 5} and partial(threshold=1).scale == 2.0
    assert plain["_target_"] == "tgt.Strategy" and plain["threshold"] == 4  # the snapshot stays plain data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("tgt.Strategy\n", "os.system\n"),
            "components.trader.config.strategy._target_: 'os.system' is outside the allowed packages (tgt);"
            " importing it would run its code. Add 'os' to app.allowed_packages if you trust it [conf/config.yaml:10]",
        ),
        (
            ("tgt.Strategy\n", "tgt.Stratgy\n"),
            "components.trader.config.strategy._target_: module 'tgt' has no 'Stratgy'; did you mean 'Strategy'?"
            " [conf/config.yaml:10]",
        ),
        (
            ("threshold: 3", "treshold: 3"),
            "components.trader.config.strategy._target_: tgt.Strategy(threshold, scale=1.0, *, tags=()) cannot take"
            " these arguments: missing a required argument: 'threshold' [conf/config.yaml:10]",
        ),
        (
            ("tgt.make_limit, value: 5", "tgt.make_limit"),
            "components.trader.config.extra.0._target_: tgt.make_limit(value) cannot take these arguments:"
            " missing a required argument: 'value' [conf/config.yaml:13]",
        ),
        (
            ("tgt.make_limit", "tgt.LOUD"),
            "components.trader.config.extra.0._target_: 'tgt.LOUD' is a str, which cannot be called"
            " [conf/config.yaml:13]",
        ),
    ],
)
def test_a_bad_target_is_a_located_error_before_anything_runs(
    project: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], expected: str
) -> None:
    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text().replace(*change))
    code = main(["check"])  # in-process: a traceback would fail the test here
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err and "Traceback" not in err


def test_a_target_outside_the_allowed_packages_is_never_imported(project: Path) -> None:
    """As a user runs it: `integrate run` refuses before importing the module it names."""
    (project / "evil.py").write_text("import pathlib\npathlib.Path('imported').write_text('yes')\nclass X: pass\n")
    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("_target_: tgt.Strategy\n", "_target_: evil.X\n"))
    result = integrate("run", cwd=project)
    assert result.returncode == 2, result.stderr
    assert "components.trader.config.strategy._target_: 'evil.X' is outside the allowed packages" in result.stderr
    assert not (project / "imported").exists()


def test_a_reload_with_a_bad_or_failing_target_is_refused_and_the_objects_stay(project: Path) -> None:
    config = project / "conf" / "config.yaml"
    good = config.read_text()
    edits = [
        good.replace("tgt.make_limit, value: 5", "tgt.Combined, parts: 5, _args_: [1]"),  # refused by the check
        good.replace("tgt.make_limit, value: 5", "tgt.Fussy, level: 9"),  # its call raises
    ]

    async def scenario() -> tuple[list[list[str]], object]:
        async with App(ConfigSource(project / "conf")) as app:
            before, reasons = app.instance("trader").config, []
            for text in edits:
                config.write_text(text)
                outcome = await app.reload()
                assert not outcome.ok
                reasons.append(list(outcome.reasons))
            assert app.instance("trader").config is before  # the objects it had
            return reasons, before

    (refused, failed), _ = asyncio.run(scenario())
    assert "tgt.Combined(parts) cannot take these arguments: multiple values for argument 'parts'" in refused[0]
    assert "component 'trader' refused the change: InstantiationException" in failed[0]
    assert "level 9 is too fussy" in failed[0]


def test_a_target_whose_call_fails_at_launch_is_one_screen(project: Path) -> None:
    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("tgt.make_limit, value: 5", "tgt.Fussy, level: 9"))
    result = integrate("run", cwd=project)
    assert result.returncode == 1, result.stderr
    assert "error: component 'trader' could not be built: InstantiationException" in result.stderr
    assert "level 9 is too fussy" in result.stderr and "Traceback" not in result.stderr


def test_class_and_target_both_name_the_class_once(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("    _target_: tgt.Trader\n", "    _target_: tgt.Trader\n    class: tgt.Trader\n"))
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert (
        "components.trader._target_: names the class a second time: give it as class or as _target_, not both"
        " (got 'tgt.Trader') [conf/config.yaml:7]"
    ) in err
