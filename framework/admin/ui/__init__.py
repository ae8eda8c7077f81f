"""The web console at ``/ui``: server-rendered pages, their static assets and live streams.

Pages and streams are routes of the admin API itself, so they share its bind, Host check,
token and masking rules: every value is masked with the running snapshot's masker, and
Jinja2 escapes whatever it writes into the HTML.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from framework.admin.ui.pages import router as pages
from framework.admin.ui.streams import router as streams

STATIC = Path(__file__).parent / "static"


def mount_console(api: FastAPI) -> None:
    """Add the console's pages, streams and assets (``/ui/static``) to an admin API."""
    api.include_router(pages)
    api.include_router(streams)
    api.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
