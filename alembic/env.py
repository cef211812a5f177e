"""Async-aware Alembic environment.

The database comes from DATABASE_URL, normalised exactly as the app does it
(backend.config), so ``alembic upgrade head`` migrates whatever the app uses.
Tests may pass ``-x url=...`` or set ``config.attributes["url"]``.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import context
from backend.config import load_settings, normalize_database_url
from backend.models import Base

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# Indexes that exist on one backend only (pg_trgm on PostgreSQL, its plain
# fallback on SQLite; migration 0002), so the models do not declare them.
DIALECT_SPECIFIC_INDEXES = frozenset({
    "ix_customers_name_trgm", "ix_customers_email_trgm", "ix_customers_phone_trgm", "ix_customers_contractor_name",
})


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "index" and name in DIALECT_SPECIFIC_INDEXES)


def database_url() -> str:
    explicit = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if explicit:
        return normalize_database_url(explicit)
    return load_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # Batch mode lets ALTER-style operations work on SQLite too.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
