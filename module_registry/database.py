"""The database as a component: an SQLAlchemy 2 async engine and its sessions, migrated at start."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from module_registry.migrate import upgrade

if TYPE_CHECKING:
    from loguru import Logger

SQLITE = "sqlite+aiosqlite"
POSTGRES = "postgresql+asyncpg"
_RESTART = {"reload": "restart"}


def url_of(config: Mapping[str, Any]) -> URL:
    """The SQLAlchemy URL the ``database`` config describes (its password never shows in str())."""
    if config["driver"] == SQLITE:
        path = Path(config["path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        return URL.create(SQLITE, database=str(path))
    return URL.create(
        POSTGRES,
        username=config["user"],
        password=config["password"],
        host=config["host"],
        port=config["port"],
        database=config["database"],
    )


def create_engine(config: Mapping[str, Any]) -> AsyncEngine:
    """An async engine for the config: connections checked before use, bounded waits."""
    url = url_of(config)
    if config["driver"] == SQLITE:
        engine = create_async_engine(url, hide_parameters=True, connect_args={"timeout": config["timeout"]})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        hide_parameters=True,  # a statement's values (configs, maybe secret) stay out of errors and logs
        pool_size=config["pool_size"],
        pool_timeout=config["timeout"],
        connect_args={"timeout": config["timeout"], "command_timeout": config["timeout"]},
    )


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """SQLite (a file) or PostgreSQL; runs Alembic ``upgrade head`` when it starts."""

    version = "1.0.0"
    config_schema = {
        "driver": {"type": "string", "allowed": [SQLITE, POSTGRES], "default": SQLITE, **_RESTART},
        "path": {"type": "string", "empty": False, "default": "var/registry.sqlite3", **_RESTART},
        "host": {"type": "string", "empty": False, "default": "127.0.0.1", **_RESTART},
        "port": {"type": "integer", "min": 1, "max": 65535, "default": 5432, **_RESTART},
        "user": {"type": "string", "empty": False, "default": "postgres", **_RESTART},
        "password": {"type": "string", "nullable": True, "default": None, "secret": True, **_RESTART},
        "database": {"type": "string", "empty": False, "default": "test", **_RESTART},
        "pool_size": {"type": "integer", "min": 1, "default": 10, **_RESTART},
        "timeout": {
            "type": "number",
            "min": 0.1,
            "default": 5.0,
            "description": "seconds to connect, wait for a pooled connection or run one statement",
            **_RESTART,
        },
        "migrate": {"type": "boolean", "default": True, "description": "run the migrations at start"},
    }

    def __init__(self, config: Mapping[str, Any], logger: Logger) -> None:
        self.config, self.log = config, logger
        self.engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    async def start(self) -> None:
        self.engine = create_engine(self.config)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        where = self.engine.url.render_as_string(hide_password=True)
        if self.config["migrate"]:
            revision = await upgrade(self.engine)
            self.log.bind(event="registry.migrated", revision=revision).info(
                f"database {where} at {revision}"
            )

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
        self.engine = self._sessions = None

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None:
        self.config = config

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The session factory: ``async with db.sessions.begin() as session:`` is one transaction."""
        if self._sessions is None:
            raise RuntimeError("the database component is not started")
        return self._sessions
