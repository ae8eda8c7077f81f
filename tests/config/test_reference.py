"""`integrate docs`: a reference of every key of the composed app, in Markdown or JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from framework.cli import main
from framework.config.reference import Section, reference_markdown, reference_rows
from framework.secrets import MASK
from framework.testing import integrate, write_tree
from tests.readme import shown_output

REPO = Path(__file__).resolve().parents[2]
SHIPPED = str(REPO / "conf")
SECTIONS = ["app", "logging", "event_bus", "health", "error_handling", "http"]


def docs_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(["docs", "--format", "json", "--config-dir", SHIPPED, *args]) == 0
    rows: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return rows


def test_markdown_reference_of_the_shipped_app(tmp_path: Path) -> None:
    """Run as a user would: a heading and a table per framework section and per enabled component."""
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    result = integrate("docs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    headings = [line[3:] for line in result.stdout.splitlines() if line.startswith("## ")]
    assert headings[: len(SECTIONS)] == SECTIONS
    assert "components.analyzer.config (components.analyzer.CrossoverAnalyzer)" in headings
    assert "| `components.analyzer.config.fast_window` | integer | `5` | >= 1 | live |  | ticks in the fast average |" in result.stdout
    assert "| `app.watch.step_ms` | integer | `2` | 1..5000 | never |" in result.stdout
    assert "one of memory, redis" in result.stdout


def test_json_rows_name_type_default_range_reload_secret_and_description(capsys: pytest.CaptureFixture[str]) -> None:
    """Each JSON row describes one key; a secret's default is masked; the order is the same each run."""
    rows = docs_json(capsys)
    by_key = {row["key"]: row for row in rows}
    assert len(by_key) == len(rows)
    window = by_key["components.analyzer.config.fast_window"]
    assert window["type"] == "integer" and window["default"] == 5 and window["min"] == 1
    assert window["reload"] == "live" and window["secret"] is False
    assert window["description"] == "ticks in the fast average"
    assert by_key["http.token"]["secret"] is True and by_key["http.token"]["default"] == MASK
    assert by_key["event_bus.redis.url"]["reload"] == "restart"
    assert by_key["event_bus.topics.<name>.partitions"]["max"] == 1024
    assert by_key["logging.level"]["allowed"] == ["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]
    assert "default" not in by_key["components.<name>.class"]  # required, no default: not "null"
    assert docs_json(capsys) == rows


def test_a_disabled_component_has_no_table(capsys: pytest.CaptureFixture[str]) -> None:
    """Overrides compose the app documented: a disabled component's config keys are left out."""
    keys = {row["key"] for row in docs_json(capsys, "components.feed.enabled=false")}
    assert not any(str(key).startswith("components.feed.") for key in keys)
    assert "components.analyzer.config.slow_window" in keys


def test_a_secret_default_is_never_printed() -> None:
    """A secret key's default shows as the mask in both forms."""
    section = Section("vault", ("vault",), {"password": {"type": "string", "secret": True, "default": "hunter2-x"}})
    assert reference_rows([section])[0]["default"] == MASK
    assert "hunter2-x" not in reference_markdown([section])


def test_markdown_cells_keep_the_table_whole() -> None:
    """A pipe in a description is escaped, and <PREFIX> is not swallowed as an HTML tag."""
    section = Section("s", ("s",), {"k": {"type": "string", "description": "a | b for <PREFIX>"}})
    assert "| a \\| b for \\<PREFIX> |" in reference_markdown([section])


def test_an_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse refuses --format yaml with exit 2, naming the choices."""
    with pytest.raises(SystemExit) as exited:
        main(["docs", "--format", "yaml", "--config-dir", SHIPPED])
    assert exited.value.code == 2
    assert "invalid choice: 'yaml'" in capsys.readouterr().err


def test_a_broken_config_is_the_usual_one_screen_error(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config that does not validate prints the located problem and exits 2, no traceback."""
    write_tree(config_dir, {"config.yaml": "app:\n  watch:\n    step_ms: fast\n"})
    assert main(["docs", "--config-dir", str(config_dir)]) == 2
    err = capsys.readouterr().err
    assert "app.watch.step_ms: must be of type integer" in err and "Traceback" not in err


def test_the_readme_example_is_what_docs_prints(tmp_path: Path) -> None:
    """Each line the README shows of `integrate docs` is a line it prints for the shipped app."""
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    printed = integrate("docs", cwd=tmp_path).stdout.splitlines()
    shown = shown_output("integrate docs")
    assert shown and all(line in printed for line in shown), shown
