"""SEC-004: per-user rate limits — real budgets by count, keys, headers, sharing, Redis outages.

Runs "with Redis" (TEST_REDIS_URL) and "without Redis" (in-process) via the ``store`` fixture.
The SPEC budgets are per minute and are tested by count; short windows only test window movement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from backend.api.middleware import ClientAddress
from tests.helpers import PASSWORD, assert_error, register
from tests.support.redis_server import PrivateRedis
from tests.support.stores import client_for, private_redis, store  # noqa: F401 - fixtures

MakeClient = Callable[..., Any]
HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def _limited(make_settings: Callable[..., Any], store: dict[str, Any], **overrides: Any) -> Any:  # noqa: F811
    return make_settings(rate_limit_enabled=True, **store, **overrides)


def assert_429(response: httpx.Response, limit: int) -> None:
    body = assert_error(response, 429, "rate_limited")
    assert "try again in" in body["detail"].lower()
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["x-ratelimit-reset"]) >= int(time.time())
    assert response.headers["x-content-type-options"] == "nosniff"  # security headers on a 429 too


async def test_101st_authenticated_request_in_a_minute_is_429(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(_limited(make_settings, store))
    account = await register(client)
    paths = ("/api/contractors/me", "/api/customers", "/api/quotes", "/api/pricing-brain/categories")
    for i in range(100):  # one budget across the whole API, not per path
        response = await client.get(paths[i % len(paths)], headers=account.headers)
        assert response.status_code == 200, (i, response.text)
        assert all(h in response.headers for h in HEADERS)
        assert response.headers["x-ratelimit-limit"] == "100"
        assert response.headers["x-ratelimit-remaining"] == str(99 - i)
    assert_429(await client.get("/api/contractors/me", headers=account.headers), 100)


async def test_21st_unauthenticated_request_is_429_before_authentication_and_validation(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(_limited(make_settings, store))
    for i in range(20):
        path = "/api/customers" if i % 2 else "/api/quotes/not-a-uuid"
        response = await client.get(path, headers={"Authorization": "Bearer forged.token.value"} if i % 3 else {})
        assert response.status_code == 401, response.text
        assert response.headers["x-ratelimit-remaining"] == str(19 - i)
    assert_429(await client.get("/api/customers"), 20)
    # The limiter answers before validation (422) too.
    assert_429(await client.post("/api/auth/register", json={"email": "nope"}), 20)


async def test_11th_generation_is_429_and_also_counts_against_the_api_budget(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(_limited(make_settings, store))
    account = await register(client)
    for i in range(10):
        response = await client.post("/api/quotes/generate", headers=account.headers,
                                     json={"description": "replace the kitchen faucet"})
        assert response.status_code == 201, (i, response.text)
        assert response.headers["x-ratelimit-limit"] == "10"  # the tighter budget is reported
    assert_429(await client.post("/api/quotes/generate", headers=account.headers,
                                 json={"description": "replace the kitchen faucet"}), 10)
    assert_429(await client.post("/api/quotes/generate-from-audio", headers=account.headers,
                                 files={"audio": ("a.webm", b"x", "audio/webm")}), 10)
    other = await client.get("/api/contractors/me", headers=account.headers)
    assert other.status_code == 200
    # 11 accepted API requests so far (10 generations + this one); the refused generations
    # were refused by the generation budget after counting once against the API budget.
    assert int(other.headers["x-ratelimit-remaining"]) <= 100 - 11


async def test_contractors_behind_one_ip_have_their_own_budgets_and_one_contractor_shares_across_ips(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    settings = _limited(make_settings, store, rate_limit_authenticated="30/minute")
    office: httpx.AsyncClient = await make_client(settings)
    alice = await register(office)
    bob = await register(office)
    for _ in range(30):
        assert (await office.get("/api/contractors/me", headers=alice.headers)).status_code == 200
    assert_429(await office.get("/api/contractors/me", headers=alice.headers), 30)
    assert (await office.get("/api/contractors/me", headers=bob.headers)).status_code == 200

    phone = await client_for(office.app, ip="198.51.100.20")  # type: ignore[attr-defined]
    try:
        assert_429(await phone.get("/api/contractors/me", headers=alice.headers), 30)
        response = await phone.get("/api/contractors/me", headers=bob.headers)
        assert response.status_code == 200 and response.headers["x-ratelimit-remaining"] == "28"
    finally:
        await phone.aclose()


async def test_forged_x_forwarded_for_from_an_untrusted_peer_changes_nothing(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(_limited(make_settings, store))  # peer 203.0.113.7: untrusted
    for i in range(20):
        response = await client.get("/api/customers", headers={"X-Forwarded-For": f"10.0.0.{i}"})
        assert response.status_code == 401
    assert_429(await client.get("/api/customers", headers={"X-Forwarded-For": "10.9.9.9"}), 20)


async def test_x_forwarded_for_from_a_trusted_proxy_keys_by_the_rightmost_untrusted_address(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    settings = _limited(make_settings, store, trusted_proxy_ips=["10.0.0.0/8"])
    client: httpx.AsyncClient = await make_client(settings)
    proxy = await client_for(client.app, ip="10.1.2.3")  # type: ignore[attr-defined]
    try:
        # The client put a fake address in front; the edge (10.x) appended the real one.
        forged_chain = {"X-Forwarded-For": "1.2.3.4, 198.51.100.7, 10.4.4.4"}
        for _ in range(20):
            assert (await proxy.get("/api/customers", headers=forged_chain)).status_code == 401
        assert_429(await proxy.get("/api/customers", headers={"X-Forwarded-For": "9.9.9.9, 198.51.100.7"}), 20)
        other = await proxy.get("/api/customers", headers={"X-Forwarded-For": "198.51.100.8"})
        assert other.status_code == 401 and other.headers["x-ratelimit-remaining"] == "19"
    finally:
        await proxy.aclose()


def test_client_address_rules() -> None:
    addresses = ClientAddress(["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"])

    def of(peer: str, xff: str | None) -> str:
        headers = [(b"x-forwarded-for", xff.encode())] if xff is not None else []
        return addresses.of({"client": (peer, 1), "headers": headers})

    assert of("203.0.113.7", "1.1.1.1") == "203.0.113.7"  # untrusted peer: header ignored
    assert of("127.0.0.1", "1.1.1.1, 2.2.2.2") == "2.2.2.2"
    assert of("127.0.0.1", "1.1.1.1, 2.2.2.2, 10.0.0.5") == "2.2.2.2"  # skip trusted hops
    assert of("127.0.0.1", None) == "127.0.0.1"
    assert of("127.0.0.1", "10.0.0.1, 10.0.0.2") == "10.0.0.1"  # all trusted: the left-most
    assert of("127.0.0.1", "1.1.1.1, not-an-ip") == "127.0.0.1"  # garbage: the last trusted reporter
    assert of("2001:db8::1", "2606:4700::1") == "2606:4700::1"


async def test_login_is_limited_per_ip_and_per_email(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(_limited(make_settings, store))
    app = client.app  # type: ignore[attr-defined]
    # Per IP: 10 logins for different emails from one address; the 11th is refused.
    for i in range(10):
        response = await client.post("/api/auth/login", json={"email": f"x{i}@example.com", "password": "wrong-pass"})
        assert response.status_code == 401, response.text
    assert_429(await client.post("/api/auth/login", json={"email": "x99@example.com", "password": "p"}), 10)

    # Per email: 10 attempts on one account from 10 addresses; the 11th is refused even from a new one.
    register_from = await client_for(app, ip="198.51.100.50")
    account = await register(register_from)
    await register_from.aclose()
    for i in range(10):
        peer = await client_for(app, ip=f"198.51.100.{100 + i}")
        response = await peer.post("/api/auth/login", json={"email": account.email.upper(), "password": "wrong-pass"})
        await peer.aclose()
        assert response.status_code == 401, response.text
    last = await client_for(app, ip="198.51.100.99")
    try:
        assert_429(await last.post("/api/auth/login", json={"email": account.email, "password": PASSWORD}), 10)
        # The body was replayed intact to the app for an allowed login.
        fresh = await client_for(app, ip="198.51.100.98")
        other = await register(fresh)
        ok = await fresh.post("/api/auth/login", json={"email": other.email, "password": PASSWORD})
        await fresh.aclose()
        assert ok.status_code == 200, ok.text
    finally:
        await last.aclose()


async def test_health_webhook_and_frontend_are_never_limited(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(
        _limited(make_settings, store, rate_limit_unauthenticated="2/minute"))
    for _ in range(5):
        for path in ("/health", "/health/live", "/health/ready"):
            response = await client.get(path)
            assert response.status_code in (200, 503) and "x-ratelimit-limit" not in response.headers
        webhook = await client.post("/api/billing/webhook", content=b"{}", headers={"Stripe-Signature": "t=1,v1=x"})
        assert webhook.status_code != 429 and "x-ratelimit-limit" not in webhook.headers
        page = await client.get("/")
        assert page.status_code != 429 and "x-ratelimit-limit" not in page.headers


async def test_disabled_limits_do_not_limit_or_add_headers(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(make_settings(rate_limit_enabled=False, **store,
                                                                rate_limit_unauthenticated="1/minute"))
    for _ in range(3):
        response = await client.get("/api/customers")
        assert response.status_code == 401 and "x-ratelimit-limit" not in response.headers


async def test_the_window_moves_so_a_burst_across_a_boundary_cannot_double_the_budget(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    client: httpx.AsyncClient = await make_client(
        _limited(make_settings, store, rate_limit_unauthenticated="4/second"))
    # Burst late in a wall-clock second, then ask again just past the boundary, still within one
    # second of the burst: a fixed window would have reset there, a moving one has not. A loaded
    # machine can make the burst itself too slow to tell; then let the window drain and try again.
    for _ in range(5):
        await asyncio.sleep((0.6 - time.time() % 1) % 1)
        started = time.time()
        for _ in range(4):
            assert (await client.get("/api/customers")).status_code == 401
        await asyncio.sleep(max(0.0, (1.05 - time.time() % 1) % 1))  # just past the boundary
        if time.time() - started < 0.9:
            assert_429(await client.get("/api/customers"), 4)
            break
        await asyncio.sleep(1.2)
    else:
        pytest.fail("five bursts in a row took too long to test the window on this machine")
    await asyncio.sleep(1.05)  # a full window later the budget is back
    assert (await client.get("/api/customers")).status_code == 401


# -- shared counters and Redis outages -------------------------------------------------------


async def test_limits_are_shared_by_two_app_instances_on_one_redis(
    make_client: MakeClient, make_settings: Callable[..., Any], store: dict[str, Any]  # noqa: F811
) -> None:
    if not store["redis_url"]:
        pytest.skip("instances share limits only through Redis")
    settings = _limited(make_settings, store, rate_limit_authenticated="30/minute")
    worker_a: httpx.AsyncClient = await make_client(settings)
    worker_b: httpx.AsyncClient = await make_client(settings)
    account = await register(worker_a)
    statuses = []
    for i in range(60):
        worker = worker_a if i % 2 else worker_b
        statuses.append((await worker.get("/api/contractors/me", headers=account.headers)).status_code)
    assert statuses[:30] == [200] * 30 and statuses[30:] == [429] * 30


async def test_limits_fall_back_in_process_while_redis_is_down_and_resume_shared_after(
    make_client: MakeClient, make_settings: Callable[..., Any], private_redis: PrivateRedis  # noqa: F811
) -> None:
    settings = make_settings(rate_limit_enabled=True, redis_url=private_redis.url,
                             rate_limit_authenticated="30/minute")
    worker_a: httpx.AsyncClient = await make_client(settings)
    worker_b: httpx.AsyncClient = await make_client(settings)
    for worker in (worker_a, worker_b):
        worker.app.state.rate_limiter.failure_backoff = 0.2  # type: ignore[attr-defined]
    account = await register(worker_a)
    for _ in range(5):
        assert (await worker_a.get("/api/contractors/me", headers=account.headers)).status_code == 200

    await asyncio.to_thread(private_redis.stop)
    for i in range(20):  # requests never fail; each worker counts on its own meanwhile
        response = await (worker_a if i % 2 else worker_b).get("/api/contractors/me", headers=account.headers)
        assert response.status_code == 200, response.text
    limiter = worker_a.app.state.rate_limiter  # type: ignore[attr-defined]
    assert limiter.fallback_hits >= 10
    for _ in range(30):  # the in-process fallback still limits
        last = await worker_b.get("/api/contractors/me", headers=account.headers)
    assert_429(last, 30)

    await asyncio.to_thread(private_redis.start)  # empty again, same port
    await asyncio.sleep(0.3)
    statuses = []
    for i in range(40):
        worker = worker_a if i % 2 else worker_b
        statuses.append((await worker.get("/api/contractors/me", headers=account.headers)).status_code)
    # Once both workers are back on Redis, the 30/minute budget is shared again.
    assert statuses.count(200) <= 30 + 4, statuses
    assert statuses[-5:] == [429] * 5, statuses


async def test_the_moving_window_script_holds_exactly_the_window_in_redis() -> None:
    """The Lua script alone, with chosen clocks: count, oldest entry, refusal, and the list never
    holding more than the window (expired entries are popped, not searched past on every call)."""
    import redis.asyncio as aioredis

    from backend.services.rate_limit import _MOVING_WINDOW_LUA
    from tests.support.stores import _REDIS_OK, IN_CI, TEST_REDIS_URL

    if not _REDIS_OK:
        if IN_CI:
            pytest.fail(f"Redis is required when CI=true but {TEST_REDIS_URL!r} does not answer")
        pytest.skip("Redis is not reachable; the moving-window script runs in Redis")
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    key = f"quoted-test:window:{time.time_ns()}"
    script = client.register_script(_MOVING_WINDOW_LUA)

    async def hit(limit: int, now: float) -> tuple[int, int, float | None]:
        allowed, count, oldest = await script(keys=[key], args=[limit, 60, repr(now)])
        return int(allowed), int(count), float(oldest) if oldest else None

    try:
        assert await hit(3, 1000.0) == (1, 1, 1000.0)
        assert await hit(3, 1001.0) == (1, 2, 1000.0)
        assert await hit(3, 1002.0) == (1, 3, 1000.0)
        assert await hit(3, 1059.9) == (0, 3, 1000.0)  # full: refused, not counted
        assert await client.llen(key) == 3
        assert await hit(3, 1060.5) == (1, 3, 1001.0)  # 1000 left the window: popped, one place free
        assert await hit(3, 1200.0) == (1, 1, 1200.0)  # everything expired: popped in one call
        assert await client.lrange(key, 0, -1) == [b"1200.0"]
        assert 0 < await client.ttl(key) <= 60
        # Many requests over a long time: the list only ever holds the current window.
        for second in range(1300, 1600):
            await hit(1000, float(second))
        assert await client.llen(key) == 61  # 1539 … 1599: an entry exactly 60 s old is still inside
        assert await hit(1000, 1600.0) == (1, 61, 1540.0)
        # A limit lowered below what the window holds refuses until enough entries expire.
        assert await hit(10, 1600.5) == (0, 60, 1541.0)
    finally:
        await client.delete(key)
        await client.aclose()
