"""The console following a running shipped app live as its config files are edited."""

from __future__ import annotations

import pytest

from framework.testing import edit_and_wait
from tests.console.conftest import Console, Tab

pytestmark = pytest.mark.browser


def test_a_restart_shows_live_on_the_graph(console: Console, tab: Tab) -> None:
    """Editing the journal's path restarts it: the open components page logs its stop and start
    as they happen, without a reload of the page, and its node ends running again."""
    page = tab.page
    page.goto(console.url + "/ui/components")
    page.wait_for_selector("body[data-states=open]")
    journal = console.conf / "components" / "journal.yaml"
    outcome = edit_and_wait(console.app, lambda: journal.write_text(journal.read_text().replace("trades.jsonl", "moved.jsonl")))
    assert outcome["event"] == "config.reloaded", outcome
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#live-log li')).some(li => li.textContent === 'journal: running → stopping')"
    )
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#live-log li')).some(li => li.textContent === 'journal: starting → running')"
    )
    assert page.locator("g.node[data-component=journal]").get_attribute("data-state") == "running"
    assert tab.errors == []


def test_a_rejected_edit_shows_with_its_reason(console: Console, tab: Tab) -> None:
    """An invalid value is rejected: the reloads page lists it with the validator's reason, file
    and line, and the overview's last reloads too; the running config keeps its value."""
    analyzer = console.conf / "components" / "analyzer.yaml"
    outcome = edit_and_wait(console.app, lambda: analyzer.write_text(analyzer.read_text().replace("fast_window: 5", "fast_window: -2")))
    assert outcome["event"] == "config.rejected", outcome
    page = tab.page
    for path in ("/ui/reloads", "/ui"):
        page.goto(console.url + path)
        rejected = page.locator("li.reload.outcome-rejected").first
        assert rejected.locator("strong").inner_text() == "rejected"
        reason = rejected.locator("ul.reasons").inner_text()
        assert "components.analyzer.config.fast_window: must be >= 1 (got -2)" in reason
        assert "analyzer.yaml:" in reason
    page.goto(console.url + "/ui/config")
    assert page.locator('li.leaf[data-key="components.analyzer.config.fast_window"] code.value').inner_text() == "5"
