"""Dead letters in the console: listed, and replayed only with the admin token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.console.conftest import TOKEN, Console, Tab, launch

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """Queues of one event, overflowing into the dead letters: the feed publishes two ticks at a
    time, so the second of each pair is dead-lettered for the analyzer and the trader."""
    running = launch(tmp_path_factory.mktemp("dead"), "event_bus.queue_size=1", "event_bus.overflow=dead_letter")
    with running.app:
        yield running


def test_a_dead_letter_is_replayed_with_the_token_only(console: Console, tab: Tab) -> None:
    """A letter's Replay is 401 without the token; with it, 200, and that letter leaves the list."""
    page = tab.page
    page.goto(console.url + "/ui/events")
    button = page.locator("ul.dead-letters button[data-action]").first
    letter = str(button.get_attribute("data-body"))
    assert '"id"' in letter and "queue_full" in page.locator("ul.dead-letters li").first.inner_text()
    button.click()
    page.wait_for_function("document.querySelector('#action-result').textContent.startsWith('401')")
    page.fill("#token-input", TOKEN)
    page.click("#token-form button")
    button.click()
    page.wait_for_function("document.querySelector('#action-result').textContent.startsWith('200')")
    assert '"replayed": 1' in page.locator("#action-result").inner_text()
    replayed_id = letter.split('"')[3]
    remaining = httpx.get(console.url + "/events/dead-letters", params={"limit": 1000}).json()
    assert replayed_id not in {row["id"] for row in remaining}


def test_the_console_never_dead_letters_what_it_shows(console: Console, tab: Tab) -> None:
    """With the bus dead-lettering overflow, the event tail drops its own oldest instead: watching
    never adds a dead letter of its own."""
    page = tab.page
    page.goto(console.url + "/ui/events")
    page.wait_for_function("document.querySelector('#tail-state').textContent === 'live: **'")
    page.wait_for_function("document.querySelectorAll('#tail tr').length >= 60")  # the page's 50, then live ones
    letters = httpx.get(console.url + "/events/dead-letters", params={"limit": 1000}).json()
    assert {row["subscriber"] for row in letters} == {"analyzer", "trader"}
