"""The console's Fleet page, for an instance of a fleet on a real Redis: the live instances
with their digests and drift, and the last rollouts with their changes."""

from __future__ import annotations

import pytest

from tests.console.conftest import TOKEN, Tab
from tests.events.conftest import redis_url  # noqa: F401  (a fixture)
from tests.fleet.conftest import Fleet, fleet  # noqa: F401  (a fixture)
from tests.health.apps import free_port

pytestmark = [pytest.mark.browser, pytest.mark.redis]
INTERVAL = "components.feed.config.interval"


def test_the_fleet_page_shows_instances_drift_and_rollouts(fleet: Fleet, tab: Tab) -> None:  # noqa: F811
    risk = fleet.folder("c") / "conf/components/risk.yaml"
    risk.write_text(risk.read_text().replace("max_position: 3", "max_position: 4"))  # c's files differ
    port = free_port()
    fleet.start("a", "components.admin.enabled=true", f"http.port={port}", MARKET_ADMIN_TOKEN=TOKEN)
    fleet.start("b")
    fleet.start("c")
    fleet.wait_members("a", "b", "c")
    result = fleet.cli("set", f"{INTERVAL}=0.3", LOGNAME="<b>ops</b>")  # who set it: markup, shown as text
    assert result.returncode == 0, result.stdout + result.stderr
    result = fleet.cli("set", f"{INTERVAL}=0.4")
    assert result.returncode == 0, result.stdout + result.stderr

    page = tab.page
    page.goto(f"http://127.0.0.1:{port}/ui/fleet")
    assert page.locator("header nav a.current").inner_text() == "Fleet"
    rows = {row.get_attribute("data-instance"): row for row in page.locator("#instances tbody tr").all()}
    assert set(rows) == {"a", "b", "c"}
    assert {name: row.get_attribute("data-drift") for name, row in rows.items()} == {"a": "no", "b": "no", "c": "yes"}
    assert "DRIFT" in rows["c"].inner_text() and "v2" in rows["a"].inner_text()
    assert rows["a"].get_attribute("class") == "self"
    assert [item.get_attribute("data-version") for item in page.locator("#rollouts > li").all()] == ["2", "1"]
    latest, first = page.locator("#rollouts li[data-version='2']"), page.locator("#rollouts li[data-version='1']")
    assert "current" in latest.inner_text() and f"{INTERVAL}: 0.3 → 0.4" in latest.locator("ul.changes").inner_text()
    assert "current" not in first.inner_text() and "by <b>ops</b>@" in first.inner_text()
    assert f"{INTERVAL}: added 0.3" in first.locator("ul.changes").inner_text()
    assert page.locator("#rollouts b").count() == 0  # the user name's markup is text
    assert TOKEN not in page.content()
