"""`integrate asyncapi`: the composed app's events as an AsyncAPI 3.0 document, valid against the
AsyncAPI Initiative's own JSON Schema (tests/data/asyncapi), with the declared payloads, who
sends and who receives, and the bus as the server, credentials left out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC = json.loads((ROOT / "tests" / "data" / "asyncapi" / "3.0.0.json").read_text())


def _asyncapi(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MARKET_BUS_KEY": "asyncapi-test-key-0123456789"}  # event_bus=redis needs one
    return subprocess.run([sys.executable, "-m", "framework", "asyncapi", *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=60, env=env)


def _problems(document: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in jsonschema.Draft7Validator(SPEC).iter_errors(document)]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: Any, ref: str) -> Any:
    node = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _valid(document: dict[str, Any]) -> dict[str, Any]:
    assert _problems(document) == []
    for ref in _refs(document):  # every reference points at something in the document
        assert ref.startswith("#/") and _resolve(document, ref) is not None, ref
    return document


def test_the_validator_refuses_a_broken_document() -> None:
    """The schema is the real one, and works offline: a wrong action is caught."""
    document = json.loads(_asyncapi().stdout)
    next(iter(document["operations"].values()))["action"] = "publish"  # AsyncAPI 2's word
    assert _problems(document)


def test_the_shipped_apps_document_shows_its_declared_payloads_and_who_sends_and_receives() -> None:
    done = _asyncapi()
    assert done.returncode == 0, done.stderr
    document = _valid(json.loads(done.stdout))
    assert document["asyncapi"] == "3.0.0" and document["info"]["title"] == "market-pipeline"
    assert document["servers"]["bus"]["protocol"] == "memory"
    tick = document["channels"]["market_tick"]
    assert tick["address"] == "market.tick"
    operations = {(o["action"], o["summary"]) for o in document["operations"].values()}
    assert {("send", "feed publishes market.tick"), ("receive", "analyzer subscribes to market.tick"),
            ("receive", "storage subscribes to signal.generated"), ("send", "app publishes config.rejected")} <= operations
    payload = document["components"]["messages"]["feed_market_tick"]["payload"]
    assert payload["required"] == ["symbol", "price"] and payload["properties"]["price"]["type"] == "number"
    trade = document["components"]["messages"]["trader_trade_executed"]
    assert trade["x-schema-version"] == 1 and set(trade["payload"]["properties"]) >= {"id", "symbol", "quantity"}


def test_yaml_output_to_a_file_and_the_redis_server_without_its_password(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.yaml"
    url = "event_bus.redis.url=redis://ops:hunter2-secret@cache.internal:6380/3"
    done = _asyncapi("--format", "yaml", "--out", str(out), "event_bus=redis", url)
    assert done.returncode == 0, done.stderr
    assert "Wrote AsyncAPI 3.0.0" in done.stdout
    text = out.read_text()
    assert "hunter2" not in text and "ops:" not in text and "asyncapi-test-key" not in text
    document = _valid(yaml.safe_load(text))
    assert document["servers"]["bus"] == {"host": "cache.internal:6380", "protocol": "redis",
                                          "description": "redis event bus", "pathname": "/3"}


NESTED = '''
from pydantic import BaseModel


class Venue(BaseModel):
    name: str


class Fill(BaseModel):
    symbol: str
    venue: Venue


class Broker:
    publishes = ("trade.fill",)
    payloads = {"trade.fill": Fill}

    async def start(self):
        pass

    async def stop(self):
        pass


class Audit:
    subscribes = ("trade.*",)

    async def start(self):
        pass

    async def stop(self):
        pass
'''


def test_nested_models_move_to_components_schemas(tmp_path: Path) -> None:
    (tmp_path / "desk").mkdir()
    (tmp_path / "desk" / "__init__.py").write_text(NESTED)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text(
        "app: {name: desk, allowed_packages: [desk]}\n"
        "components:\n  broker: {class: desk.Broker}\n  audit: {class: desk.Audit}\n"
    )
    done = _asyncapi(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = _valid(json.loads(done.stdout))
    venue = document["components"]["messages"]["broker_trade_fill"]["payload"]["properties"]["venue"]
    assert venue == {"$ref": "#/components/schemas/broker_Venue"}
    assert document["components"]["schemas"]["broker_Venue"]["properties"]["name"]["type"] == "string"
    audit = document["operations"]["audit_receive_trade_any"]
    assert audit["messages"] == [{"$ref": "#/channels/trade_any/messages/audit_trade_any"}]  # any data: none declared


@pytest.mark.parametrize("argv", [("--out", "/proc/nope/x.json"), ("components.feed.class=nowhere.Feed",)])
def test_a_bad_request_is_a_clear_error(argv: tuple[str, ...]) -> None:
    done = _asyncapi(*argv)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.strip()
