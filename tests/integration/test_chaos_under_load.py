"""SPEC §6 Reliability: faults injected while the app serves concurrent load, served as in production.

The app runs the way Railway runs it — a gunicorn master with two uvicorn
workers (tests/support/app_server.py) — and a few dozen clients
(tests/support/load.py) keep requesting while something breaks:

* Redis is killed (SIGKILL) mid-load: not one request fails (INFRA-004,
  SEC-004). The cache treats Redis as a miss and the rate limiter counts in
  process — and still limits — and both use Redis again once it is back.
* PostgreSQL is restarted, then stopped for two seconds, mid-load (INFRA-002):
  the requests caught in it get 503 with Retry-After in the error format —
  never a 500, a dropped connection or a hang — and right after, the same
  worker processes answer only 2xx again.
* Every vendor is down (INFRA-006, INFRA-009) while quotes are generated and
  emailed under load: each request answers at once (202 processing, 202 queued,
  503 for checkout), and once the vendors are back every quote is generated and
  every email delivered exactly once, with nothing left in the outbox.

The fault is always injected into a private server (redis-server, initdb) or a
local fake; the shared PostgreSQL and Redis are never touched beyond one
throw-away database.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from backend.services.cache_service import redis_client
from tests.conftest import (
    IN_CI,
    migrate,
    migrated_pg_database,
)
from tests.fakes import anthropic, openai, resend
from tests.fakes import stripe as fake_stripe_api
from tests.fakes.anthropic import VALID_SUBTOTAL, FakeAnthropic
from tests.fakes.openai import TRANSCRIPT, FakeOpenAI
from tests.fakes.resend import FakeResend
from tests.fakes.server import FakeServer, Recorded, Reply
from tests.fakes.slack import FakeSlack
from tests.fakes.stripe import FakeStripe
from tests.helpers import Account, make_customer, make_quote, register
from tests.support.app_server import AppServer
from tests.support.load import Call, Load, Outcome, Plan, send, summary
from tests.support.pg_instance import PgInstance, unavailable_reason
from tests.support.redis_server import PrivateRedis
from tests.support.stripe_events import PRICES
from tests.support.vendor_helpers import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS = 2
CLIENTS = 24  # concurrent load clients: several requests in flight in each worker at every moment
REQUEST_TIMEOUT = 10.0  # a request without a complete answer by then is a hang, i.e. a failure
UNAUTHENTICATED_LIMIT = 30  # per minute, in test 1: the budget a deliberate burst exhausts while Redis is down


# -- fixtures --------------------------------------------------------------------------------------


def _require(what: str, reason: str | None) -> None:
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"{what} is required when CI=true: {reason}")
    pytest.skip(f"{what} is not available: {reason}")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh, migrated database on the shared PostgreSQL server (which is never stopped)."""
    with migrated_pg_database("quoted_chaos", "the chaos tests need it") as url:
        yield url


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of this test's own: the one it kills."""
    _require("redis-server", None if shutil.which("redis-server") else "redis-server is not installed")
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_pg() -> Iterator[PgInstance]:
    """A PostgreSQL server of this test's own (the one it restarts) with a migrated ``quoted`` database."""
    _require("A private PostgreSQL server (initdb, pg_ctl)", unavailable_reason())
    with PgInstance() as pg:
        migrate(pg.create_database("quoted"))
        yield pg


# -- helpers -----------------------------------------------------------------------------------------


def app_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """Production-like settings with rate limiting on; honest load stays far below every budget."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_AUTHENTICATED": "100000/minute",
        "RATE_LIMIT_GENERATE": "100000/minute",
        "RATE_LIMIT_LOGIN": "1000/minute",
        "RATE_LIMIT_UNAUTHENTICATED": "1000/minute",
        **extra,
    }


async def register_accounts(server: AppServer, count: int) -> list[Account]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        return [await register(client, business_name=f"Chaos Contracting {n}") for n in range(count)]


def report(failures: list[Outcome], load: Load, server: AppServer) -> str:
    """What an assertion about the load prints: the first failures, the totals, the server's last words."""
    first = "\n".join(f"  {o.describe()}" for o in failures[:10])
    return f"{len(failures)} bad outcomes, first ones:\n{first}\nall:\n{load.summary()}\n" \
           f"server log tail:\n{server.log()[-3000:]}"


def assert_unavailable(outcome: Outcome) -> None:
    """The 503 of an outage: the SPEC error body, a Retry-After, and the request id of the header."""
    assert outcome.status == 503, outcome.describe()
    body = outcome.json()
    assert body["code"] == "service_unavailable" and body["detail"].strip(), body
    assert body["request_id"] == outcome.headers["x-request-id"], body
    retry_after = outcome.headers.get("retry-after", "")
    assert retry_after.isdigit() and int(retry_after) > 0, dict(outcome.headers)


# -- 1. Redis killed mid-load ------------------------------------------------------------------------


def cache_and_limiter_plan(accounts: list[Account]) -> Plan:
    """Reads served through the cache, writes that invalidate it, every one through the rate limiter."""

    def plan(client: int, n: int) -> Call:
        account = accounts[client % len(accounts)]
        headers = account.headers
        step = n % 7
        if step == 0:
            return Call("GET", "/api/contractors/me", headers)  # the cached contractor
        if step == 1:
            return Call("GET", "/api/pricing-brain/categories", headers)  # cached per contractor
        if step == 2:
            return Call("GET", "/api/pricing-brain/templates", headers)  # cached for everyone
        if step == 3:
            return Call("GET", "/api/quotes", headers)
        if step == 4:
            return Call("POST", "/api/customers", headers, json={"name": f"Customer {client}-{n}"})
        if step == 5:  # invalidates the cached categories
            return Call("PUT", f"/api/pricing-brain/categories/chaos-{client}", headers,
                        json={"display_name": f"Chaos {n}", "labor_rate": "95.00", "markup_percent": "20",
                              "min_charge": "50.00"},
                        label="PUT /api/pricing-brain/categories/{key}")
        return Call("PATCH", "/api/contractors/me", headers,  # invalidates the cached contractor
                    json={"phone": f"555-{client:02d}{n % 100:02d}"})

    return plan


async def redis_keys(url: str) -> list[str]:
    client = redis_client(url, timeout=1)
    try:
        return [key.decode() async for key in client.scan_iter(match="quoted:*", count=1000)]
    except OSError:
        return []
    finally:
        await client.aclose()


async def test_redis_killed_mid_load_fails_no_request_and_is_used_again_when_back(
    pg_url: str, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    env = app_env(pg_url, private_redis.url, RATE_LIMIT_UNAUTHENTICATED=f"{UNAUTHENTICATED_LIMIT}/minute")
    with AppServer(env, workers=WORKERS, log_dir=tmp_path) as server:
        workers = sorted(server.worker_pids())
        accounts = await register_accounts(server, 4)
        assert await redis_keys(private_redis.url), "the app never used the private Redis"

        async with Load(server.base_url, cache_and_limiter_plan(accounts), clients=CLIENTS,
                        timeout=REQUEST_TIMEOUT) as load:
            await asyncio.sleep(2)
            killed_at = time.monotonic()
            await asyncio.to_thread(private_redis.stop)  # SIGKILL: connections drop mid-command
            await asyncio.sleep(5)

        # 1. Not one failure: no 5xx, no 429, no dropped connection, no hang.
        failures = load.failures()
        assert not failures, report(failures, load, server)
        before, after = load.finished_before(killed_at), load.started_after(killed_at)
        assert len(before) >= 20 and len(after) >= 50, load.summary()
        assert {o.label for o in after} == {o.label for o in load.outcomes}, summary(after)
        # Still limited after the kill (the headers come from the limiter's verdict) ...
        assert all(o.headers.get("x-ratelimit-limit") == "100000" for o in after), summary(after)
        # ... because both fell back to in-process, as they logged (once per worker per outage).
        events = {str(e.get("event")) for e in server.events()}
        assert {"cache.redis_unavailable", "rate_limit.redis_unavailable"} <= events, events

        # 2. The in-process fallback still enforces limits: a burst of unauthenticated requests
        #    from one address is cut off (each worker counts its own budget while Redis is away).
        async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:
            burst = [await client.get("/api/billing/plans") for _ in range(2 * UNAUTHENTICATED_LIMIT + 10)]
        statuses = [r.status_code for r in burst]
        assert set(statuses) == {200, 429}, statuses
        assert statuses.count(200) <= WORKERS * UNAUTHENTICATED_LIMIT, statuses
        refused = next(r for r in burst if r.status_code == 429)
        assert refused.json()["code"] == "rate_limited" and refused.headers["retry-after"].isdigit()

        # 3. Redis comes back (same port, empty): the app writes to it again by itself, and
        #    requests keep succeeding meanwhile. The wait is the fallback's back-off (seconds).
        await asyncio.to_thread(private_redis.start)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:
            deadline = time.monotonic() + 20
            keys: list[str] = []
            while time.monotonic() < deadline:
                for account in accounts:
                    response = await client.get("/api/contractors/me", headers=account.headers)
                    assert response.status_code == 200, response.text
                keys = await redis_keys(private_redis.url)
                if any(":rl" in k for k in keys) and any(":contractor:" in k for k in keys):
                    break
                await asyncio.sleep(0.25)
        assert any(":rl" in k for k in keys) and any(":contractor:" in k for k in keys), keys

        assert sorted(server.worker_pids()) == workers, "a worker was restarted"


# -- 2. PostgreSQL restarted mid-load -----------------------------------------------------------------


def database_plan(accounts: list[Account]) -> Plan:
    """Requests that need the database (reads and writes), and one that the cache may answer."""

    def plan(client: int, n: int) -> Call:
        headers = accounts[client % len(accounts)].headers
        step = n % 4
        if step == 0:
            return Call("GET", "/api/customers", headers)
        if step == 1:
            return Call("GET", "/api/quotes", headers)
        if step == 2:
            return Call("POST", "/api/customers", headers, json={"name": f"Customer {client}-{n}"})
        return Call("GET", "/api/contractors/me", headers)

    return plan


CLEAN_WINDOW = 2.0  # seconds of nothing but 2xx required after each outage
SETTLE = 4.0  # load kept running after each outage, so the clean window has room


def assert_recovered(load: Load, server: AppServer, *, back_at: float, until: float) -> None:
    """Between the server being back and the next fault, the app serves only 2xx again, for at
    least CLEAN_WINDOW seconds (requests started in the outage may still end in a 503)."""
    # Answers given before the next fault began: those are the ones this outage may explain.
    after = [o for o in load.outcomes if back_at <= o.finished < until]
    last_bad = max((o.finished for o in after if not o.ok), default=back_at)
    clean = [o for o in after if o.started >= last_bad]
    assert until - last_bad >= CLEAN_WINDOW, (
        f"the last error came {last_bad - back_at:.2f}s after PostgreSQL was back, "
        f"{until - last_bad:.2f}s before the end\n{report([o for o in after if not o.ok], load, server)}"
    )
    assert len(clean) >= 10 and all(o.ok for o in clean), summary(clean)


async def test_postgres_restart_mid_load_is_503_only_and_the_same_workers_recover(
    private_pg: PgInstance, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    # A short pool timeout: a request never waits long for a connection that is not coming.
    env = app_env(private_pg.url_for("quoted"), private_redis.url, DB_POOL_TIMEOUT="5")
    with AppServer(env, workers=WORKERS, log_dir=tmp_path) as server:
        workers = sorted(server.worker_pids())
        accounts = await register_accounts(server, 3)

        async with Load(server.base_url, database_plan(accounts), clients=CLIENTS,
                        timeout=REQUEST_TIMEOUT) as load:
            await asyncio.sleep(2)
            # a. A fast restart (what a managed database's maintenance does).
            restart_at = time.monotonic()
            await asyncio.to_thread(private_pg.restart, "fast")
            restarted_at = time.monotonic()
            await asyncio.sleep(SETTLE)
            # b. A two-second outage: the database is gone, not just bouncing.
            stop_at = time.monotonic()
            await asyncio.to_thread(private_pg.stop, "fast")
            await asyncio.sleep(2)
            await asyncio.to_thread(private_pg.start)
            started_at = time.monotonic()
            await asyncio.sleep(SETTLE)
        end = time.monotonic()

        # Every answer is a 2xx or an outage's 503: no 500, no dropped connection, no hang.
        bad = [o for o in load.outcomes if not o.ok and o.status != 503]
        assert not bad, report(bad, load, server)
        unavailable = [o for o in load.outcomes if o.status == 503]
        for outcome in unavailable:
            assert_unavailable(outcome)
        # The outage really happened under the load (else this test proves nothing).
        assert any(stop_at <= o.finished <= started_at + 1 for o in unavailable), load.summary()
        healthy = load.finished_before(restart_at)  # the load alone, before any fault, is served
        assert len(healthy) >= 20 and all(o.ok for o in healthy), summary(healthy)

        assert_recovered(load, server, back_at=restarted_at, until=stop_at)
        assert_recovered(load, server, back_at=started_at, until=end)
        # All without restarting the app: the same gunicorn workers served throughout.
        assert server.process is not None and server.process.poll() is None
        assert sorted(server.worker_pids()) == workers, "a worker was restarted"


# -- 3. every vendor down under load, then back --------------------------------------------------------

DESCRIPTION = "replace the kitchen faucet, new supply lines x2, haul away the old one"
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt " + b"\x00" * 2048  # sniffed as audio/wav by its signature
DRAFTS = 4  # per contractor, generated while the vendors are up, emailed during the outage
GENERATED = 6  # per contractor, generated from text during the outage (plus one from audio)


def vendor_env(claude: FakeAnthropic, whisper: FakeOpenAI, email: FakeResend, stripe: FakeStripe,
               slack: FakeSlack) -> dict[str, str]:
    """Every vendor at its local fake; retries, breakers and the outbox on a test-sized clock."""
    return {
        "ANTHROPIC_API_KEY": anthropic.API_KEY, "ANTHROPIC_BASE_URL": claude.url,
        "OPENAI_API_KEY": openai.API_KEY, "OPENAI_BASE_URL": whisper.base_url,
        "RESEND_API_KEY": resend.API_KEY, "RESEND_BASE_URL": email.url,
        "STRIPE_SECRET_KEY": fake_stripe_api.API_KEY, "STRIPE_API_BASE": stripe.url,
        "STRIPE_PRICE_STARTER": PRICES["starter"], "STRIPE_PRICE_PRO": PRICES["pro"],
        "STRIPE_PRICE_TEAM": PRICES["team"],
        "SLACK_WEBHOOK_URL": slack.webhook_url,
        # Production waits are 2–30 s between attempts, 30 s of open breaker and 30 s × 2^n of
        # outbox back-off; the same policy, scaled down, keeps the test within seconds.
        "RETRY_BACKOFF_SCALE": "0.01",
        "BREAKER_RECOVERY_SECONDS": "1",
        "OUTBOX_POLL_SECONDS": "0.2",
        "OUTBOX_BACKOFF_SECONDS": "0.2",
        "TRIAL_QUOTES": "1000",
    }


def reads_plan(accounts: list[Account]) -> Plan:
    def plan(client: int, n: int) -> Call:
        headers = accounts[client % len(accounts)].headers
        return Call("GET", "/api/quotes" if n % 2 else "/api/contractors/me", headers)

    return plan


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _work_left(dsn: str, contractors: list[uuid.UUID]) -> dict[str, int]:
    """What is not finished yet for these contractors (empty once everything completed)."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        rows = await conn.fetch(
            """
            SELECT 'outbox ' || status AS what, count(*) AS n FROM outbox
             WHERE contractor_id = ANY($1::uuid[]) AND status <> 'done' GROUP BY status
            UNION ALL
            SELECT 'quotes ' || status, count(*) FROM quotes
             WHERE contractor_id = ANY($1::uuid[]) AND status IN ('processing', 'failed') GROUP BY status
            UNION ALL
            SELECT 'emails ' || status, count(*) FROM email_deliveries
             WHERE contractor_id = ANY($1::uuid[]) AND status <> 'sent' GROUP BY status
            """,
            contractors,
        )
        return {row["what"]: row["n"] for row in rows}
    finally:
        await conn.close()


def opened_breakers(server: AppServer) -> set[str]:
    """Vendors whose breaker opened in some worker, from the workers' logs."""
    return {str(e.get("vendor")) for e in server.events("breaker.state_change") if e.get("new") == "open"}


def _ok_calls(fake: FakeServer, path: str, since: float = 0.0) -> list[Recorded]:
    return [call for call in fake.calls(path) if call.reply == "ok" and call.at >= since]


async def test_every_vendor_down_under_load_then_every_quote_and_email_completes_exactly_once(
    pg_url: str, private_redis: PrivateRedis, tmp_path: Path, fake_claude: FakeAnthropic,
    fake_openai: FakeOpenAI, fake_resend: FakeResend, fake_stripe: FakeStripe, fake_slack: FakeSlack,
) -> None:
    fakes: list[FakeServer] = [fake_claude, fake_openai, fake_resend, fake_stripe, fake_slack]
    env = app_env(pg_url, private_redis.url, **vendor_env(fake_claude, fake_openai, fake_resend, fake_stripe,
                                                          fake_slack))
    with AppServer(env, workers=WORKERS, log_dir=tmp_path) as server:
        accounts = await register_accounts(server, 3)
        contractors = [uuid.UUID(a.id) for a in accounts]

        # Vendors up: each contractor has drafts (made by Claude) waiting to be emailed.
        drafts: list[tuple[Account, str]] = []
        customers: dict[str, str] = {}
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            for n, account in enumerate(accounts):
                customers[account.id] = (await make_customer(client, account, name=f"Dana {n}"))["id"]
                for _ in range(DRAFTS):
                    quote = await make_quote(client, account, customer_id=customers[account.id])
                    assert quote["status"] == "draft" and quote["generated_by"] == "claude", quote
                    drafts.append((account, quote["id"]))

        # Every vendor down: errors, and a few calls that stall a second before failing.
        for fake in fakes:
            fake.always(Reply.error(503))
        fake_claude.script(*[Reply.hang(1.0)] * 4)
        fake_resend.script(*[Reply.hang(1.0)] * 4)
        outage_at = time.monotonic()

        work: list[Call] = []
        recipients: list[str] = []
        for account in accounts:
            work += [Call("POST", "/api/quotes/generate", account.headers, label="generate",
                          json={"description": DESCRIPTION, "customer_id": customers[account.id]})
                     for _ in range(GENERATED)]
            work.append(Call("POST", "/api/quotes/generate-from-audio", account.headers, label="generate audio",
                             files={"audio": ("memo.wav", WAV, "application/octet-stream")}))
            work.append(Call("POST", "/api/billing/checkout", account.headers, json={"plan": "pro"},
                             label="checkout"))
        for i, (account, quote_id) in enumerate(drafts):
            recipients.append(f"customer-{i}@example.com")
            work.append(Call("POST", f"/api/quotes/{quote_id}/send", account.headers, json={"email": recipients[-1]},
                             label="send"))
        random.Random(7).shuffle(work)  # generations, sends and checkouts interleaved

        # All of it at once, while other clients keep reading.
        limits = httpx.Limits(max_connections=len(work))
        async with Load(server.base_url, reads_plan(accounts), clients=8, timeout=REQUEST_TIMEOUT) as reads, \
                httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=REQUEST_TIMEOUT) as client:
            answers = await asyncio.gather(*(send(client, call, timeout=REQUEST_TIMEOUT) for call in work))
            answered_at = time.monotonic()

            async def retried() -> bool:
                """The dispatchers have tried the queued work against the dead vendors since, and the
                Claude and Resend breakers have opened (so the open-breaker path is part of the outage)."""
                tried = all(any(call.at >= answered_at for call in fake.calls(path)) for fake, path in (
                    (fake_claude, "/v1/messages"), (fake_openai, "/v1/audio/transcriptions"),
                    (fake_resend, "/emails")))
                return tried and {"claude", "resend"} <= opened_breakers(server)

            await wait_for(retried, timeout=20, interval=0.25,
                           what="retries against the dead vendors and the Claude and Resend breakers to open")
        assert fake_resend.delivered == [] and not _ok_calls(fake_claude, "/v1/messages", since=outage_at)

        # 1. Every request got its documented answer at once: nothing refused, nothing lost, no 5xx
        #    but checkout's 503 (Stripe down: a sentence and Retry-After, never Stripe's error).
        by_label: dict[str, list[Outcome]] = {}
        for answer in answers:
            by_label.setdefault(answer.label, []).append(answer)
        assert not reads.failures(), report(reads.failures(), reads, server)
        for outcome in by_label["generate"] + by_label["generate audio"]:
            assert outcome.status == 202 and outcome.json()["status"] == "processing", outcome.describe()
        for outcome in by_label["send"]:
            assert outcome.status == 202, outcome.describe()
            assert outcome.json()["last_delivery"]["status"] == "queued", outcome.describe()
        for outcome in by_label["checkout"]:
            assert_unavailable(outcome)
            assert "stripe" not in outcome.json()["detail"].lower(), outcome.describe()

        # 2. The vendors come back: everything queued completes by itself, within a bounded wait.
        for fake in fakes:
            fake.always(Reply.ok())
        recovered_at = time.monotonic()
        dsn = _dsn(pg_url)
        await wait_for(lambda: _done(dsn, contractors), timeout=45, interval=0.25,
                       what="every quote and email to complete")

        # 3. Exactly once. Every quote exists once and was generated once ...
        generated_ids = {o.json()["id"] for o in by_label["generate"] + by_label["generate audio"]}
        draft_ids = {quote_id for _, quote_id in drafts}
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            quotes = await conn.fetch("SELECT id::text, status, generated_by, subtotal, description FROM quotes"
                                      " WHERE contractor_id = ANY($1::uuid[])", contractors)
            outbox = await conn.fetch("SELECT id::text, kind, status FROM outbox WHERE contractor_id = ANY($1::uuid[])",
                                      contractors)
            deliveries = await conn.fetch("SELECT quote_id::text, to_address, status, provider_id FROM"
                                          " email_deliveries WHERE contractor_id = ANY($1::uuid[])", contractors)
        finally:
            await conn.close()
        assert sorted(q["id"] for q in quotes) == sorted(generated_ids | draft_ids)
        assert len(quotes) == len(accounts) * (DRAFTS + GENERATED + 1)
        for quote in quotes:
            expected = "sent" if quote["id"] in draft_ids else "draft"
            assert (quote["status"], quote["generated_by"]) == (expected, "claude"), dict(quote)
            assert Decimal(str(quote["subtotal"])) == Decimal(VALID_SUBTOTAL), dict(quote)
        assert sum(q["description"] == TRANSCRIPT for q in quotes) == len(accounts)  # the recordings
        claude_ok = _ok_calls(fake_claude, "/v1/messages", since=recovered_at)
        assert len(claude_ok) == len(generated_ids), f"{len(claude_ok)} generations for {len(generated_ids)} quotes"
        assert len(_ok_calls(fake_openai, "/v1/audio/transcriptions", since=recovered_at)) == len(accounts)

        # ... every email was delivered once, to its recipient, under its outbox item's idempotency key ...
        sends = by_label["send"]
        assert sorted(e["to"][0] for e in fake_resend.delivered) == sorted(recipients)
        ok_keys = Counter(call.headers.get("idempotency-key") for call in _ok_calls(fake_resend, "/emails"))
        email_items = {item["id"] for item in outbox if item["kind"] == "email.send"}
        assert set(ok_keys) == email_items and set(ok_keys.values()) == {1}, ok_keys
        assert len(fake_resend.delivered) == len(sends) == len(email_items)
        assert {d["provider_id"] for d in deliveries} == {e["id"] for e in fake_resend.delivered}
        assert all(d["status"] == "sent" for d in deliveries) and len(deliveries) == len(sends)

        # ... and the outbox holds nothing but done work: no retry left, nothing dead, nothing twice.
        assert Counter((item["kind"], item["status"]) for item in outbox) == {
            ("quote.generate", "done"): len(generated_ids), ("email.send", "done"): len(sends)}
        assert server.events("outbox.dead") == []

        # Billing works again too, once Stripe's breaker lets a call through.
        async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:

            async def checkout() -> bool:
                response = await client.post("/api/billing/checkout", json={"plan": "pro"},
                                             headers=accounts[0].headers)
                assert response.status_code in (200, 503), response.text
                return response.status_code == 200 and response.json()["url"].startswith("http")

            await wait_for(checkout, timeout=15, interval=0.5, what="checkout to work again")


async def _done(dsn: str, contractors: list[uuid.UUID]) -> bool:
    left = await _work_left(dsn, contractors)
    # Work that gave up (a dead item, a failed quote or email) will never complete: fail now, not at the deadline.
    assert not [what for what in left if what.endswith(("dead", "failed"))], left
    return not left
