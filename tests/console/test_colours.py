"""Live colours on the graph, what each config value overrode, and markup arriving in events."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from framework.testing import edit_and_wait
from tests.console.conftest import INJECTION, TOKEN, Console, Tab, launch

pytestmark = pytest.mark.browser
RED, GREEN = "rgb(179, 38, 30)", "rgb(23, 128, 61)"  # console.css: unhealthy and healthy borders


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    running = launch(tmp_path_factory.mktemp("colours"), "health.interval=0.2")
    with running.app:
        yield running


def control(console: Console, action: str) -> None:
    answer = httpx.post(f"{console.url}/components/journal/{action}", headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=20)
    assert answer.status_code == 200, answer.text


def border(tab: Tab, name: str) -> str:
    return str(tab.page.eval_on_selector(f"g.node[data-component={name}] rect", "r => getComputedStyle(r).stroke"))


def test_a_stopped_component_turns_red_live_and_green_again(console: Console, tab: Tab) -> None:
    """Stopping the journal turns its node's fill to 'stopped' and its border red on an open page,
    with no page reload; starting it turns both back."""
    page = tab.page
    page.goto(console.url + "/ui/components")
    page.wait_for_selector("body[data-states=open]")
    node = "g.node[data-component=journal]"
    page.wait_for_selector(f"{node}[data-health=healthy]")
    assert border(tab, "journal") == GREEN
    control(console, "stop")
    page.wait_for_selector(f"{node}[data-state=stopped][data-health=unhealthy]")
    assert border(tab, "journal") == RED
    assert page.locator(f"{node} text.state").text_content() == "stopped · unhealthy"
    control(console, "start")
    page.wait_for_selector(f"{node}[data-state=running][data-health=healthy]")
    assert border(tab, "journal") == GREEN
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # never reloaded
    assert tab.errors == []


def test_each_value_shows_what_it_overrode(console: Console, tab: Tab) -> None:
    """app.name was set in config.yaml and overridden by an argument: the leaf names both."""
    page = tab.page
    page.goto(console.url + "/ui/config")
    leaf = page.locator('li.leaf[data-key="app.name"]')
    assert leaf.locator("code.value").inner_text() == INJECTION
    assert "argument" in leaf.locator(".origin").inner_text()
    overrode = leaf.locator(".overrode").inner_text()
    assert "market-pipeline" in overrode and "config.yaml:" in overrode
    assert page.locator('li.leaf[data-key="components.analyzer.config.fast_window"] .overrode').count() == 0


def test_markup_in_an_event_payload_shows_as_text(console: Console, tab: Tab) -> None:
    """A rejected edit whose value is '<script>alert(1)</script>' puts that text in the
    config.rejected event: the live tail and the reloads page show it, and nothing runs."""
    page = tab.page
    page.goto(console.url + "/ui/events")
    page.fill("#tail-pattern", "config.*")
    page.click("#tail-form button[type=submit]")
    page.wait_for_selector("#tail-state:has-text('live: config.*')")
    analyzer = console.conf / "components" / "analyzer.yaml"
    text = analyzer.read_text()
    outcome = edit_and_wait(console.app, lambda: analyzer.write_text(text.replace("fast_window: 5", f'fast_window: "{INJECTION}"')))
    assert outcome["event"] == "config.rejected", outcome
    row = page.locator("#tail tr[data-type='config.rejected']").first
    row.wait_for()
    assert INJECTION in row.inner_text()
    assert page.locator("#tail script").count() == 0
    page.goto(console.url + "/ui/reloads")
    assert INJECTION in page.locator("li.reload.outcome-rejected").first.inner_text()
    assert tab.dialogs == [] and tab.errors == []
    analyzer.write_text(text)
