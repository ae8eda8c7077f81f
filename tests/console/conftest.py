"""The shipped app run by `integrate run` with its admin token set, and Debian's chromium driven
by Playwright; the browser tests skip without /usr/bin/chromium (a failure under CI=true)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Error, Page, sync_playwright

from framework.testing import RunningApp, run_app
from tests.health.apps import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
TOKEN = "CONSOLETOKEN4242"  # also fed to the feed as a symbol: the secret rides in every tick
FLEET_KEY = "fleet-signing-key-0123456789"  # a secret the config page shows masked
INJECTION = "<script>alert(1)</script>"


@dataclass
class Console:
    """A running shipped app and where its console and config dir are."""

    app: RunningApp
    url: str
    conf: Path


def launch(root: Path, *overrides: str, env: Mapping[str, str] | None = None) -> Console:
    """The shipped app from a copy of conf/, its admin API on a free port, with secrets set."""
    shutil.copytree(REPO / "conf", root / "conf")
    port = free_port()
    app = run_app(
        "--config-dir", "conf", f"http.port={port}", f'app.name="{INJECTION}"',
        f"components.feed.config.symbols=[BTCUSDT,{TOKEN}]", *overrides,
        cwd=root, env={"MARKET_ADMIN_TOKEN": TOKEN, "MARKET_FLEET_KEY": FLEET_KEY, **(env or {})}, timeout=60,
    )
    return Console(app, f"http://127.0.0.1:{port}", root / "conf")


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    running = launch(tmp_path_factory.mktemp("console"))
    with running.app:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, through Playwright (never ``playwright install``).

    Per module, not per session: while Playwright's sync API runs, its event loop counts as
    running in this thread, so other modules' ``asyncio.run`` would fail on this worker.
    """
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: apt-get install chromium (the console tests drive it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@dataclass
class Tab:
    """A fresh browser tab (its own sessionStorage), with the dialogs and script errors it saw."""

    page: Page
    dialogs: list[str]
    errors: list[str]


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    seen = Tab(page, [], [])

    def on_dialog(dialog: Dialog) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_error(error: Error) -> None:
        seen.errors.append(str(error))

    page.on("dialog", on_dialog)
    page.on("pageerror", on_error)
    yield seen
    context.close()
