"""INFRA-004: the shared cache — cache-aside reads, invalidation in every worker, Redis outages.

Runs "with Redis" (TEST_REDIS_URL) and "without Redis" (in-process) via the ``store`` fixture.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from backend.services.cache_service import Cache, redis_client
from tests.helpers import register
from tests.support.redis_server import PrivateRedis, free_port
from tests.support.stores import (  # noqa: F401 - fixtures
    IN_CI,
    TEST_REDIS_URL,
    SqlCounter,
    _redis_ok,
    client_for,
    drop_prefix,
    private_redis,
    store,
)

MakeClient = Callable[..., Any]


# -- the Cache object itself ----------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> Any:
    prefix = f"quoted:test:{uuid.uuid4().hex[:10]}:"
    if request.param == "memory":
        yield Cache(prefix=prefix)
        return
    if not await _redis_ok(TEST_REDIS_URL):
        if IN_CI:
            pytest.fail(f"Redis is required when CI=true but {TEST_REDIS_URL!r} does not answer")
        pytest.skip("Redis is not reachable")
    instance = Cache(redis_client(TEST_REDIS_URL), prefix=prefix)
    yield instance
    await instance.close()
    await drop_prefix(TEST_REDIS_URL, prefix)


async def test_cache_round_trips_json_and_counts_hits_and_misses(cache: Cache) -> None:
    assert await cache.get("a") is None
    await cache.set("a", {"x": 1, "items": ["b", None]}, ttl=60)
    assert await cache.get("a") == {"x": 1, "items": ["b", None]}
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


async def test_entries_expire_after_their_ttl(cache: Cache) -> None:
    await cache.set("short", 1, ttl=0.05)
    await asyncio.sleep(0.1)
    assert await cache.get("short") is None


async def test_delete_leaves_a_tombstone_that_refuses_stale_fills(cache: Cache) -> None:
    await cache.set("row", {"v": 1}, ttl=60)
    await cache.delete("row")
    assert await cache.get("row") is None
    # A reader that loaded the old row before the write committed tries to put it back: refused.
    await cache.fill("row", {"v": 1}, ttl=60)
    assert await cache.get("row") is None
    cache.tombstone_seconds = 0.05
    await cache.delete("row")
    await asyncio.sleep(0.1)
    await cache.fill("row", {"v": 2}, ttl=60)
    assert await cache.get("row") == {"v": 2}


async def test_invalidate_pattern_removes_only_matching_keys(cache: Cache) -> None:
    for i in range(30):
        await cache.set(f"pricing:{i}:categories", [i], ttl=60)
    await cache.set("contractor:1", {"keep": True}, ttl=60)
    assert await cache.invalidate_pattern("pricing:*") == 30
    assert await cache.get("pricing:3:categories") is None
    assert await cache.get("contractor:1") == {"keep": True}


async def test_a_dead_redis_is_a_miss_that_costs_microseconds() -> None:
    cache = Cache(redis_client(f"redis://127.0.0.1:{free_port()}/0"), failure_backoff=30)
    started = time.perf_counter()
    assert await cache.get("k") is None  # the first call finds out (connection refused)
    await cache.set("k", 1, ttl=10)
    await cache.delete("k")
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(1000):
        assert await cache.get("k") is None
    per_call = (time.perf_counter() - started) / 1000
    await cache.close()
    assert first < 1.0
    assert per_call < 0.002, f"{per_call * 1e6:.0f} µs per call while Redis is down"  # a timeout would be 250 ms
    assert cache.stats.errors == 1 and cache.stats.skipped >= 1000
    assert cache.stats.misses == 1001


# -- cache-aside through the API --------------------------------------------------------


async def delivered(worker: httpx.AsyncClient) -> None:
    """Let ``worker``'s invalidation subscriber run: the other "worker" shares this event loop, and
    pub/sub delivery to another process is asynchronous too (milliseconds; near_cache.py)."""
    near = worker.app.state.cache.near  # type: ignore[attr-defined]
    seen = near.invalidations
    deadline = time.monotonic() + 2
    while near.enabled and near.invalidations == seen and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


async def test_me_twice_reads_the_contractor_from_the_database_once(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(make_settings(**store))
    account = await register(client)
    sql = SqlCounter(client.app)  # type: ignore[attr-defined]
    try:
        for _ in range(2):
            response = await client.get("/api/contractors/me", headers=account.headers)
            assert response.status_code == 200
            assert response.json()["business_name"] == "Acme Plumbing"
        assert sql.count("contractors") == 1
        # The same cached contractor serves the token check of every other authenticated route.
        sql.reset()
        assert (await client.get("/api/customers", headers=account.headers)).status_code == 200
        assert (await client.get("/api/auth/me", headers=account.headers)).status_code == 200
        assert sql.count("contractors") == 0
    finally:
        sql.close()
    stats = client.app.state.cache.stats  # type: ignore[attr-defined]
    assert stats.hits >= 3 and stats.misses >= 1


async def test_profile_and_terms_changes_are_seen_at_once_by_every_worker(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    if not store["redis_url"]:
        pytest.skip("two workers share a cache only through Redis")
    settings = make_settings(**store)
    worker_a: httpx.AsyncClient = await make_client(settings)
    worker_b: httpx.AsyncClient = await make_client(settings)
    account = await register(worker_a)
    for worker in (worker_a, worker_b):  # both have read (and cached) the old profile
        assert (await worker.get("/api/contractors/me", headers=account.headers)).json()["phone"] is None

    patched = await worker_a.patch("/api/contractors/me", json={"phone": "555-0100", "business_name": "New Name"},
                                   headers=account.headers)
    assert patched.status_code == 200, patched.text
    await delivered(worker_b)
    seen = (await worker_b.get("/api/contractors/me", headers=account.headers)).json()
    assert (seen["phone"], seen["business_name"]) == ("555-0100", "New Name")

    terms = {"terms_text": "Net 15", "deposit_percent": "25.00", "quote_valid_days": 14}
    assert (await worker_b.put("/api/contractors/me/terms", json=terms, headers=account.headers)).status_code == 200
    await delivered(worker_a)
    got = (await worker_a.get("/api/contractors/me/terms", headers=account.headers)).json()
    assert (got["terms_text"], got["quote_valid_days"]) == ("Net 15", 14)


async def test_patch_me_then_read_shows_the_change(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(make_settings(**store))
    account = await register(client)
    assert (await client.get("/api/contractors/me", headers=account.headers)).status_code == 200
    assert (await client.patch("/api/contractors/me", json={"tax_rate": "0.0825"},
                               headers=account.headers)).status_code == 200
    assert (await client.get("/api/contractors/me", headers=account.headers)).json()["tax_rate"] == "0.0825"


async def test_logout_all_kills_cached_access_tokens_in_every_worker(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    settings = make_settings(**store)
    worker_a: httpx.AsyncClient = await make_client(settings)
    worker_b = worker_a
    if store["redis_url"]:
        worker_b = await make_client(settings)
    account = await register(worker_a)
    for worker in (worker_a, worker_b):
        assert (await worker.get("/api/contractors/me", headers=account.headers)).status_code == 200
    assert (await worker_a.post("/api/auth/logout-all", headers=account.headers)).status_code == 204
    await delivered(worker_b)
    response = await worker_b.get("/api/contractors/me", headers=account.headers)
    assert response.status_code == 401 and response.json()["code"] == "token_invalid"


async def test_change_password_kills_cached_access_tokens(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(make_settings(**store))
    account = await register(client)
    assert (await client.get("/api/contractors/me", headers=account.headers)).status_code == 200
    changed = await client.post("/api/auth/change-password", headers=account.headers,
                                json={"current_password": account.password, "new_password": "another-long-pass"})
    assert changed.status_code == 204, changed.text
    assert (await client.get("/api/contractors/me", headers=account.headers)).status_code == 401


async def test_categories_are_cached_and_every_write_invalidates_them(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    settings = make_settings(**store)
    worker_a: httpx.AsyncClient = await make_client(settings)
    worker_b = await make_client(settings) if store["redis_url"] else worker_a
    account = await register(worker_a)
    sql = SqlCounter(worker_b.app)  # type: ignore[attr-defined]
    try:
        first = await worker_b.get("/api/pricing-brain/categories", headers=account.headers)
        second = await worker_b.get("/api/pricing-brain/categories", headers=account.headers)
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json() and first.json()["items"]
        assert sql.count("pricing_categories") == 1
    finally:
        sql.close()
    keys = {c["key"] for c in first.json()["items"]}

    body = {"display_name": "Gutters", "labor_rate": "80.00", "markup_percent": "15.00", "min_charge": "120.00",
            "unit_prices": {"gutter_ft": "9.5000"}, "notes": ""}
    put = await worker_a.put("/api/pricing-brain/categories/gutters", json=body, headers=account.headers)
    assert put.status_code == 201, put.text
    after_put = (await worker_b.get("/api/pricing-brain/categories", headers=account.headers)).json()["items"]
    assert {c["key"] for c in after_put} == keys | {"gutters"}
    gutters = next(c for c in after_put if c["key"] == "gutters")
    assert gutters == put.json()

    assert (await worker_a.delete("/api/pricing-brain/categories/gutters",
                                  headers=account.headers)).status_code == 204
    after_delete = (await worker_b.get("/api/pricing-brain/categories", headers=account.headers)).json()["items"]
    assert {c["key"] for c in after_delete} == keys


async def test_templates_are_served_from_the_cache(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(make_settings(**store))
    account = await register(client)
    first = await client.get("/api/pricing-brain/templates", headers=account.headers)
    hits = client.app.state.cache.stats.hits  # type: ignore[attr-defined]
    second = await client.get("/api/pricing-brain/templates", headers=account.headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert {t["trade"] for t in first.json()["items"]} >= {"plumbing", "painting"}
    assert client.app.state.cache.stats.hits >= hits + 1  # type: ignore[attr-defined]


# -- Redis dies mid-test, then comes back ------------------------------------------------


async def test_requests_succeed_while_redis_is_down_and_the_cache_resumes_after(
    make_client: MakeClient, make_settings: Callable[..., Any], private_redis: PrivateRedis  # noqa: F811
) -> None:
    settings = make_settings(redis_url=private_redis.url, rate_limit_enabled=True,
                             rate_limit_authenticated="1000/minute", rate_limit_unauthenticated="1000/minute")
    client: httpx.AsyncClient = await make_client(settings)
    cache: Cache = client.app.state.cache  # type: ignore[attr-defined]
    cache.failure_backoff = 0.2
    client.app.state.rate_limiter.failure_backoff = 0.2  # type: ignore[attr-defined]
    account = await register(client)
    assert (await client.get("/api/contractors/me", headers=account.headers)).status_code == 200
    assert (await client.get("/api/contractors/me", headers=account.headers)).status_code == 200
    hits_before, near_before = cache.stats.hits, cache.stats.near_hits
    assert hits_before >= 1

    await asyncio.to_thread(private_redis.stop)
    misses_before = cache.stats.misses
    started = time.perf_counter()
    for path in ("/api/contractors/me", "/api/pricing-brain/categories", "/api/customers") * 10:
        response = await client.get(path, headers=account.headers)
        assert response.status_code == 200, response.text
        assert response.headers["x-ratelimit-limit"] == "1000"  # still limited, in process
    elapsed = time.perf_counter() - started
    assert cache.stats.misses >= misses_before + 28
    assert cache.stats.errors >= 1
    # Nothing was answered from Redis while it was down. This process's near cache may answer the first
    # request or two, until its subscriber reads the dead connection (near_cache.py), and is off after that.
    assert cache.stats.hits - cache.stats.near_hits == hits_before - near_before
    assert cache.stats.near_hits - near_before <= 2
    assert cache.near is not None and not cache.near.enabled
    assert elapsed < 10, f"30 requests took {elapsed:.1f}s with Redis down"

    await asyncio.to_thread(private_redis.start)  # same port, empty
    hits_before = cache.stats.hits
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and cache.stats.hits == hits_before:
        await asyncio.sleep(0.25)
        assert (await client.get("/api/contractors/me", headers=account.headers)).status_code == 200
    assert cache.stats.hits > hits_before, "the cache did not use Redis again after it came back"
