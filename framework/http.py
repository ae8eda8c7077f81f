"""The admin HTTP API: a component serving FastAPI with uvicorn inside the app's event loop.

Reads are open (the API binds to 127.0.0.1 by default); anything that changes the app needs
``Authorization: Bearer <http.token>``, and with no token configured those endpoints answer
403. Bodies over ``http.max_body`` bytes are refused with 413 before any handler runs.
Whatever shows configuration or events is masked: secrets never leave the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import hmac
import json
import socket
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from enum import Enum
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Path, Query
from fastapi.responses import PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from framework._version import __version__
from framework.config.explain import explain, provenance_rows
from framework.config.snapshot import Snapshot
from framework.errors import ConfigError, UnknownKeyError
from framework.events.errors import DeadLetterNotFoundError, InvalidTopicError, ReplayError
from framework.events.topics import matches, validate_pattern
from framework.lifecycle import ComponentState
from framework.metrics import Metrics, outcome_of
from framework.secrets import SecretMasker

TOKEN_KEY = "http.token"
Responses = dict[int | str, dict[str, Any]]
# Module level: FastAPI resolves these (string) annotations in the module's namespace.
Credentials = Annotated[
    HTTPAuthorizationCredentials | None,
    Depends(HTTPBearer(auto_error=False, description=f"the value of {TOKEN_KEY}")),
]
JSON = "application/json"
ASGIApp = Callable[
    [Mapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


class PortInUseError(OSError):
    """Raised when the admin API's address is already taken by another process."""


class BindError(OSError):
    """Raised when the admin API cannot listen on ``http.host``/``http.port`` for another reason."""


class AdminApi:
    """The admin API as a component: ``class: admin`` (entry point) in a component entry.

    Its settings are the ``http`` section: host, port, token (secret), max_body.
    """

    version = "1.0.0"
    publishes: tuple[str, ...] = ()
    subscribes: tuple[str, ...] = ()

    def __init__(self, app: Any, logger: Any) -> None:
        self.app, self.log = app, logger
        self.server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.url: str | None = None

    async def start(self) -> None:
        settings = self.app.snapshot.section("http")
        host, port = settings["host"], settings["port"]
        sock = bind(host, port)
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_admin_api(self.app),
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self.server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(
            self.server.serve(sockets=[sock]), name="admin-api"
        )
        while not self.server.started:  # readiness handshake: 'started' means it accepts requests
            if self._task.done():
                sock.close()
                error = self._task.exception() if not self._task.cancelled() else None
                raise BindError(f"admin API on {host}:{port} stopped during start-up: {error!r}")
            await asyncio.sleep(0.005)
        self.url = f"http://{host}:{port}"
        self.log.bind(event="admin.started", url=self.url, port=port).info(
            f"admin API on {self.url} (docs: /docs)"
        )

    async def stop(self) -> None:
        if self.server is None or self._task is None:
            return
        self.server.should_exit = True
        done, _ = await asyncio.wait({self._task}, timeout=3.0)
        if not done:
            self.server.force_exit = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.server = self._task = None

    def health(self) -> Mapping[str, Any]:
        if self._task is None or self._task.done():
            return {"status": "unhealthy", "error": "the admin API server is not running"}
        return {"status": "healthy", "url": self.url}


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handlers: the app owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; a clear error naming ``http.port`` when it is taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise BindError(f"admin API: http.host '{host}' does not resolve ({exc})") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            error: OSError = PortInUseError(
                f"admin API cannot listen on {host}:{port}: port {port} (http.port) is already in use"
                f" by another process; choose another with http.port, e.g. `integrate run http.port={port + 1}`"
            )
        else:
            error = BindError(
                f"admin API cannot listen on {host}:{port} (http.host, http.port): {exc.strerror}"
            )
        error.errno = exc.errno
        raise error from exc
    return sock


# the FastAPI application


class DeadLetterReplay(BaseModel):
    """Which dead letter to deliver again; without an id, every replayable one."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, min_length=1, max_length=200)


def create_admin_api(app: Any) -> FastAPI:
    """The admin API for one running App (any object with the App's attributes)."""
    name = app.snapshot.section("app").get("name", "app")
    api = FastAPI(
        title=f"{name} admin API",
        version=__version__,
        description="Health probes, components, configuration, events and metrics of a running app.",
    )
    api.add_middleware(BodyLimit, limit=lambda: int(app.snapshot.section("http").get("max_body", 65536)))
    metrics = Metrics(app)
    reloading = asyncio.Lock()

    def require_token(credentials: Credentials) -> None:
        token = app.snapshot.section("http").get("token")
        if not token:
            raise HTTPException(
                403,
                f"writes are disabled: no admin token is configured; set {TOKEN_KEY}"
                " (the shipped app reads it from MARKET_ADMIN_TOKEN) to enable them",
            )
        if credentials is None:
            raise HTTPException(
                401,
                f"missing bearer token: send 'Authorization: Bearer <{TOKEN_KEY}>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(credentials.credentials.encode(), str(token).encode()):
            raise HTTPException(
                401, f"wrong bearer token (it must equal {TOKEN_KEY})", headers={"WWW-Authenticate": "Bearer"}
            )

    write = [Depends(require_token)]
    probe: Responses = {503: {"description": "the probe fails; the body says why"}}
    unauthorized: Responses = {
        401: {"description": "missing or wrong bearer token"},
        403: {"description": "writes disabled: no token configured"},
    }

    @api.get("/health", tags=["health"], responses=probe)
    async def health() -> Response:
        """Status of the app and of each component, with the recent transitions."""
        report = app.health.report()
        return _json(report, 503 if report["status"] == "unhealthy" else 200)

    @api.get("/health/live", tags=["health"], responses=probe)
    async def live() -> Response:
        """Liveness: the event loop answers and the health monitor keeps polling."""
        result = app.health.liveness()
        body = {"status": "alive" if result.ok else "dead", "reasons": list(result.reasons), **result.details}
        return _json(body, 200 if result.ok else 503)

    @api.get("/health/ready", tags=["health"], responses=probe)
    async def ready() -> Response:
        """Readiness: every enabled, non-optional component is running and not unhealthy."""
        result = app.health.readiness()
        body = {
            "status": "ready" if result.ok else "not ready",
            "reasons": list(result.reasons),
            **result.details,
        }
        return _json(body, 200 if result.ok else 503)

    @api.get("/info", tags=["app"])
    async def info() -> Response:
        """App name and version, framework version, uptime and config version."""
        section, snapshot = app.snapshot.section("app"), app.snapshot
        started = getattr(app, "started_at", None)
        return _json(
            {
                "app": section.get("name"),
                "version": section.get("version"),
                "framework_version": __version__,
                "uptime": round(time.time() - started, 3) if started else 0.0,
                "started_at": started,
                "config_version": snapshot.version,
                "config_hash": snapshot.digest[:12],
                "status": app.health.status.value,
            }
        )

    @api.get("/components", tags=["app"])
    async def components() -> Response:
        """Every component entry: state, version, dependencies, health."""
        return _json(component_rows(app))

    @api.get("/config", tags=["config"])
    async def config() -> Response:
        """The running config, secrets masked, with where each value came from."""
        snapshot: Snapshot = app.snapshot
        provenance = {
            row["key"]: {"layer": row["layer"], "where": row["where"]} if row["layer"] else None
            for row in provenance_rows(snapshot)
        }
        body = {
            "version": snapshot.version,
            "hash": snapshot.digest[:12],
            "config": snapshot.masked(),
            "provenance": provenance,
        }
        return _masked(app, body)

    @api.get("/config/explain/{key}", tags=["config"], responses={404: {"description": "unknown key"}})
    async def explain_key(key: str = Path(description="a dotted key", examples=["app.name"])) -> Response:
        """Why a key has its value: the winning layer and location, what it overrode, reload policy."""
        try:
            return _masked(app, explain(app.snapshot, key))
        except UnknownKeyError as exc:
            return _masked(app, {"detail": str(exc)}, 404)

    @api.get("/config/history", tags=["config"])
    async def config_history() -> Response:
        """The reloads so far (applied, rejected, rolled back) and the running version."""
        history = getattr(app, "reload_history", None)
        entries = history() if callable(history) else []
        return _masked(
            app,
            {
                "version": app.snapshot.version,
                "hash": app.snapshot.digest[:12],
                "reload_supported": callable(getattr(app, "reload", None)),
                "reloads": plain(entries),
            },
        )

    @api.post(
        "/config/reload",
        tags=["config"],
        dependencies=write,
        responses={
            **unauthorized,
            409: {"description": "a reload is already in progress"},
            422: {"description": "the new config is invalid"},
            501: {"description": "this app cannot reload"},
        },
    )
    async def reload(
        dry_run: bool = Query(False, description="only compute and return the plan"),
    ) -> Response:
        """Re-read the config and apply the change (or, with dry_run, only say what would change)."""
        method = getattr(app, "reload", None)
        if not callable(method):
            return _json(
                {
                    "detail": "this app has no in-process reload yet (App.reload is missing);"
                    " restart the process to apply config changes"
                },
                501,
            )
        if reloading.locked():
            return _json({"detail": "a reload is already in progress; try again when it has finished"}, 409)
        async with reloading:
            try:
                outcome = await method(dry_run=dry_run)
            except ConfigError as exc:
                return _masked(app, {"dry_run": dry_run, "outcome": "rejected", "detail": str(exc)}, 422)
            except RuntimeError as exc:  # not started yet, or stopping
                return _masked(app, {"dry_run": dry_run, "outcome": "refused", "detail": str(exc)}, 409)
        verdict = outcome_of(outcome) if outcome is not None else "unknown"
        body = {"dry_run": dry_run, "outcome": verdict, "result": plain(outcome)}
        return _masked(app, body, 422 if verdict == "rejected" else 200)

    @api.get("/events/recent", tags=["events"])
    async def recent_events(
        limit: int = Query(100, ge=1, le=1000),
        topic: str | None = Query(None, max_length=255, description="a topic pattern such as 'market.*'"),
    ) -> Response:
        """The latest events published on the bus, oldest first."""
        events = app.bus.history()
        if topic is not None:
            try:
                validate_pattern(topic)
            except InvalidTopicError as exc:
                return _json({"detail": str(exc)}, 422)
            events = [e for e in events if matches(topic, e.type)]
        return _masked(app, [e.to_dict() for e in events[-limit:]])

    @api.get("/events/dead-letters", tags=["events"])
    async def dead_letters(limit: int = Query(100, ge=1, le=1000)) -> Response:
        """Events that could not be delivered, and why."""
        return _masked(app, [dead_letter_row(letter) for letter in await app.bus.dead_letters(limit)])

    @api.post(
        "/events/dead-letters/replay",
        tags=["events"],
        dependencies=write,
        responses={
            **unauthorized,
            404: {"description": "no such dead letter"},
            409: {"description": "it cannot be replayed"},
        },
    )
    async def replay(request: DeadLetterReplay | None = None) -> Response:
        """Deliver one dead letter (by id) or all replayable ones again."""
        if request is None or request.id is None:
            return _json({"replayed": await app.bus.replay_dead_letters()})
        try:
            await app.bus.replay_dead_letter(request.id)
        except DeadLetterNotFoundError as exc:
            return _json({"detail": str(exc)}, 404)
        except ReplayError as exc:
            return _json({"detail": str(exc)}, 409)
        return _json({"replayed": 1, "id": request.id})

    @api.get("/metrics", tags=["app"], response_class=PlainTextResponse)
    async def prometheus() -> Response:
        """Prometheus text format: events, handler errors, reloads, health, breakers."""
        return Response(metrics.render(), media_type=metrics.content_type)

    return api


def component_rows(app: Any) -> list[dict[str, Any]]:
    lifecycle, health = app.lifecycle, app.health
    rows = []
    for name, spec in app.assembly.specs.items():
        cls = app.assembly.classes.get(name)
        state = lifecycle.states.get(name)
        record = health.records.get(name)
        rows.append(
            {
                "name": name,
                "class": spec.class_ref,
                "enabled": spec.enabled,
                "optional": spec.optional,
                "state": state.value if isinstance(state, ComponentState) else "disabled",
                "reason": getattr(lifecycle, "reasons", {}).get(name),
                "version": getattr(cls, "version", None),
                "depends_on": [str(d) for d in spec.depends_on],
                "health": record.as_dict() if record is not None else None,
            }
        )
    return rows


def dead_letter_row(letter: Any) -> dict[str, Any]:
    return {
        "id": letter.id,
        "subscriber": letter.subscriber,
        "reason": plain(letter.reason),
        "error": letter.error,
        "time": letter.time,
        "replayable": letter.replayable,
        "event": letter.envelope.to_dict() if letter.envelope is not None else None,
        "raw": dict(letter.raw) if letter.raw is not None else None,
    }


def plain(value: Any) -> Any:
    """JSON-friendly plain data from dataclasses, enums, mappings and sequences."""
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return plain(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, default=str), status_code=status, media_type=JSON)


def _masked(app: Any, data: Any, status: int = 200) -> Response:
    """JSON with every secret value of the running config replaced, wherever it appears."""
    masker = SecretMasker(app.snapshot.secret_values())
    return Response(masker(json.dumps(data, default=str)), status_code=status, media_type=JSON)


class BodyLimit:
    """Refuse request bodies over the limit with 413, chunked ones included, before routing."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > limit:
                await _too_large(send, limit)
                return
        body, sent = b"".join(chunks), False

        async def replay() -> Any:
            nonlocal sent
            if sent:  # after the body: wait for the disconnect, as the server would tell it
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps(
        {"detail": f"request body too large: the limit is {limit} bytes (http.max_body)"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
