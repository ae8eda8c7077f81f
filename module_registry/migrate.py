"""Alembic ``upgrade head`` on the registry's database, from a running loop or a command."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

logging.getLogger("alembic").setLevel(logging.WARNING)  # before alembic loads: its INFO lines are noise
from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(connection: Any = None) -> Config:
    """Alembic's settings for the registry's scripts; ``connection``: run on this one."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine) -> str | None:
    """Apply every pending migration; return the revision the database is at after."""
    async with engine.connect() as connection:
        await connection.run_sync(_upgrade)
        await connection.commit()
        return await connection.run_sync(_current)


def _upgrade(connection: Any) -> None:
    command.upgrade(alembic_config(connection), "head")


def _current(connection: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
