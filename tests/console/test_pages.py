"""Every console page of a running shipped app, in a real browser: what it shows, what it
escapes, what it never shows (secrets), the event tail's filter and the token-guarded actions."""

from __future__ import annotations

import pytest
from playwright.sync_api import Route

from tests.console.conftest import FLEET_KEY, INJECTION, TOKEN, Console, Tab

pytestmark = pytest.mark.browser

PAGES = {"/ui": "Overview", "/ui/components": "Components", "/ui/config": "Config v1",
         "/ui/reloads": "Reloads", "/ui/events": "Events", "/ui/fleet": "Fleet"}


def test_every_page_loads_with_its_data(console: Console, tab: Tab) -> None:
    """Each page answers 200, has its heading and runs its script without an error."""
    page = tab.page
    for path, heading in PAGES.items():
        answer = page.goto(console.url + path)
        assert answer is not None and answer.status == 200, path
        assert page.locator("h1").inner_text().startswith(heading), path
    assert tab.errors == []


def test_an_app_outside_a_fleet_has_no_fleet_tab(console: Console, tab: Tab) -> None:
    """The Fleet tab shows only in a fleet; its page says why it is empty."""
    page = tab.page
    page.goto(console.url + "/ui")
    assert page.locator("header nav a").all_inner_texts() == ["Overview", "Components", "Config", "Reloads", "Events"]
    page.goto(console.url + "/ui/fleet")
    assert "not part of a fleet" in page.locator("#no-fleet").inner_text()


def test_overview_shows_version_health_and_readiness(console: Console, tab: Tab) -> None:
    """The overview names the app's version, config v1 and its digest, and says it is ready."""
    page = tab.page
    page.goto(console.url + "/ui")
    assert page.locator("#app").inner_text().endswith("1.0.0")
    assert page.locator("#config-version").inner_text().startswith("v1 ")
    assert page.locator("#readiness").inner_text().startswith("ready")
    assert page.locator("#health").inner_text() in {"healthy", "degraded"}


def test_graph_draws_every_component_and_the_extension_dashed(console: Console, tab: Tab) -> None:
    """Seven running nodes (admin included); trader's edge to journal (an extension) is dashed, its others are not;
    clicking a node shows its config with origins and its declared topics."""
    page = tab.page
    page.goto(console.url + "/ui/components")
    assert page.locator("g.node").count() == 7
    assert page.locator("g.node[data-state=running]").count() == 7
    extension = page.locator('line[data-source=trader][data-target=journal]')
    assert extension.get_attribute("stroke-dasharray") == "6 4"
    assert page.locator('line[data-source=trader][data-target=risk]').get_attribute("stroke-dasharray") is None
    detail = page.locator('section[data-detail=analyzer]')
    assert detail.is_hidden()
    page.locator('g.node[data-component=analyzer]').click()
    assert detail.is_visible()
    assert "conf/components/analyzer.yaml" in detail.locator("table.config").inner_text()
    assert "signal.generated" in detail.inner_text()


def test_config_tree_shows_origins_masks_secrets_and_explains(console: Console, tab: Tab) -> None:
    """A leaf shows its value and file:line; a secret shows masked; the search box runs explain."""
    page = tab.page
    page.goto(console.url + "/ui/config")
    leaf = page.locator('li.leaf[data-key="components.analyzer.config.fast_window"]')
    assert leaf.locator("code.value").inner_text() == "5"
    assert "analyzer.yaml:" in leaf.locator(".origin").inner_text()
    assert page.locator('li.leaf[data-key="fleet.signing_key"] code.value').inner_text() == "***"
    page.fill("#explain-key", "components.analyzer.config.slow_window")
    page.click("#explain-form button")
    page.wait_for_function("document.querySelector('#explain-result').textContent.includes('slow_window')")
    assert '"value": 20' in page.locator("#explain-result").inner_text()


def test_injected_markup_shows_as_text(console: Console, tab: Tab) -> None:
    """The app name '<script>alert(1)</script>' is shown escaped on every page and never runs."""
    page = tab.page
    for path in PAGES:
        page.goto(console.url + path)
        assert page.locator(".app-name").inner_text() == INJECTION
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.content()
    assert page.locator('li.leaf[data-key="app.name"] code.value').count() == 0  # on the last page: fleet
    page.goto(console.url + "/ui/config")
    assert page.locator('li.leaf[data-key="app.name"] code.value').inner_text() == INJECTION
    assert tab.dialogs == []


def test_no_secret_in_any_page(console: Console, tab: Tab) -> None:
    """Neither the admin token nor the fleet key is in any page's HTML, even with the token entered."""
    page = tab.page
    page.goto(console.url + "/ui")
    page.fill("#token-input", TOKEN)
    page.click("#token-form button")
    assert page.locator("#token-state").inner_text() == "token set"
    for path in PAGES:
        page.goto(console.url + path)
        page.wait_for_timeout(300)  # the live parts fill in
        html = page.content()
        assert TOKEN not in html and FLEET_KEY not in html, path
    page.goto(console.url + "/ui/events")
    page.wait_for_function("document.querySelector('#tail').textContent.includes('***')")  # the masked symbol


def test_event_tail_filters_and_pauses(console: Console, tab: Tab) -> None:
    """The tail shows only the pattern's topics, nothing for a pattern nobody publishes, and
    stops growing while paused."""
    page = tab.page
    page.goto(console.url + "/ui/events")
    page.fill("#tail-pattern", "nothing.here")
    page.click("#tail-form button[type=submit]")
    page.wait_for_function("document.querySelector('#tail-state').textContent === 'live: nothing.here'")
    page.wait_for_timeout(1000)  # five ticks' worth
    assert page.locator("#tail tr").count() == 0
    page.fill("#tail-pattern", "market.*")
    page.click("#tail-form button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#tail tr').length >= 4")
    types = page.locator("#tail tr").evaluate_all("rows => rows.map(r => r.dataset.type)")
    assert set(types) == {"market.tick"}
    page.click("#tail-pause")
    before = page.locator("#tail tr").count()
    page.wait_for_timeout(1000)
    assert page.locator("#tail tr").count() == before
    page.click("#tail-pause")
    page.wait_for_function(f"document.querySelectorAll('#tail tr').length > {before}")


def test_replay_is_refused_without_the_token_and_done_with_it(console: Console, tab: Tab) -> None:
    """Replay all: 401 with no token or a wrong one, 200 once the right one is entered."""
    page = tab.page
    page.goto(console.url + "/ui/events")
    result = page.locator("#action-result")
    page.click("#replay-all")
    page.wait_for_function("document.querySelector('#action-result').textContent.startsWith('401')")
    assert "missing bearer token" in result.inner_text()
    page.fill("#token-input", "WRONGTOKEN9999")
    page.click("#token-form button")
    page.click("#replay-all")
    page.wait_for_function("document.querySelector('#action-result').textContent.includes('wrong bearer')")
    page.fill("#token-input", TOKEN)
    page.click("#token-form button")
    page.click("#replay-all")
    page.wait_for_function("document.querySelector('#action-result').textContent.startsWith('200')")
    assert '"replayed": 0' in result.inner_text()
    assert page.evaluate("location.href") == console.url + "/ui/events"  # no token in the URL


def test_dry_run_button_uses_the_token(console: Console, tab: Tab) -> None:
    """Dry run needs the token; with it the answer is the plan, and nothing is applied."""
    page = tab.page
    page.goto(console.url + "/ui/reloads")
    page.click("#dry-run")
    page.wait_for_function("document.querySelector('#action-result').textContent.startsWith('401')")
    page.fill("#token-input", TOKEN)
    page.click("#token-form button")
    page.click("#dry-run")
    page.wait_for_function("document.querySelector('#action-result').textContent.startsWith('200')")
    assert '"dry_run": true' in page.locator("#action-result").inner_text()


def test_a_lost_state_stream_is_reopened_by_the_browser(console: Console, tab: Tab) -> None:
    """When the connection to the state stream fails, the page's EventSource opens it again on
    its own, and the page goes live."""
    page = tab.page
    attempts: list[str] = []

    def drop_the_first(route: Route) -> None:
        attempts.append(route.request.url)
        if len(attempts) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/ui/stream/states", drop_the_first)
    page.goto(console.url + "/ui/components")
    page.wait_for_selector("body[data-states=open]")
    assert len(attempts) == 2
