"""The registry's FastAPI app: its routers, the body limit, and one JSON shape for every refusal.

Refusals never echo the input (a config may hold secrets): 422s name the field and the rule.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from framework import BodyLimit
from module_registry import routes_installations, routes_modules
from module_registry.context import Context
from module_registry.db_errors import classify
from module_registry.errors import Invalid, RegistryError

UPLOADS = ("/api/v1/modules", "/api/v1/modules/")


def create_app(context: Context) -> Any:
    """The API, wrapped in its body limit."""
    app = FastAPI(
        title="Module registry", version="1.0.0", description="Modules, approvals and per-company installs"
    )
    app.state.registry = context
    app.include_router(routes_modules.router)
    app.include_router(routes_installations.router)
    app.add_exception_handler(RegistryError, _refused)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    for error in (SQLAlchemyError, OSError, asyncio.TimeoutError):  # not Exception: Starlette re-raises those
        app.add_exception_handler(error, _database_error)
    return BodyLimit(app, lambda path: _limit(context, path), "components.api.config.max_body")


def _limit(context: Context, path: str) -> int:
    """``max_body``; a module registration may add a package up to ``packages.max_size``."""
    limit = int(context.settings()["max_body"])
    return limit + context.store.max_size if path in UPLOADS else limit


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [(list(error["loc"]), str(error["msg"]), str(error["type"])) for error in exc.errors()]
    refusal = Invalid(problems)
    return JSONResponse(refusal.body(), status_code=refusal.status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    refusal = classify(exc)
    context: Context = request.app.state.registry
    if refusal is None:
        context.log.bind(event="registry.error", path=request.url.path).opt(exception=exc).error(
            f"{request.method} {request.url.path} failed: {type(exc).__name__}"
        )
        return JSONResponse({"detail": "internal error"}, status_code=500)
    context.log.bind(event="registry.refused", status=refusal.status, path=request.url.path).warning(
        f"{request.method} {request.url.path}: {refusal.message} ({type(exc).__name__})"
    )
    return JSONResponse(refusal.body(), status_code=refusal.status)
