"""Migrations go up to head, down to base and up again, on SQLite and PostgreSQL,
and the head schema matches the models."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from tests.conftest import _PG_OK, IN_CI, ROOT, create_pg_database, drop_pg_database, migrate

EXPECTED_INDEXES = {
    "quotes": {"ix_quotes_contractor_created", "ix_quotes_contractor_status", "ix_quotes_customer_id"},
    "customers": {"ix_customers_contractor_created"},
    "invoices": {"ix_invoices_quote_id", "ix_invoices_contractor_created"},
}


def _fresh_postgres() -> Iterator[str]:
    if not _PG_OK:
        if IN_CI:
            pytest.fail("PostgreSQL is required when CI=true")
        pytest.skip("PostgreSQL is not reachable")
    url = create_pg_database("quoted_migrations")
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    else:
        yield from _fresh_postgres()


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    yield from _fresh_postgres()


def _indexes(url: str) -> dict[str, set[str]]:
    if url.startswith("sqlite"):
        engine = create_engine(url.replace("+aiosqlite", ""))
        try:
            inspector = inspect(engine)
            return {t: {i["name"] for i in inspector.get_indexes(t)} for t in inspector.get_table_names()}
        finally:
            engine.dispose()
    import asyncio

    import asyncpg

    async def fetch() -> dict[str, set[str]]:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            rows = await conn.fetch("SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'")
        finally:
            await conn.close()
        result: dict[str, set[str]] = {}
        for row in rows:
            result.setdefault(row["tablename"], set()).add(row["indexname"])
        return result

    return asyncio.run(fetch())


def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    migrate(empty_database)
    indexes = _indexes(empty_database)
    for table, expected in EXPECTED_INDEXES.items():
        assert expected <= indexes[table], (table, indexes[table])
    migrate(empty_database, "base", command="downgrade")
    assert set(_indexes(empty_database)) <= {"alembic_version"}
    migrate(empty_database)
    assert EXPECTED_INDEXES["quotes"] <= _indexes(empty_database)["quotes"]


@pytest.mark.postgres
def test_models_match_the_migrated_schema(empty_postgres: str) -> None:
    """`alembic check`: autogenerate finds nothing the migrations forgot.

    PostgreSQL only: SQLite's reflection drops the DESC of expression indexes,
    which autogenerate would report as a (false) difference.
    """
    migrate(empty_postgres)
    env = {**os.environ, "DATABASE_URL": empty_postgres}
    result = subprocess.run([sys.executable, "-m", "alembic", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
