"""`logging.file` as a user meets it: `integrate run` writing, rotating and masking a real file,
a bad value refused at launch, and the file switched on, moved, refused and off while it runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from framework import cli
from framework.logging import LogFile
from framework.testing import RunningApp, edit_and_wait, integrate, run_app, write_tree
from tests.leaks import leaks

REPO = Path(__file__).resolve().parents[2]
SECRET = "pa\"ss\\wö-rd'1"  # quotes, a backslash and non-ASCII: each escaped differently in JSON and repr

TALKER = '''
class Talker:
    """A careless component: logs its password in the message and in the details."""

    config_schema = {
        "password": {"type": "string", "secret": True, "default": ""},
        "lines": {"type": "integer", "default": 3},
    }

    def __init__(self, config, logger):
        self.config, self.log = config, logger

    async def start(self):
        for number in range(self.config["lines"]):
            password = self.config["password"]
            self.log.bind(event="talker.said", password=password).info(
                f"line {number}: connecting with {password} ({password!r})")

    async def stop(self):
        pass
'''

CONFIG = """\
defaults:
  - _self_

app:
  name: talker
  allowed_packages: [leaky]
  watch:
    step_ms: 20
    settle_ms: 60
"""

TALKER_YAML = f"""\
components:
  talker:
    class: leaky.Talker
    config:
      password: {json.dumps(SECRET)}
"""


def make_talker(root: Path, config: str = CONFIG) -> Path:
    """A project whose one component logs its secret; `conf/config.yaml` is ``config``."""
    return write_tree(
        root,
        {"leaky/__init__.py": TALKER, "conf/config.yaml": config, "conf/talker.yaml": TALKER_YAML},
    )


def with_talker(config: str) -> str:
    return config.replace("  - _self_", "  - talker\n  - _self_")


def test_run_writes_a_rotated_log_file_with_no_secret_in_it(tmp_path: Path) -> None:
    """`integrate run logging.file.path=...` writes every line to the file, rotates it at 1 KB, masks the secret."""
    make_talker(tmp_path, with_talker(CONFIG))
    result = integrate(
        "run", "app.duration=0.3", "components.talker.config.lines=40",
        "logging.file.path=logs/talker.log", "logging.file.rotation='1 KB'", "logging.file.retention=100",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    files = sorted((tmp_path / "logs").iterdir())
    assert len(files) >= 3, files  # 40 lines of about 150 bytes: several rotations at 1 KB
    assert all(f.stat().st_size <= 1000 for f in files)
    text = "".join(f.read_text(encoding="utf-8") for f in files)
    assert leaks(text, SECRET) == []
    assert "line 39: connecting with *** ('***')" in text and '"password": "***"' in text
    assert "all components stopped" in (tmp_path / "logs/talker.log").read_text()


def test_a_bad_rotation_in_the_yaml_stops_the_launch_with_its_origin(tmp_path: Path) -> None:
    """A one-screen error names the key, the value, its file:line and what is accepted; exit 2, nothing run."""
    config = CONFIG + "logging:\n  file:\n    path: logs/app.log\n    rotation: 10 parsecs\n"
    make_talker(tmp_path, with_talker(config))
    for verb in ("run", "check"):
        result = integrate(verb, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            "error: invalid configuration (1 problem):",
            "  logging.file.rotation: loguru cannot read it (Invalid unit value while parsing duration:"
            " 'parsecs'); accepted: a size ('10 MB', '500 KB'), an age ('1 day', '12 hours'), a time of"
            " day ('00:00', 'monday at 12:00'), hourly, daily, weekly, monthly, yearly, or null (never"
            " rotate) (got '10 parsecs') [conf/config.yaml:14]",
        ]
    assert not (tmp_path / "logs").exists()


def test_a_directory_as_the_path_is_refused_naming_the_argument(tmp_path: Path) -> None:
    """A folder given on the command line is refused before anything starts."""
    make_talker(tmp_path, with_talker(CONFIG))
    (tmp_path / "logs").mkdir()
    result = integrate("run", "logging.file.path=logs", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        "logging.file.path: is a directory; give a file path in it, such as logs/app.log"
        " (got 'logs') [argument logging.file.path=logs]"
    ) in result.stderr


def reload_with(app: RunningApp, conf: Path, logging_yaml: str) -> dict:
    """Write conf/config.yaml with this `logging` section; the reload outcome it brings."""
    return edit_and_wait(app, lambda: (conf / "config.yaml").write_text(CONFIG + logging_yaml))


def events_in(path: Path) -> list[str]:
    return [json.loads(line).get("event", "") for line in path.read_text().splitlines()]


def test_the_log_file_is_switched_on_moved_refused_and_off_while_running(tmp_path: Path) -> None:
    """Each edit of logging.file applies at once; a bad one is rejected and the last good file keeps logging."""
    make_talker(tmp_path)
    conf, one, two = tmp_path / "conf", tmp_path / "logs/one.log", tmp_path / "logs/two.log"
    with run_app(cwd=tmp_path) as app:
        line = reload_with(app, conf, "logging:\n  file:\n    path: logs/one.log\n")
        assert line["outcome"] == "applied" and line["changes"] == [
            {"key": "logging.file.path", "old": None, "new": "logs/one.log", "kind": "changed"}
        ]
        assert events_in(one) == ["config.reloaded"]  # the file logs from the reload that opened it
        reload_with(app, conf, "logging:\n  file:\n    path: logs/two.log\n")
        assert events_in(one) == ["config.reloaded"] and events_in(two) == ["config.reloaded"]
        line = reload_with(app, conf, "logging:\n  file:\n    path: logs/two.log\n    retention: 7 parsecs\n")
        assert line["event"] == "config.rejected"
        assert any(
            re.fullmatch(r"logging\.file\.retention: loguru cannot read it .*\(got '7 parsecs'\) \[conf/config\.yaml:13\]", r)
            for r in line["reasons"]
        ), line["reasons"]
        assert events_in(two) == ["config.reloaded", "config.rejected"]  # still the running file
        line = reload_with(app, conf, "")
        assert line["outcome"] == "applied"
        assert events_in(two) == ["config.reloaded", "config.rejected"]  # closed before the record


def readme_example() -> str:
    """The `logging` YAML the README shows under "A log file"."""
    section = (REPO / "README.md").read_text().split("**A log file.**", 1)[1]
    found = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the README's log file section lost its YAML example"
    return found.group(1)


def test_the_readme_example_runs_and_writes_what_it_says(tmp_path: Path) -> None:
    """The README's example passes `check`; a run writes DEBUG JSON lines to var/log/market.log, folders made."""
    make_talker(tmp_path, with_talker(CONFIG) + readme_example())
    assert integrate("check", cwd=tmp_path).returncode == 0
    result = integrate("run", "app.duration=0.3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in (tmp_path / "var/log/market.log").read_text().splitlines()]
    events = [line.get("event") for line in lines]
    assert "app.starting" in events and events[-1] == "app.stopped"
    debug = [line["message"] for line in lines if line["level"] == "DEBUG" and line["component"] == "talker"]
    assert debug == ["configured"]  # the file's own level; the console stays at INFO, in text
    assert "component.configured" not in result.stderr and "all components stopped" in result.stderr
    assert not result.stderr.startswith("{")


def test_a_file_that_cannot_be_opened_at_reload_keeps_the_running_one(tmp_path: Path) -> None:
    """A path that passed its check but cannot be opened when applied: the reload is refused, the old file logs on."""
    make_talker(tmp_path, CONFIG + "logging:\n  file:\n    path: logs/one.log\n")
    conf, one, two = tmp_path / "conf", tmp_path / "logs/one.log", tmp_path / "logs/two.log"
    with run_app(cwd=tmp_path) as app:
        assert reload_with(app, conf, "logging:\n  file:\n    path: logs/two.log\n")["outcome"] == "applied"
        one.unlink()
        one.mkdir()  # the section that named it was checked when it ran, and is remembered as good
        line = reload_with(app, conf, "logging:\n  file:\n    path: logs/one.log\n")
        assert line["event"] == "config.rejected"
        assert any("section 'logging' refused the change: IsADirectoryError" in r for r in line["reasons"]), line
        assert events_in(two) == ["config.reloaded", "config.rejected"]


def test_a_log_file_that_fails_to_open_at_launch_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked good, then refused when opened (the folder changed in between): exit 2 naming the key, no traceback."""
    make_talker(tmp_path, with_talker(CONFIG))
    monkeypatch.chdir(tmp_path)

    def refuse_the_file(level: str, fmt: str, stream: object = None, file: LogFile | None = None) -> None:
        if file is not None:
            raise PermissionError(13, "Permission denied", file.path)

    monkeypatch.setattr(cli, "configure_logging", refuse_the_file)
    assert cli.main(["run", "logging.file.path=logs/app.log"]) == 2
    assert capsys.readouterr().err == (
        "error: logging.file.path: cannot open the log file: [Errno 13] Permission denied: 'logs/app.log'\n"
    )
