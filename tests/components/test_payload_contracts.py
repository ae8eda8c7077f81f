"""Declared payloads between components: `integrate check` and every reload compare what each
subscriber requires with what each publisher of a matching topic declares, before anything
starts; declarations live on the class or, for a class you do not own, in its YAML entry."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from framework.app import App
from framework.cli import main
from framework.config.compose import ConfigSource
from tests.conftest import UserProject

MODULE = '''
from dataclasses import dataclass

from framework import Payload


@dataclass
class Quote:
    symbol: str
    price: float


@dataclass
class Order:
    symbol: str
    quantity: int


class Feed:
    publishes = ("market.quote", "trade.order")
    payloads = {"market.quote": Quote, "trade.order": Order}

    def __init__(self, bus):
        self.bus = bus

    async def start(self):
        pass

    async def stop(self):
        pass


class Plain:
    """A class we do not own: its payloads are declared in YAML."""

    def __init__(self, bus):
        self.bus = bus

    async def start(self):
        pass

    async def stop(self):
        pass


class Reader:
    subscribes = ("market.*", "trade.*")
    requires = {"market.*": {"symbol": {"type": "string", "required": True},
                             "price": {"type": "number", "required": True}}}

    def __init__(self, bus):
        self.bus, self.seen = bus, []

    async def start(self):
        await self.bus.subscribe("market.*", self.on_quote)

    async def on_quote(self, quote: Quote):
        self.seen.append(quote)

    async def stop(self):
        pass


class NeedsVenue(Reader):
    requires = {"market.*": {"symbol": {"type": "string", "required": True},
                             "venue": {"type": "string", "required": True}}}


class NeedsTextQuantity(Reader):
    requires = {"trade.*": {"quantity": {"type": "string"}}}


class NeedsVersion2(Reader):
    requires = {"market.quote": Payload(Quote, version=2)}


class NeedsNumber(Reader):
    requires = {"trade.*": {"quantity": {"type": "number", "required": True}}}


class Upcasts(Reader):
    requires = {**Reader.requires, "trade.order": Payload(Order, version=2, upcast={1: dict})}
'''

CONFIG = """
app:
  name: contracts
  env_prefix: CONTRACTS
  allowed_packages: [shop]
components:
  feed: {class: shop.Feed}
  reader: {class: shop.Reader}
"""


@pytest.fixture
def project(user_project: UserProject) -> Path:
    return user_project({"shop/__init__.py": MODULE, "conf/config.yaml": CONFIG})


def _check(capsys: pytest.CaptureFixture[str], *overrides: str) -> tuple[int, str]:
    code = main(["check", *overrides])  # in-process: a traceback would fail the test here
    _, err = capsys.readouterr()
    return code, err


def _edit(project: Path, old: str, new: str) -> None:
    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text().replace(old, new))


def test_matching_declarations_pass_check(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _check(capsys)
    assert code == 0, err


@pytest.mark.parametrize(
    ("reader", "expected"),
    [
        (  # a field no publisher has: the wildcard requirement meets feed's market.quote
            "NeedsVenue",
            "'reader' requires of 'market.*' (declared in shop.NeedsVenue.requires) what 'feed' does not publish"
            " on 'market.quote' (payload v1, declared in shop.Feed.payloads): field 'venue' is required by"
            " 'reader' and not in the payload at all",
        ),
        (  # a type the publisher does not send
            "NeedsTextQuantity",
            "what 'feed' does not publish on 'trade.order' (payload v1, declared in shop.Feed.payloads):"
            " field 'quantity' is integer in the payload, 'reader' requires string",
        ),
        (  # a newer version than the publisher's, with no upcaster
            "NeedsVersion2",
            "schema version 1, while 'reader' requires version 2 and has no upcaster from version 1",
        ),
    ],
)
def test_a_requirement_no_publisher_meets_is_refused_naming_both_topic_and_field(
    project: Path, capsys: pytest.CaptureFixture[str], reader: str, expected: str
) -> None:
    _edit(project, "shop.Reader", f"shop.{reader}")
    code, err = _check(capsys)
    assert code == 2, err
    assert expected in err and "Traceback" not in err


@pytest.mark.parametrize("reader", ["NeedsNumber", "Upcasts"])
def test_an_integer_meets_a_number_and_an_upcaster_meets_an_older_version(
    project: Path, capsys: pytest.CaptureFixture[str], reader: str
) -> None:
    _edit(project, "shop.Reader", f"shop.{reader}")
    code, err = _check(capsys)
    assert code == 0, err


YAML_DECLARED = """
  plain:
    class: shop.Plain
    publishes: [market.rate]
    payloads:
      market.rate:
        schema_version: 1
        schema:
          symbol: {type: string, required: true}
          price: {type: float, required: true}
"""


def test_yaml_declarations_are_checked_and_a_renamed_field_is_a_rejected_reload(project: Path) -> None:
    (project / "conf" / "config.yaml").write_text(CONFIG + YAML_DECLARED)

    async def scenario() -> tuple[list[str], list[object]]:
        async with App(ConfigSource(project / "conf")) as app:
            _edit(project, "symbol: {type: string, required: true}", "ticker: {type: string, required: true}")
            rejected = await app.reload()
            assert not rejected.ok and app.snapshot.version == 1
            await app.instance("plain").bus.publish("market.rate", {"symbol": "BTC", "price": 3})
            reader = app.instance("reader")
            for _ in range(100):
                if reader.seen:
                    break
                await asyncio.sleep(0.01)
            return list(rejected.reasons), reader.seen

    reasons, seen = asyncio.run(scenario())
    assert any(
        "what 'plain' does not publish on 'market.rate'" in r
        and "declared in components.plain.payloads.market.rate [conf/config.yaml:" in r
        and "field 'symbol' is required by 'reader' and not in the payload at all" in r
        for r in reasons
    ), reasons
    assert len(seen) == 1 and type(seen[0]).__name__ == "Quote"  # the old config runs: typed delivery too


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("payloads: {market.rate: {schema: {price: {type: nonsense}}}}", "components.plain: components.plain.payloads"),
        ("payloads: {'market..rate': {schema: {}}}", "components.plain.payloads"),
        ("payloads: {market.rate: {schema_version: 0, schema: {}}}", "schema_version"),
    ],
)
def test_a_malformed_yaml_declaration_is_a_clear_error(
    project: Path, capsys: pytest.CaptureFixture[str], entry: str, expected: str
) -> None:
    (project / "conf" / "config.yaml").write_text(CONFIG + f"  plain:\n    class: shop.Plain\n    {entry}\n")
    code, err = _check(capsys)
    assert code == 2, err
    assert expected in err and "Traceback" not in err


def test_check_in_a_subprocess_prints_the_mismatch_with_exit_code_2(project: Path) -> None:
    _edit(project, "reader: {class: shop.Reader}", "reader: {class: shop.Reader, requires: {trade.order: "
                   "{schema: {qty: {type: integer, required: true}}}}}")
    done = subprocess.run([sys.executable, "-m", "framework", "check"], cwd=project, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "field 'qty' is required by 'reader' and not in the payload at all" in done.stderr
    assert "Traceback" not in done.stderr
