"""The shipped app over RabbitMQ, with the command the README shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from framework.events.rabbitmq.connection import Names
from framework.testing import run_app
from tests.events.conftest import RabbitNames
from tests.readme import section_command

REPO = Path(__file__).resolve().parents[2]
# The queues the shipped app's components declare (component, pattern): deleted after the test.
SUBSCRIPTIONS = [
    ("analyzer", "market.tick"), ("trader", "market.tick"), ("trader", "signal.generated"),
    ("storage", "signal.generated"),
]

pytestmark = pytest.mark.rabbitmq


def readme_rabbitmq_command() -> str:
    return section_command("### Over RabbitMQ", r"MARKET_BUS_KEY=\S+ integrate run .+")


def test_the_readme_command_runs_the_pipeline_through_rabbitmq(tmp_path: Path, exchange: RabbitNames) -> None:
    """`integrate run event_bus=rabbitmq` (in an exchange of the test's own): ticks reach the
    analyzer, its signals the trader, whose request to risk is answered: a trade is made."""
    command = readme_rabbitmq_command()
    key = re.match(r"MARKET_BUS_KEY=(\S+)", command).group(1)  # type: ignore[union-attr]
    args = command.split("integrate run", 1)[1].split() + [
        f"event_bus.rabbitmq.exchange={exchange.exchange}",
        "~components.admin",
        "profile=fast",
        f"components.storage.config.path={tmp_path / 'm.db'}",
    ]
    exchange.queues |= {Names(exchange.exchange, "").queue(c, p) for c, p in SUBSCRIPTIONS}
    with run_app(*args, cwd=REPO, env={"MARKET_BUS_KEY": key}) as app:
        app.wait_for(lambda line: line["message"].startswith("analyzed "), 30, after=0)
        trade = app.wait_for(lambda line: line["message"].startswith("trade "), 30, after=0)
        assert trade["component"] == "trader"
        assert not [line for line in app.lines if line.get("level") in ("ERROR", "CRITICAL")]
