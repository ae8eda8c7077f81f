"""Alembic's environment for the registry: async engines (aiosqlite, asyncpg).

``module_registry.migrate`` hands over an open connection (``config.attributes["connection"]``);
run by Alembic's own CLI, the URL comes from ``config.attributes["url"]`` or ``sqlalchemy.url``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from module_registry.tables import Base

TARGET = Base.metadata


def run_on(connection: Any) -> None:
    """Run the pending migrations on one connection, in one transaction."""
    context.configure(connection=connection, target_metadata=TARGET, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async(url: Any) -> None:
    """Open an async engine on ``url`` and migrate through it."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    asyncio.run(run_async(url))


if context.is_offline_mode():
    raise RuntimeError("the registry's migrations run online only (against a database)")
main()
