"""Rendering a console page: Jinja2 with autoescape on, every value masked before and after."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.responses import HTMLResponse

from framework.admin.types import AdminView

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment() -> jinja2.Environment:
    """The templates' environment, made on the first page asked for: importing Jinja2 costs
    every app with an admin API about 50 ms of start-up that most never use."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # config values, component names and payloads are text, never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(app: AdminView, template: str, page: str, **context: Any) -> HTMLResponse:
    """The page ``template`` shows with ``context``: secrets replaced in the data, then in the HTML."""
    masker = app.snapshot.masker
    common = {"app_name": app.snapshot.section("app").get("name"), "page": page, "in_fleet": app.fleet is not None}
    data = masker.scrub({**common, **context})
    html = environment().get_template(template).render(**data)
    return HTMLResponse(masker(html))
