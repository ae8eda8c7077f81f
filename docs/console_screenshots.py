"""Take the README's console screenshots: the shipped app, run from a copy of conf/, in Debian's chromium.

Run from the repository root: .venv/bin/python docs/console_screenshots.py
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from framework.testing import run_app

DOCS = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        shutil.copytree(DOCS.parent / "conf", Path(root) / "conf")
        port = free_port()
        with run_app("--config-dir", "conf", f"http.port={port}", cwd=root), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page(viewport={"width": 1100, "height": 700})
            page.goto(f"http://127.0.0.1:{port}/ui")
            page.screenshot(path=DOCS / "console-overview.png")
            page.goto(f"http://127.0.0.1:{port}/ui/components")
            page.locator("g.node[data-component=trader]").click()
            page.wait_for_timeout(1500)  # a few live lines
            page.screenshot(path=DOCS / "console-components.png", full_page=False)
            browser.close()


if __name__ == "__main__":
    main()
