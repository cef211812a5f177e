"""Fixtures for tests that run "with Redis" and "without Redis (in-process)".

``store`` is parametrized: ``memory`` (REDIS_URL empty) and ``redis`` (TEST_REDIS_URL,
db 15 by default). Each test gets its own key prefixes for the cache and the rate
limiter, and its keys are removed afterwards — never FLUSHDB, Redis is shared.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from backend.services import cache_service, rate_limit
from tests.support.redis_server import PrivateRedis

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"


async def _redis_ok(url: str) -> bool:
    client = cache_service.redis_client(url, timeout=0.5)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


def _redis_available() -> bool:
    return asyncio.run(_redis_ok(TEST_REDIS_URL))


_REDIS_OK = _redis_available()


async def drop_prefix(url: str, prefix: str) -> None:
    client = cache_service.redis_client(url, timeout=1)
    try:
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await client.unlink(*keys)
    except Exception:
        pass
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    """Settings overrides selecting the store, with per-test key prefixes."""
    tag = uuid.uuid4().hex[:10]
    cache_prefix = f"quoted:test:{tag}:"
    limit_prefix = f"quoted:test:{tag}:rl"
    monkeypatch.setattr(cache_service, "KEY_PREFIX", cache_prefix)
    monkeypatch.setattr(rate_limit, "KEY_PREFIX", limit_prefix)
    if request.param == "memory":
        yield {"redis_url": ""}
        return
    if not _REDIS_OK:
        if IN_CI:
            pytest.fail(f"Redis is required when CI=true but {TEST_REDIS_URL!r} does not answer")
        pytest.skip("Redis is not reachable; ran in-process only")
    yield {"redis_url": TEST_REDIS_URL}
    await drop_prefix(TEST_REDIS_URL, f"quoted:test:{tag}:")


@pytest.fixture
def private_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRedis]:
    tag = uuid.uuid4().hex[:10]
    monkeypatch.setattr(cache_service, "KEY_PREFIX", f"quoted:test:{tag}:")
    monkeypatch.setattr(rate_limit, "KEY_PREFIX", f"quoted:test:{tag}:rl")
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def client_for(app: Any, ip: str = "203.0.113.7", port: int = 50000) -> httpx.AsyncClient:
    """Another client on an already started app, from another peer address. Close it after use."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, port))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class SqlCounter:
    """Counts SQL statements on an app's engine (optionally only those mentioning ``table``)."""

    def __init__(self, app: Any) -> None:
        self.statements: list[str] = []
        self.engine = app.state.db.engine.sync_engine
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def count(self, table: str) -> int:
        return sum(1 for s in self.statements if f"FROM {table}" in s or f"from {table}" in s)

    def reset(self) -> None:
        self.statements.clear()

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)
