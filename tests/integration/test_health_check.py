"""INFRA-007: /health/live and /health/ready with every dependency up, down, hanging and back."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.config import Settings, load_settings
from backend.main import create_app
from tests.conftest import IN_CI
from tests.support.pg_instance import PgInstance, unavailable_reason
from tests.support.redis_server import PrivateRedis

Factory = Callable[..., Any]
CHECKS = {"database", "redis", "storage", "settings", "circuit_breakers"}


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (a stalled dependency)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def base_settings(tmp_path: Path) -> Factory:
    """Settings for apps whose database is not the suite's (a private or dead server)."""

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test", "database_url": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
            "storage_path": str(tmp_path / "files"), "jwt_secret": "test-secret-" + "x" * 40,
            "rate_limit_enabled": False, "log_format": "json", "outbox_poll_seconds": 60,
            "db_pool_timeout": 1,
        }
        values.update(overrides)
        return load_settings(**values)

    return factory


@pytest.fixture
async def app_client() -> AsyncIterator[Factory]:
    async with AsyncExitStack() as stack:

        async def factory(settings: Settings) -> httpx.AsyncClient:
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                       base_url="http://testserver")
            await stack.enter_async_context(client)
            client.app = app  # type: ignore[attr-defined]
            return client

        yield factory


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.get(path)
    return response, time.perf_counter() - started


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PgInstance]:
    reason = unavailable_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"a private PostgreSQL server is required when CI=true: {reason}")
        pytest.skip(f"cannot start a private PostgreSQL server: {reason}")
    with PgInstance() as pg:
        yield pg


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_ready_reports_every_check_with_latency_and_nothing_secret(client: httpx.AsyncClient,
                                                                        settings: Settings) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == CHECKS
    for name, check in body["checks"].items():
        assert isinstance(check["latency_ms"], int | float), name
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "not_configured"
    assert set(body["checks"]["circuit_breakers"]["states"]) == {"claude", "openai", "stripe", "resend", "slack"}
    text = response.text.lower()
    for leak in ("127.0.0.1", "localhost", "sqlite", "postgres", "redis://", "test-secret", "version"):
        assert leak not in text, leak
    live = await client.get("/health/live")
    assert live.status_code == 200 and live.json() == {"status": "ok"}


async def test_database_down_is_503_within_2s_and_recovers_while_live_stays_200(
    private_pg: PgInstance, base_settings: Factory, app_client: Factory
) -> None:
    client = await app_client(base_settings(database_url=private_pg.url))
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text

    await asyncio.to_thread(private_pg.stop, "fast")
    try:
        ready, elapsed = await timed_get(client, "/health/ready")
        assert ready.status_code == 503, ready.text
        assert elapsed < 2, f"/health/ready took {elapsed:.2f}s with the database down"
        assert ready.headers.get("retry-after")
        body = ready.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"]["status"] == "down"
        assert "database" in body["down"]
        live, elapsed = await timed_get(client, "/health/live")
        assert live.status_code == 200 and elapsed < 1
    finally:
        await asyncio.to_thread(private_pg.start)

    for _ in range(20):  # recovers by itself: the pool replaces dead connections
        ready = await client.get("/health/ready")
        if ready.status_code == 200:
            break
        await asyncio.sleep(0.25)
    assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.text
    assert (await client.get("/health/live")).status_code == 200


async def test_dead_database_port_is_503_within_2s(base_settings: Factory, app_client: Factory) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/postgres"
    client = await app_client(base_settings(database_url=url))
    ready, elapsed = await timed_get(client, "/health/ready")
    assert ready.status_code == 503 and elapsed < 2, (ready.text, elapsed)
    assert ready.json()["checks"]["database"]["status"] == "down"
    assert "127.0.0.1" not in ready.text
    assert (await client.get("/health/live")).status_code == 200


async def test_redis_down_is_degraded_then_recovers(
    private_redis: PrivateRedis, base_settings: Factory, app_client: Factory
) -> None:
    client = await app_client(base_settings(redis_url=private_redis.url))

    async def until_near_cache(state: str) -> httpx.Response:
        for _ in range(40):  # the subscriber (re)subscribes in the background, retrying every second
            ready = await client.get("/health/ready")
            if ready.json()["status"] == "ok" and ready.json()["checks"]["redis"].get("near_cache") == state:
                break
            await asyncio.sleep(0.25)
        return ready

    ready = await until_near_cache("subscribed")
    assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.text
    assert ready.json()["checks"]["redis"]["status"] == "ok"
    assert ready.json()["checks"]["redis"]["near_cache"] == "subscribed", ready.text

    await asyncio.to_thread(private_redis.stop)
    ready, elapsed = await timed_get(client, "/health/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "degraded" and body["checks"]["redis"]["status"] == "down"
    assert body["down"] == ["redis"]
    assert elapsed < 1.5
    assert (await client.get("/health/live")).status_code == 200
    for _ in range(20):  # the subscriber notices the dropped connection on its next read
        if (await client.get("/health/ready")).json()["checks"]["redis"]["near_cache"] == "off":
            break
        await asyncio.sleep(0.25)
    assert (await client.get("/health/ready")).json()["checks"]["redis"]["near_cache"] == "off"

    await asyncio.to_thread(private_redis.start)  # same port
    ready = await until_near_cache("subscribed")
    assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.text
    assert ready.json()["checks"]["redis"]["near_cache"] == "subscribed", ready.text


async def test_hanging_redis_still_gets_an_answer_within_a_second(base_settings: Factory,
                                                                   app_client: Factory) -> None:
    hanging = HangingServer()
    try:
        client = await app_client(base_settings(redis_url=f"redis://127.0.0.1:{hanging.port}/0"))
        for _ in range(3):
            ready, elapsed = await timed_get(client, "/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["redis"]["status"] == "down"
            assert elapsed < 1.0, f"/health/ready took {elapsed:.2f}s with a hanging Redis"
    finally:
        hanging.close()


async def test_open_vendor_breaker_makes_readiness_degraded(client: httpx.AsyncClient) -> None:
    from backend.services.retry import VendorTransientError

    breaker = client.app.state.vendors.breakers["resend"]  # type: ignore[attr-defined]

    async def failing() -> None:
        raise VendorTransientError("resend", "down", status=503)

    for _ in range(5):
        with pytest.raises(Exception):  # noqa: B017 - transient errors, then the breaker's own refusal
            await breaker.guard(failing)
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["checks"]["circuit_breakers"]["states"]["resend"] == "open"
    assert "resend breaker" in body["down"]
