"""INFRA-002: the pooled PostgreSQL engine under exhaustion, restarts and outages.

Runs on PostgreSQL only (pools, pre-ping and max_connections have no SQLite
equivalent). The module overrides the session-wide, backend-parametrized
``database_url`` fixture with its own fresh PostgreSQL database, so the
shared ``make_settings`` / ``make_client`` fixtures build apps against it.
Restart and outage tests use a private server (tests/support/pg_instance.py):
the shared one is never stopped.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Query
from sqlalchemy import event, text

from backend.api.deps import SessionDep
from backend.services.database import _note_checkin, _ping_on_checkout, create_engine
from tests.conftest import (
    IN_CI,
    migrate,
    migrated_pg_database,
    require_postgres,
)
from tests.helpers import Account, assert_error, register
from tests.support.logs import LogLines, capture_logs
from tests.support.pg_instance import PgInstance, unavailable_reason

pytestmark = [pytest.mark.postgres]

MakeClient = Callable[..., Any]

# A route that always queries the database. (/api/contractors/me may be served
# from the contractor cache, so it can answer 200 with the database down.)
DB_BOUND = "/api/customers"


def _require_postgres() -> None:
    require_postgres("the connection-pool tests need it")


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """Overrides tests/conftest.py's parametrized fixture: one fresh PostgreSQL database for this module."""
    with migrated_pg_database("quoted_pool", "the connection-pool tests need it") as url:
        yield url


def _require_private_pg() -> None:
    _require_postgres()
    reason = unavailable_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"a private PostgreSQL server is required when CI=true: {reason}")
        pytest.skip(f"cannot start a private PostgreSQL server: {reason}")


@pytest.fixture(scope="module")
def _shared_private_pg() -> Iterator[PgInstance]:
    """One private PostgreSQL server for the module, with a migrated ``quoted`` database."""
    _require_private_pg()
    with PgInstance() as pg:
        migrate(pg.create_database("quoted"))
        yield pg


@pytest.fixture
def private_pg(_shared_private_pg: PgInstance) -> Iterator[PgInstance]:
    """The private server, running with default settings at the start and the end of each test."""
    pg = _shared_private_pg
    if pg.settings or not pg.is_running():
        if pg.is_running():
            pg.stop()
        pg.start(settings={})
    yield pg
    if pg.settings or not pg.is_running():
        if pg.is_running():
            pg.stop()
        pg.start(settings={})


def add_hold_route(app: FastAPI) -> None:
    """A test-only route that keeps one pooled connection busy for ``seconds``."""

    async def hold(session: SessionDep, seconds: float = Query(1.0, ge=0, le=10)) -> dict[str, float]:
        await session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
        return {"held": seconds}

    before = len(app.router.routes)
    app.add_api_route("/__test__/hold", hold, methods=["GET"], include_in_schema=False)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = added  # ahead of the frontend mount at "/"


def assert_unavailable(response: httpx.Response) -> None:
    assert_error(response, 503, "service_unavailable")
    retry_after = response.headers.get("retry-after")
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) > 0, response.headers


async def _settle(pool: Any, timeout: float = 5.0) -> None:
    """Wait until no pooled connection is checked out (background work such as the
    outbox dispatcher, woken by a registration, has finished with the pool)."""
    deadline = time.monotonic() + timeout
    while pool.checkedout() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert pool.checkedout() == 0, f"{pool.checkedout()} connections still checked out"


async def _timed_get(client: httpx.AsyncClient, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.get(path, **kwargs)
    return response, time.perf_counter() - started


# -- a. pool exhaustion ------------------------------------------------------------------------


async def test_pool_exhaustion_answers_503_with_retry_after_then_recovers(
    make_client: MakeClient, make_settings: Callable[..., Any]
) -> None:
    # The outbox dispatcher shares the pool: polling hourly, it keeps out of the counts below.
    settings = make_settings(db_pool_size=2, db_max_overflow=0, db_pool_timeout=0.5, outbox_poll_seconds=3600)
    client: httpx.AsyncClient = await make_client(settings)
    app: FastAPI = client.app  # type: ignore[attr-defined]
    pool = app.state.db.engine.pool
    add_hold_route(app)
    account = await register(client)
    assert (await client.get(DB_BOUND, headers=account.headers)).status_code == 200
    await _settle(pool)

    # 1. Real DB-bound requests while the test holds every pooled connection:
    #    each waits pool_timeout (0.5 s), then gets a 503, never a 500 or a hang.
    async with AsyncExitStack() as held:
        for _ in range(2):
            conn = await held.enter_async_context(app.state.db.engine.connect())
            await conn.execute(text("SELECT 1"))
        results = await asyncio.gather(
            *(_timed_get(client, "/api/customers", headers=account.headers) for _ in range(20))
        )
        statuses = [r.status_code for r, _ in results]
        assert statuses == [503] * 20, statuses
        for response, elapsed in results:
            assert_unavailable(response)
            assert 0.45 <= elapsed < 3, f"a request waited {elapsed:.2f}s for a pool of timeout 0.5s"

    # 2. Connections released: normal service again.
    me = await client.get("/api/auth/me", headers=account.headers)
    assert me.status_code == 200, me.text
    assert me.json()["id"] == account.id
    assert (await client.get(DB_BOUND, headers=account.headers)).status_code == 200

    # 3. More concurrent clients than pool_size + max_overflow, each holding its
    #    connection longer than pool_timeout: two are served, the rest get 503.
    await _settle(pool)
    results = await asyncio.gather(*(_timed_get(client, "/__test__/hold?seconds=1") for _ in range(10)))
    statuses = sorted(r.status_code for r, _ in results)
    assert 500 not in statuses and all(s in (200, 503) for s in statuses), statuses
    assert statuses.count(200) == 2 and statuses.count(503) == 8, statuses
    for response, elapsed in results:
        if response.status_code == 503:
            assert_unavailable(response)
            assert elapsed < 3

    # 4. And recovered once they are done.
    me = await client.get("/api/auth/me", headers=account.headers)
    assert me.status_code == 200, me.text
    assert (await client.get(DB_BOUND, headers=account.headers)).status_code == 200
    await _settle(pool)  # nothing leaked: every connection came back


# -- b. pool settings ----------------------------------------------------------------------------


async def test_pool_settings_are_applied(make_client: MakeClient, make_settings: Callable[..., Any]) -> None:
    settings = make_settings(db_pool_size=7, db_max_overflow=3, db_pool_timeout=4.5, db_pool_recycle=900,
                             outbox_poll_seconds=3600)
    client: httpx.AsyncClient = await make_client(settings)
    engine = client.app.state.db.engine  # type: ignore[attr-defined]
    pool = engine.pool
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg"
    assert pool.size() == 7
    assert pool._max_overflow == 3
    assert pool.timeout() == 4.5
    assert pool._recycle == 900
    # Connections are pinged on checkout in one round trip (SQLAlchemy's pre-ping takes three);
    # behind PgBouncer SQLAlchemy's own pre-ping, whose transaction transaction pooling needs.
    assert pool._pre_ping is False and event.contains(engine.sync_engine, "checkout", _ping_on_checkout)
    # The hot connection comes back first, and its return time is what lets it skip the ping.
    assert pool._pool.use_lifo is True and event.contains(engine.sync_engine, "checkin", _note_checkin)
    bouncer = create_engine(make_settings(db_pgbouncer=True))
    assert bouncer.pool._pre_ping is True  # type: ignore[attr-defined]
    assert not event.contains(bouncer.sync_engine, "checkout", _ping_on_checkout)
    await bouncer.dispose()

    # More concurrent requests (15) than size + overflow (10): the extra ones queue
    # briefly (well within pool_timeout), all are served, every connection comes back.
    account = await register(client)
    responses = await asyncio.gather(*(client.get("/api/customers", headers=account.headers) for _ in range(15)))
    assert [r.status_code for r in responses] == [200] * 15
    await _settle(pool)


# -- c. PostgreSQL restart and outage -------------------------------------------------------------


async def _get_until_ok(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None, attempts: int = 6
) -> list[int]:
    statuses: list[int] = []
    for _ in range(attempts):
        response, elapsed = await _timed_get(client, path, headers=headers)
        statuses.append(response.status_code)
        assert elapsed < 8, f"{path} took {elapsed:.1f}s"
        if response.status_code == 503:
            assert_unavailable(response)
        if response.status_code == 200:
            break
        await asyncio.sleep(0.2)
    return statuses


async def _restart_under_traffic(
    pg: PgInstance, client: httpx.AsyncClient, account: Account, mode: str
) -> list[tuple[int, float]]:
    """Restart the server while a client keeps requesting; every answer is 200 or 503, none hangs."""
    seen: list[tuple[int, float]] = []
    done = asyncio.Event()

    async def traffic() -> None:
        while not done.is_set():
            response, elapsed = await _timed_get(client, DB_BOUND, headers=account.headers)
            seen.append((response.status_code, elapsed))
            if response.status_code == 503:
                assert_unavailable(response)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(traffic())
    try:
        await asyncio.to_thread(pg.restart, mode)
    finally:
        done.set()
        await task
    return seen


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_postgres_restart_is_survived_thanks_to_the_checkout_ping(
    mode: str, private_pg: PgInstance, make_client: MakeClient, make_settings: Callable[..., Any]
) -> None:
    settings = make_settings(
        database_url=private_pg.url_for("quoted"), db_pool_size=3, db_max_overflow=2, db_pool_timeout=2
    )
    client: httpx.AsyncClient = await make_client(settings)
    pool = client.app.state.db.engine.pool  # type: ignore[attr-defined]
    account: Account = await register(client)
    # Warm the pool so several idle connections exist that the restart kills.
    assert (await client.get("/api/contractors/me", headers=account.headers)).status_code == 200
    warm = await asyncio.gather(*(client.get(DB_BOUND, headers=account.headers) for _ in range(3)))
    assert [r.status_code for r in warm] == [200] * 3
    assert pool.checkedin() >= 2

    # 1. A quiet restart: the very next request on the same app (no rebuild)
    #    succeeds, because the checkout ping replaces the pooled connections the
    #    restart killed. (Without it it is a 503: the dead connection is only
    #    discovered by the query itself.)
    await asyncio.to_thread(private_pg.restart, mode)
    first = await client.get(DB_BOUND, headers=account.headers)
    assert first.status_code == 200, first.text
    for _ in range(5):  # every stale pooled connection is replaced on checkout
        response = await client.get(DB_BOUND, headers=account.headers)
        assert response.status_code == 200, response.text
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text

    # 2. A restart under traffic: requests in the window may be refused with a
    #    503 (never a 500, never a hang); the first one after it succeeds.
    seen = await _restart_under_traffic(private_pg, client, account, mode)
    statuses = [status for status, _ in seen]
    assert set(statuses) <= {200, 503}, statuses
    assert max(elapsed for _, elapsed in seen) < 8, seen
    statuses = await _get_until_ok(client, DB_BOUND, account.headers)
    assert statuses[-1] == 200 and statuses.count(503) <= 1, statuses
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text


async def test_postgres_down_is_503_not_500_nor_a_hang(
    private_pg: PgInstance, make_client: MakeClient, make_settings: Callable[..., Any]
) -> None:
    settings = make_settings(database_url=private_pg.url_for("quoted"), db_pool_size=2, db_max_overflow=1,
                             db_pool_timeout=2)
    client: httpx.AsyncClient = await make_client(settings)
    account: Account = await register(client)
    assert (await client.get("/api/contractors/me", headers=account.headers)).status_code == 200

    await asyncio.to_thread(private_pg.stop, "fast")

    live, elapsed = await _timed_get(client, "/health/live")
    assert live.status_code == 200 and elapsed < 1

    ready, elapsed = await _timed_get(client, "/health/ready")
    assert ready.status_code == 503, ready.text
    assert elapsed < 2, f"/health/ready took {elapsed:.2f}s with the database down"
    assert ready.headers.get("retry-after")
    assert ready.json()["checks"]["database"]["status"] == "down"

    for path in (DB_BOUND, "/api/quotes"):
        response, elapsed = await _timed_get(client, path, headers=account.headers)
        assert_unavailable(response)
        assert elapsed < 8, f"{path} took {elapsed:.1f}s with the database down"

    # Back up: the same app recovers without a rebuild.
    await asyncio.to_thread(private_pg.start)
    statuses = await _get_until_ok(client, DB_BOUND, account.headers)
    assert 500 not in statuses and statuses[-1] == 200 and statuses.count(503) <= 1, statuses
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text


class RefusingPostgres:
    """A TCP server on 127.0.0.1 that refuses every PostgreSQL start-up the way a real server does.

    It answers the SSL request with "N" and the start-up message with a FATAL
    ErrorResponse carrying ``sqlstate``: byte for byte what a server that is
    starting up, in recovery or out of connection slots sends. (A real server
    is only in those states for a moment; this one stays there.)
    """

    SSL_REQUEST = 80877103
    GSSENC_REQUEST = 80877104

    def __init__(self, sqlstate: str, message: str) -> None:
        self.sqlstate = sqlstate
        self.message = message
        self.refused = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                length = int.from_bytes(await reader.readexactly(4), "big")
                body = await reader.readexactly(length - 4)
                code = int.from_bytes(body[:4], "big")
                if code in (self.SSL_REQUEST, self.GSSENC_REQUEST):
                    writer.write(b"N")
                    await writer.drain()
                    continue
                fields = (b"SFATAL\0VFATAL\0C" + self.sqlstate.encode() + b"\0M" + self.message.encode()
                          + b"\0\0")
                writer.write(b"E" + (len(fields) + 4).to_bytes(4, "big") + fields)
                await writer.drain()
                self.refused += 1
                return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/quoted"
        finally:
            server.close()
            await server.wait_closed()


@pytest.mark.parametrize(
    ("sqlstate", "message"),
    [
        ("57P03", "the database system is starting up"),
        ("57P03", "the database system is not yet accepting connections"),
        ("57P03", "the database system is in recovery mode"),
        ("53300", "sorry, too many clients already"),
    ],
)
async def test_server_refusing_connections_is_503_not_500(
    sqlstate: str, message: str, make_client: MakeClient, make_settings: Callable[..., Any]
) -> None:
    """What a restarting or saturated server answers at connect time is an outage (503), not a bug (500)."""
    refusing = RefusingPostgres(sqlstate, message)
    async with refusing.running() as url:
        client: httpx.AsyncClient = await make_client(make_settings(database_url=url, db_pool_timeout=2))
        response, elapsed = await _timed_get(client, "/health/live")
        assert response.status_code == 200
        login = await client.post("/api/auth/login", json={"email": "a@example.com", "password": "x" * 12})
        assert refusing.refused >= 1, "the app never tried to connect"
        assert_unavailable(login)
        ready = await client.get("/health/ready")
        assert ready.status_code == 503


async def test_too_many_clients_at_the_server_is_503_not_500(
    private_pg: PgInstance, make_client: MakeClient, make_settings: Callable[..., Any]
) -> None:
    """More clients than the server's max_connections (what the budget warning is about) is a 503."""
    # Five client slots in all (the fixture restores the defaults afterwards).
    await asyncio.to_thread(private_pg.restart, "fast", {"max_connections": 5, "superuser_reserved_connections": 0})
    # A quiet outbox: its poll would otherwise take the one pooled connection between dispose and the GET.
    settings = make_settings(database_url=private_pg.url_for("quoted"), db_pool_size=1, db_max_overflow=0,
                             db_pool_timeout=2, outbox_poll_seconds=3600)
    client: httpx.AsyncClient = await make_client(settings)
    account: Account = await register(client)
    await asyncio.sleep(0.2)  # let the request's connection go back to the pool
    await client.app.state.db.engine.dispose()  # type: ignore[attr-defined]  # no idle pooled connection left
    gc.collect()  # a connection orphaned by dispose() is closed only when its old pool is collected

    dsn = private_pg.url_for("quoted").replace("postgresql+asyncpg://", "postgresql://")
    hogs = []
    try:
        # Fill every slot; a slot a background task held for a moment is taken once it frees up.
        refusals = 0
        while refusals < 3 and len(hogs) < 10:
            try:
                hogs.append(await asyncpg.connect(dsn, timeout=5))
                refusals = 0
            except asyncpg.TooManyConnectionsError:
                refusals += 1
                await asyncio.sleep(0.3)
        assert refusals == 3, "the private server accepted more clients than max_connections"
        response, elapsed = await _timed_get(client, DB_BOUND, headers=account.headers)
        assert_unavailable(response)
        assert elapsed < 8
    finally:
        for hog in hogs:
            await hog.close()

    statuses = await _get_until_ok(client, DB_BOUND, account.headers)
    assert statuses[-1] == 200, statuses


# -- d. the max_connections budget warning ---------------------------------------------------------


async def _max_connections(url: str) -> int:
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return int(await conn.fetchval("SHOW max_connections"))
    finally:
        await conn.close()


def _budget_warnings(logs: LogLines) -> list[dict[str, Any]]:
    found = logs.events("db.pool.exceeds_max_connections")
    assert all(event["level"] == "warning" for event in found)
    return found


async def test_connection_budget_warning_names_the_numbers(
    make_client: MakeClient, make_settings: Callable[..., Any], database_url: str,
) -> None:
    max_connections = await _max_connections(database_url)
    workers = 4
    # 4 × (60 + 60) = 480 exceeds PostgreSQL's default 100; grow it if this server allows more.
    per_side = max(60, max_connections // (2 * workers) + 1)
    settings = make_settings(db_pool_size=per_side, db_max_overflow=per_side, web_concurrency=workers,
                             redis_url="redis://127.0.0.1:6379/15")
    assert settings.workers == workers
    with capture_logs(logging.INFO) as logs:
        client: httpx.AsyncClient = await make_client(settings)
    db = client.app.state.db  # type: ignore[attr-defined]

    # The lifespan already checked it once at start-up.
    assert _budget_warnings(logs), "no start-up warning about the connection budget"

    with capture_logs(logging.INFO) as logs:
        assert await db.check_connection_budget(workers) is False
    warnings = _budget_warnings(logs)
    assert len(warnings) == 1, warnings
    warning = warnings[0]
    assert warning["workers"] == workers
    assert warning["per_worker"] == 2 * per_side
    assert warning["needed"] == workers * 2 * per_side
    assert warning["max_connections"] == max_connections
    assert "password" not in str(warning).lower()

    # A budget that fits says nothing.
    fitting = make_settings(db_pool_size=5, db_max_overflow=5, web_concurrency=workers,
                            redis_url="redis://127.0.0.1:6379/15")
    with capture_logs(logging.INFO) as logs:
        fitting_client: httpx.AsyncClient = await make_client(fitting)
        assert await fitting_client.app.state.db.check_connection_budget(workers) is True  # type: ignore[attr-defined]
    assert _budget_warnings(logs) == []


async def test_quote_list_on_a_connection_the_server_killed_is_503_then_recovers(
    make_client: MakeClient, make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list page reads through asyncpg itself (quote_service._fetch_page): a dead connection must still
    be a 503 and be dropped from the pool, as on the SQLAlchemy path."""
    _require_postgres()
    import backend.services.database as database

    monkeypatch.setattr(database, "PING_BYPASS_SECONDS", 3600.0)  # no checkout ping: the query finds it dead
    client: httpx.AsyncClient = await make_client(make_settings(db_pool_size=1, db_max_overflow=0))
    account: Account = await register(client)
    assert (await client.get("/api/quotes", headers=account.headers)).status_code == 200

    admin = await asyncpg.connect(str(client.app.state.db.engine.url.set(drivername="postgresql")))  # type: ignore[attr-defined]
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'quoted' AND pid <> pg_backend_pid()")
    finally:
        await admin.close()
    assert killed >= 1

    assert_error(await client.get("/api/quotes", headers=account.headers), 503, "service_unavailable")
    recovered = await client.get("/api/quotes", headers=account.headers)  # a new connection, not the dead one
    assert recovered.status_code == 200, recovered.text
    assert recovered.json() == {"items": [], "next_cursor": None}
