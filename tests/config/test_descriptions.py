"""A key's schema description shows wherever the CLI explains a key; a key without one shows nothing extra."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework.cli import main

SHIPPED = str(Path(__file__).resolve().parents[2] / "conf")
WINDOW = "ticks in the fast average"  # components/analyzer.py's description of fast_window


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main([*args, "--config-dir", SHIPPED]) == 0
    return capsys.readouterr().out


def test_explain_text_says_what_a_key_is_for(capsys: pytest.CaptureFixture[str]) -> None:
    """`explain` prints the description under the value, for a component's key as for a section's."""
    text = run(capsys, "explain", "components.analyzer.config.fast_window")
    assert text.splitlines()[:2] == ["components.analyzer.config.fast_window = 5", f"  about:   {WINDOW}"]
    assert "  about:   reload when the YAML changes" in run(capsys, "explain", "app.watch.enabled")


def test_explain_json_carries_the_description_only_when_there_is_one(capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON report has a description field for a described key and none for another."""
    described = json.loads(run(capsys, "explain", "http.token", "--format", "json"))
    assert described["description"].startswith("bearer token")
    bare = json.loads(run(capsys, "explain", "app.name", "--format", "json"))
    assert "description" not in bare
    assert "about:" not in run(capsys, "explain", "app.name")


def test_show_provenance_adds_the_description_after_the_origin(capsys: pytest.CaptureFixture[str]) -> None:
    """`show --provenance` appends ` -- description` to a described key's origin, in text and JSON."""
    lines = run(capsys, "show", "--provenance").splitlines()
    window = next(line for line in lines if line.startswith("components.analyzer.config.fast_window "))
    assert window.endswith(f"components/analyzer.yaml:5 -- {WINDOW}")
    name = next(line for line in lines if line.startswith("app.name "))
    assert " -- " not in name
    rows = {row["key"]: row for row in json.loads(run(capsys, "show", "--provenance", "--format", "json"))}
    assert rows["components.analyzer.config.fast_window"]["description"] == WINDOW
    assert "description" not in rows["app.name"]


def test_a_list_item_takes_its_lists_description(capsys: pytest.CaptureFixture[str]) -> None:
    """`explain app.allowed_packages.0` says what the list is for."""
    text = run(capsys, "explain", "app.allowed_packages.0")
    assert "  about:   import roots component classes may come from" in text
