"""The database engine and sessions (INFRA-002).

PostgreSQL gets a pooled engine sized from settings whose connections are
pinged on checkout (a connection killed by a database restart is replaced,
not handed out);
SQLite (the embedded default) gets WAL mode and foreign keys. A session is
one unit of work: the request's session is committed by the session
dependency *before* the response is sent (see backend/api/deps.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, InvalidatePoolError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from backend.config import Settings
from backend.core.errors import ServiceUnavailable
from backend.core.logging import get_logger

log = get_logger(__name__)

# Seconds a new PostgreSQL connection may take before we give up: a dead
# database should cost a request a few seconds, not the driver's default minute.
CONNECT_TIMEOUT_SECONDS = 5


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin,
    # so SAVEPOINTs work (SQLAlchemy's documented recipe for pysqlite/aiosqlite).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: concurrent writers queue on
    # busy_timeout instead of failing with "database is locked" when a read
    # transaction tries to upgrade. SQLite has one writer anyway.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in str(url)
        kwargs: dict[str, Any] = {"connect_args": {"timeout": 30}}
        if in_memory:
            # pool_size is refused for in-memory SQLite: one shared connection instead.
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"]["check_same_thread"] = False
        else:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine

    connect_args: dict[str, Any] = {
        "timeout": CONNECT_TIMEOUT_SECONDS,
        "server_settings": {"application_name": "quoted"},
    }
    if settings.db_pgbouncer:
        # PgBouncer in transaction mode cannot keep prepared statements.
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = lambda: f"__asyncpg_{uuid.uuid4()}__"
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        # Behind PgBouncer, SQLAlchemy's own pre-ping (its transaction is what transaction pooling needs);
        # on a direct connection, the one-round-trip ping below.
        pool_pre_ping=settings.db_pgbouncer,
        # The connection returned last is handed out first: under steady traffic one hot connection serves
        # request after request (and skips the ping below), the others go idle where pool_recycle and the
        # server's idle timeouts can retire them.
        pool_use_lifo=True,
        connect_args=connect_args,
    )
    if not settings.db_pgbouncer:
        event.listen(engine.sync_engine, "checkin", _note_checkin)
        event.listen(engine.sync_engine, "checkout", _ping_on_checkout)
    return engine


# A connection handed back less than this long ago is handed out again without a ping: it answered a moment
# ago, and a PostgreSQL restart takes longer than this (~0.2 s on a tiny test database, tests/support/
# pg_instance.py), so a restarted server's connections are always pinged. HikariCP's aliveBypassWindowMs
# (500 ms) is the same idea; the window is shorter here because the price of a miss is one 503.
PING_BYPASS_SECONDS = 0.1
_RETURNED_AT = "quoted_returned_at"


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


def _ping_on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """``pool_pre_ping`` in one round trip instead of three.

    SQLAlchemy's asyncpg ping wraps its ``;`` in BEGIN … ROLLBACK so that it works through PgBouncer's
    transaction mode (sqlalchemy#10226): three round trips before every request's first statement,
    0.3–0.4 ms of a 3 ms quote listing (bench/results/listing.md). A direct connection needs one
    simple-protocol ``SELECT 1`` (asyncpg's simple protocol chokes on a bare ``;``). A dead connection
    (the database restarted) raises ``InvalidatePoolError``: the pool drops every connection older than
    now and hands out a new one, as the pre-ping would. Skipped for a connection returned within
    ``PING_BYPASS_SECONDS`` (the hot connection of a busy worker: 0.2 ms of a 2.5 ms listing).
    """
    returned_at = record.info.get(_RETURNED_AT)
    if returned_at is not None and time.monotonic() - returned_at < PING_BYPASS_SECONDS:
        return
    try:
        dbapi_connection.run_async(lambda connection: connection.execute("SELECT 1"))
    except Exception as exc:  # whatever the driver raises, this connection is unusable
        raise InvalidatePoolError(f"pooled connection failed its ping: {type(exc).__name__}") from exc


class Database:
    """Owns the engine and the session factory for one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def log_pool_settings(self) -> None:
        url = self.engine.url
        if self.dialect == "sqlite":
            log.info("db.engine", backend="sqlite", database=url.database)
            return
        log.info(
            "db.engine",
            backend=self.dialect,
            host=url.host,
            database=url.database,
            pool_size=self.settings.db_pool_size,
            max_overflow=self.settings.db_max_overflow,
            pool_timeout=self.settings.db_pool_timeout,
            pool_recycle=self.settings.db_pool_recycle,
            pgbouncer=self.settings.db_pgbouncer,
        )

    async def check_connection_budget(self, workers: int) -> bool:
        """Warn when workers × (pool + overflow) exceeds max_connections; True if it fits."""
        if self.dialect != "postgresql":
            return True
        async with self.engine.connect() as conn:
            max_connections = int((await conn.execute(text("SHOW max_connections"))).scalar_one())
        per_worker = self.settings.db_pool_size + self.settings.db_max_overflow
        needed = workers * per_worker
        if needed > max_connections:
            log.warning(
                "db.pool.exceeds_max_connections",
                workers=workers,
                per_worker=per_worker,
                needed=needed,
                max_connections=max_connections,
                hint="lower DB_POOL_SIZE/DB_MAX_OVERFLOW or WEB_CONCURRENCY, or put PgBouncer in front",
            )
            return False
        return True

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work for background jobs: committed on success, rolled back on error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()


# SQLSTATEs meaning "the server cannot take this connection right now": class 08
# (connection exception), 57P01 admin_shutdown, 57P02 crash_shutdown,
# 57P03 cannot_connect_now (starting up / recovery), 53300 too_many_connections.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def _sqlstate(error: BaseException) -> str | None:
    for candidate in (getattr(error, "orig", None), error, error.__cause__):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_database_unavailable(error: BaseException) -> bool:
    """True for errors that mean "the database is down or saturated", not a bug."""
    code = _sqlstate(error)
    if code and (code.startswith("08") or code in _UNAVAILABLE_SQLSTATES):
        return True
    if isinstance(error, PoolTimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, OperationalError | InterfaceError):
        text_ = str(error.orig if getattr(error, "orig", None) else error).lower()
        return any(
            marker in text_
            for marker in ("connect", "connection", "terminat", "shutting down", "timeout", "closed")
        )
    return type(error).__module__.startswith("asyncpg") and "Connection" in type(error).__name__


def unavailable_error(error: BaseException) -> ServiceUnavailable:
    if isinstance(error, PoolTimeoutError):
        return ServiceUnavailable("The server is busy right now; try again in a few seconds.", retry_after=2)
    return ServiceUnavailable("The database is unavailable right now; try again in a few seconds.", retry_after=5)
