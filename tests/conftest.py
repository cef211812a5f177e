"""Test infrastructure.

Integration tests run against SQLite always and against PostgreSQL whenever
``TEST_DATABASE_URL`` (default: the local ``postgres`` superuser) answers;
with ``CI=true`` PostgreSQL is required and its absence fails the run. The
suite creates its own databases, migrated with ``alembic upgrade head`` in a
subprocess (Alembic's async env calls ``asyncio.run``), and drops them after.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from backend.config import Settings, load_settings, normalize_database_url

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_DATABASE_URL = normalize_database_url(
    os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Local fake vendor servers (Anthropic, OpenAI, Resend, Slack, Stripe) as fixtures: fake_claude, ...
pytest_plugins = ["tests.fakes.fixtures"]


def migrate(url: str, target: str = "head", command: str = "upgrade") -> None:
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", command, target], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"alembic {command} {target} failed:\n{result.stderr[-3000:]}"


def _admin_dsn() -> str:
    return make_url(TEST_DATABASE_URL).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_execute(sql: str, dsn: str | None = None) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn or _admin_dsn(), timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_available() -> bool:
    try:
        asyncio.run(_pg_execute("SELECT 1"))
        return True
    except Exception:
        return False


_PG_OK = postgres_available()


def create_pg_database(prefix: str = "quoted_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
    return make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def require_postgres(why: str) -> None:
    """Skip when the test PostgreSQL does not answer — or fail, under CI=true, where it is required."""
    if not _PG_OK:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required when CI=true but {TEST_DATABASE_URL!r} does not answer")
        pytest.skip(f"PostgreSQL is not reachable; {why}")


@contextmanager
def migrated_pg_database(prefix: str, why: str) -> Iterator[str]:
    """A fresh database on the test PostgreSQL, migrated to head, dropped afterwards."""
    require_postgres(why)
    url = create_pg_database(prefix)
    try:
        migrate(url)
        yield url
    finally:
        drop_pg_database(url)


def _backends() -> list[Any]:
    pg = pytest.param("postgresql", marks=pytest.mark.postgres)
    return ["sqlite", pg]


@pytest.fixture(scope="session", params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database per backend for the whole session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "quoted.db"
        url = f"sqlite+aiosqlite:///{path}"
        migrate(url)
        yield url
        return
    if not _PG_OK:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required when CI=true but {TEST_DATABASE_URL!r} does not answer")
        pytest.skip("PostgreSQL is not reachable; integration tests ran on SQLite only")
    url = create_pg_database()
    try:
        migrate(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def db_backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": database_url,
            "storage_path": str(tmp_path / "files"),
            "jwt_secret": "test-secret-" + "x" * 40,
            "rate_limit_enabled": False,
            "db_pool_size": 5,
            "db_max_overflow": 5,
            "log_format": "json",
        }
        values.update(overrides)
        return load_settings(**values)

    return factory


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Any]]:
    """Build apps from settings and talk to them in-process (lifespan included)."""
    from contextlib import AsyncExitStack

    from backend.main import create_app

    async with AsyncExitStack() as stack:

        async def factory(settings: Settings, **client_kwargs: Any) -> httpx.AsyncClient:
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False,
                                            client=("203.0.113.7", 50000))
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver", **client_kwargs)
            await stack.enter_async_context(client)
            client.app = app  # type: ignore[attr-defined]
            return client

        yield factory


@pytest.fixture
async def client(make_client: Callable[..., Any], settings: Settings) -> httpx.AsyncClient:
    return await make_client(settings)  # type: ignore[no-any-return]
