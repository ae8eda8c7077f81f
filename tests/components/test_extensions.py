"""Extension points: a consumer receives the enabled providers of its points, in config order,
each checked against the point's contract before anything starts; `integrate graph` shows the
extension edges; a reload that changes the providers is handed to on_extensions_change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from framework.app import App
from framework.cli import main
from framework.config.compose import ConfigSource
from tests.conftest import UserProject

MODULE = '''
from typing import Protocol

from framework import ExtensionPoint


class Sink(Protocol):
    def write(self, item: str) -> None: ...


class Hub:
    extension_points = {"sinks": ExtensionPoint(Sink)}

    def __init__(self, sinks, logger):
        self.sinks, self.log, self.changes = sinks, logger, []

    async def start(self):
        for sink in self.sinks:
            sink.write("hello")

    async def stop(self):
        pass

    def on_extensions_change(self, providers):
        if any(getattr(s, "refuse", False) for s in providers["sinks"]):
            raise ValueError("refusing a sink that refuses")
        self.sinks = providers["sinks"]
        self.changes.append([s.name for s in self.sinks])


class Single(Hub):
    extension_points = {"sinks": ExtensionPoint(Sink, cardinality="one")}


class ListSink:
    extends = ("sinks",)

    def __init__(self, name, config=None):
        self.name, self.items = name, []
        self.refuse = bool((config or {}).get("refuse"))

    def write(self, item):
        self.items.append(item)

    async def start(self):
        pass

    async def stop(self):
        pass


class PlainSink(ListSink):
    extends = ()  # extends by its YAML entry only
    config_schema = {"refuse": {"type": "boolean", "default": False}}


class Mute:
    extends = ("sinks",)

    async def start(self):
        pass

    async def stop(self):
        pass
'''

CONFIG = """
app:
  name: ext
  env_prefix: EXT
  allowed_packages: [ext]
components:
  second: {class: ext.ListSink}
  hub: {class: ext.Hub}
  first: {class: ext.PlainSink, extends: [sinks]}
"""


@pytest.fixture
def project(user_project: UserProject) -> Path:
    return user_project({"ext/__init__.py": MODULE, "conf/config.yaml": CONFIG})


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))  # in-process: a traceback would fail the test here
    out, err = capsys.readouterr()
    return code, out, err


def test_the_consumer_gets_its_providers_in_config_order_started_before_it(project: Path) -> None:
    async def scenario() -> tuple[list[str], list[list[str]], list[str]]:
        async with App(ConfigSource(project / "conf")) as app:
            hub = app.instance("hub")
            return [s.name for s in hub.sinks], [s.items for s in hub.sinks], list(app.lifecycle.graph.order)

    names, items, order = asyncio.run(scenario())
    assert names == ["second", "first"]  # as their entries appear, the class-level and YAML ones alike
    assert items == [["hello"], ["hello"]]
    assert order.index("hub") > max(order.index("first"), order.index("second"))


def test_graph_shows_extension_edges_apart(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = _cli(capsys, "graph")
    assert code == 0 and "hub  (extended by second, first)" in text
    _, dot, _ = _cli(capsys, "graph", "--format", "dot")
    assert '"second" -> "hub" [style=dashed, label="extends"];' in dot and '"hub" -> "second";' not in dot
    _, mermaid, _ = _cli(capsys, "graph", "--format", "mermaid")
    assert "  first -. extends .-> hub" in mermaid


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("first: {class: ext.PlainSink, extends: [sinks]}", "first: {class: ext.Mute, extends: [sinks]}"),
            "component 'first' (Mute) violates contract Sink: method 'write' is missing"
            " (extension point 'sinks' of 'hub')",
        ),
        (
            ("extends: [sinks]", "extends: [sink]"),
            "components.first.extends: 'sink' is no extension point of an enabled component (points: sinks);"
            " did you mean 'sinks'?",
        ),
        (
            ("hub: {class: ext.Hub}", "hub: {class: ext.Single}"),
            "components.hub: extension point 'sinks' takes exactly one provider (cardinality one);"
            " enabled providers: 'second', 'first'",
        ),
        (
            ("hub: {class: ext.Hub}", "hub: {class: ext.Hub, extends: [sinks]}"),
            "components.hub.extends: 'sinks' is its own extension point",
        ),
    ],
)
def test_a_broken_extension_is_refused_before_anything_starts(
    project: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], expected: str
) -> None:
    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text().replace(*change))
    code, _, err = _cli(capsys, "check")
    assert code == 2, err
    assert expected in err and "Traceback" not in err


def test_a_reload_that_changes_the_providers_calls_on_extensions_change(project: Path) -> None:
    """Disabling one, adding one: the hub is told in the same transaction; a refusal rejects
    the reload and the hub keeps the providers it had, running."""
    config = project / "conf" / "config.yaml"
    good = config.read_text()

    async def scenario() -> tuple[list[list[str]], list[str], list[str]]:
        async with App(ConfigSource(project / "conf")) as app:
            hub = app.instance("hub")
            config.write_text(good.replace("second: {class: ext.ListSink}", "second: {class: ext.ListSink, enabled: false}"))
            assert (await app.reload()).ok
            config.write_text(good + "  third: {class: ext.PlainSink, extends: [sinks]}\n")
            assert (await app.reload()).ok
            config.write_text(good + "  third: {class: ext.PlainSink, extends: [sinks], config: {refuse: true}}\n")
            refused = await app.reload()
            assert not refused.ok
            running = [s.name for s in hub.sinks]
            assert not any(s.refuse for s in hub.sinks)  # the third it had, not the refused one
            return hub.changes, list(refused.reasons), running + [app.state("third").value]

    changes, reasons, running = asyncio.run(scenario())
    # told of each change; the refused one then undone: given back the providers it had
    assert changes == [["first"], ["second", "first", "third"], ["second", "first", "third"]]
    assert any("on_extensions_change" in r and "refusing a sink that refuses" in r for r in reasons), reasons
    assert running == ["second", "first", "third", "running"]
