"""SPEC §6 "Reliability": two app instances on one PostgreSQL and one Redis stay exactly-once.

Two separate gunicorn masters (two uvicorn workers each, so four processes in
all), started the production way by ``tests.support.app_server.AppServer`` on
two ports, share one fresh migrated PostgreSQL database and one private
``redis-server``. Requests are spread over both instances, and this proves:

* SEC-004: a rate-limit budget — per client address, and per contractor for
  quote generation — is one budget across both instances: the requests let
  through add up to the limit, not to twice (or four times) the limit, and
  every 429 says when to retry;
* SEC-003: one refresh token presented 20 times at once, half to each
  instance, is rotated exactly once (one successor row, one 200, the other
  answers ``refresh_superseded``); the successor works on either instance, and
  the old token replayed after the grace window revokes the whole family;
* PAY-001: one signed Stripe event delivered 12 times at once to both
  instances (all deliveries overlapping inside the database), and again
  later, is recorded once and applied once — also when an earlier delivery
  failed and left its row unprocessed — and both instances then serve the new
  plan (the cached contractor was invalidated in the shared cache);
* SEC-003 with the near cache: logout-all on one instance revokes the token
  in all four workers (each held the contractor in process) within
  milliseconds, without flapping back;
* the outbox: 40 emails queued through both instances and released to the
  four dispatchers at the same moment each reach the (fake) Resend API exactly
  once, every item is done after one attempt, and both instances did part of
  the work.

Each of these fails when the state is kept per process or the claim is not
atomic (checked by breaking the product on purpose: in-process limit
counters, a rotation UPDATE without ``revoked_at IS NULL``, a webhook without
its duplicate check or its row lock, an outbox claim without
``FOR UPDATE SKIP LOCKED``). ``tests/integration/test_outbox.py`` covers
dispatchers in one process and ``python -m backend.worker`` processes; this
module covers app instances serving HTTP.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from backend.models import Contractor, OutboxItem, RefreshToken, StripeEvent
from backend.services.auth_service import hash_refresh_token
from backend.services.delivery_service import EMAIL_KIND
from tests.conftest import (
    IN_CI,
    migrated_pg_database,
)
from tests.fakes import resend
from tests.fakes.resend import FakeResend
from tests.fakes.server import Reply
from tests.helpers import PASSWORD, Account, assert_error, make_quote, register
from tests.support.app_server import AppServer, AppServerError
from tests.support.redis_server import PrivateRedis
from tests.support.stripe_events import WEBHOOK_SECRET, checkout_completed, deliver
from tests.support.vendor_helpers import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS_PER_INSTANCE = 2
# Small budgets, so a burst of a few dozen requests crosses them. The address
# budget must still fit the refresh test's 25 unauthenticated requests.
ADDRESS_LIMIT = 30
GENERATE_LIMIT = 5
# Short, so the "replayed after the grace window" step waits seconds, not the default 10,
# yet far longer than the 20 racing refreshes take.
GRACE_SECONDS = 4
# Each dispatcher stays busy with its batch of 10 while the others poll, so released work
# spreads over all four of them; far below Resend's 15 s read timeout (no retries).
EMAIL_DELAY_SECONDS = 0.4
OUTBOX_POLL_SECONDS = "0.1"


# -- the shared services and the two instances -----------------------------------------------------


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with migrated_pg_database("quoted_two", "two app instances need a shared database") as url:
        yield url


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A private redis-server: the instances' counters and cache start empty and nothing else sees them."""
    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server is required when CI=true but is not installed")
        pytest.skip("redis-server is not installed; two app instances need a shared Redis")
    redis = PrivateRedis()
    try:
        redis.start()
        yield redis.url
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def email_api() -> Iterator[FakeResend]:
    with FakeResend() as fake:
        yield fake  # type: ignore[misc]


@dataclass
class Instances:
    a: AppServer
    b: AppServer
    database_url: str
    email: FakeResend

    @property
    def both(self) -> tuple[AppServer, AppServer]:
        return self.a, self.b

    def events(self, name: str) -> list[dict[str, Any]]:
        """The log events called ``name`` from both instances, each tagged with its instance's port."""
        return [{**event, "_port": server.port} for server in self.both for event in server.events(name)]


@pytest.fixture(scope="module")
def instances(pg_url: str, redis_url: str, email_api: FakeResend,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instances]:
    env = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        # Two instances × two workers × 8 fit the shared server's max_connections next to other suites.
        "DB_POOL_SIZE": "4",
        "DB_MAX_OVERFLOW": "4",
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_UNAUTHENTICATED": f"{ADDRESS_LIMIT}/minute",
        "RATE_LIMIT_GENERATE": f"{GENERATE_LIMIT}/minute",
        "RATE_LIMIT_AUTHENTICATED": "100/minute",
        "RATE_LIMIT_LOGIN": "10/minute",
        # The tests choose the client address with X-Forwarded-For, believed from 127.0.0.1 only.
        "TRUSTED_PROXY_IPS": "127.0.0.1",
        "REFRESH_REUSE_GRACE_SECONDS": str(GRACE_SECONDS),
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_WEBHOOK_SECRET_PREVIOUS": "",
        "RESEND_API_KEY": resend.API_KEY,
        "RESEND_BASE_URL": email_api.url,
        # Quotes come from the local estimator and alerts are only logged: no other vendor is involved.
        "ANTHROPIC_API_KEY": "",
        "OPENAI_API_KEY": "",
        "SLACK_WEBHOOK_URL": "",
        "STORAGE_BACKEND": "local",
        "OUTBOX_POLL_SECONDS": OUTBOX_POLL_SECONDS,
        "OUTBOX_BACKOFF_SECONDS": "0.2",
        "RETRY_BACKOFF_SCALE": "0.001",
    }
    log_dir = tmp_path_factory.mktemp("two-instances")
    servers = [AppServer(env, workers=WORKERS_PER_INSTANCE, log_dir=log_dir) for _ in range(2)]
    try:
        # Booting costs seconds on two cores: both instances boot at once.
        with ThreadPoolExecutor(max_workers=2) as pool:
            for started in [pool.submit(server.start) for server in servers]:
                try:
                    started.result()
                except AppServerError as error:
                    pytest.fail(str(error))
        yield Instances(servers[0], servers[1], pg_url, email_api)
    finally:
        for server in servers:
            server.stop()


# -- helpers ---------------------------------------------------------------------------------------------


@asynccontextmanager
async def clients(instances: Instances, address: str) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """One client per instance, both seen as ``address`` (each test has its own, so budgets do not mix)."""
    headers = {"X-Forwarded-For": address}
    async with httpx.AsyncClient(base_url=instances.a.base_url, headers=headers, timeout=30) as a, \
            httpx.AsyncClient(base_url=instances.b.base_url, headers=headers, timeout=30) as b:
        yield a, b


@asynccontextmanager
async def database(instances: Instances) -> AsyncIterator[AsyncSession]:
    """A session on the instances' database, to check what they wrote."""
    engine = create_async_engine(instances.database_url, poolclass=NullPool)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield session
    finally:
        await engine.dispose()


async def in_pairs(count: int, send: Callable[[int], Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """``count`` requests, two at a time (request i to instance i % 2 in ``send``).

    Each pair races on the shared counter; pairs rather than one big burst keep
    the limiter's 250 ms Redis timeout from firing on two busy cores (it would
    fall back to per-process counters, by design, and blur the count).
    """
    responses: list[httpx.Response] = []
    for first in range(0, count, 2):
        responses.extend(await asyncio.gather(*(send(i) for i in range(first, min(first + 2, count)))))
    return responses


def assert_limiter_stayed_on_redis(instances: Instances) -> None:
    fallbacks = instances.events("rate_limit.redis_unavailable")
    assert not fallbacks, f"an instance counted in process (Redis too slow to answer): {fallbacks}"


def assert_rate_limited(response: httpx.Response, limit: int) -> None:
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60, response.headers
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == "0"


# -- SEC-004: limits --------------------------------------------------------------------------------------


async def test_the_per_address_budget_is_one_budget_across_both_instances(instances: Instances) -> None:
    async with clients(instances, "198.51.100.10") as (a, b):
        responses = await in_pairs(ADDRESS_LIMIT * 2 + 10,
                                   lambda i: (a, b)[i % 2].get("/api/billing/plans"))

    allowed = [r for r in responses if r.status_code != 429]
    # Per-process counters would let through up to the limit on every worker of each instance.
    assert len(allowed) == ADDRESS_LIMIT, Counter(r.status_code for r in responses)
    assert {r.status_code for r in allowed} == {200}
    # Both instances answered from the one budget, and the last allowed request left none of it.
    assert {r.url.port for r in allowed} == {instances.a.port, instances.b.port}
    assert min(int(r.headers["x-ratelimit-remaining"]) for r in allowed) == 0
    for refused in responses:
        if refused.status_code == 429:
            assert_rate_limited(refused, ADDRESS_LIMIT)
    assert_limiter_stayed_on_redis(instances)


async def test_the_generation_budget_of_a_contractor_is_shared_by_both_instances(instances: Instances) -> None:
    async with clients(instances, "198.51.100.20") as (a, b):
        account = await register(a)

        async def generate(i: int) -> httpx.Response:
            # A new address per request: only the verified contractor ties them together.
            return await (a, b)[i % 2].post(
                "/api/quotes/generate", json={"description": "replace the kitchen faucet, new supply lines"},
                headers={**account.headers, "X-Forwarded-For": f"203.0.113.{i + 1}"})

        responses = await in_pairs(GENERATE_LIMIT * 2 + 2, generate)

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: GENERATE_LIMIT, 429: GENERATE_LIMIT + 2}, [r.text for r in responses]
    for refused in responses:
        if refused.status_code == 429:
            assert_rate_limited(refused, GENERATE_LIMIT)
            assert "quote generation" in refused.json()["detail"]
    assert_limiter_stayed_on_redis(instances)


# -- SEC-003: refresh rotation ---------------------------------------------------------------------------


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refresh_token": token})


async def _token_row(session: AsyncSession, raw: str) -> RefreshToken:
    row = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(raw)))
    assert row is not None
    return row


async def test_a_refresh_token_raced_on_both_instances_rotates_exactly_once(instances: Instances) -> None:
    async with clients(instances, "198.51.100.30") as (a, b):
        account = await register(a)
        login = await b.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        original = login.json()["refresh_token"]

        # Ten tabs on each instance refresh the same token at the same moment.
        responses = await asyncio.gather(*(_refresh(client, original) for client in (a, b) * 10))

        winners = [r for r in responses if r.status_code == 200]
        assert len(winners) == 1, [(r.status_code, r.text) for r in responses]
        # Inside the grace window every loser is told to retry, and nothing is revoked for it.
        for loser in responses:
            if loser.status_code != 200:
                assert_error(loser, 401, "refresh_superseded")
        successor = winners[0].json()
        winner, other = (a, b) if winners[0].url.port == instances.a.port else (b, a)

        async with database(instances) as session:
            first = await _token_row(session, original)
            family = list(await session.scalars(select(RefreshToken).where(RefreshToken.family_id == first.family_id)))
        children = [row for row in family if row.parent_id == first.id]
        assert len(family) == 2 and len(children) == 1, [(r.id, r.parent_id, r.revoked_reason) for r in family]
        assert first.revoked_reason == "rotated" and first.replaced_by == children[0].id
        assert children[0].token_hash == hash_refresh_token(successor["refresh_token"])
        assert children[0].revoked_at is None
        assert first.revoked_at is not None

        # The one successor is good on either instance: its access token, and its refresh token.
        signed_in = Account(token=successor["access_token"], contractor=successor["contractor"], email=account.email)
        for client in (a, b):
            me = await client.get("/api/auth/me", headers=signed_in.headers)
            assert me.status_code == 200, me.text
        rotated_again = await _refresh(other, successor["refresh_token"])
        assert rotated_again.status_code == 200, rotated_again.text
        current = rotated_again.json()["refresh_token"]

        # Replayed after the grace window (on the instance that did not rotate it): theft, the family dies.
        wait = (first.revoked_at - datetime.now(UTC)).total_seconds() + GRACE_SECONDS + 0.5
        await asyncio.sleep(max(0.0, wait))
        assert_error(await _refresh(other, original), 401, "refresh_reused")
        assert_error(await _refresh(winner, current), 401, "refresh_revoked")

        async with database(instances) as session:
            family = list(await session.scalars(select(RefreshToken).where(RefreshToken.family_id == first.family_id)))
    assert len(family) == 3
    assert all(row.revoked_at is not None for row in family)
    assert sorted(row.revoked_reason or "" for row in family) == ["reuse_detected", "rotated", "rotated"]


# -- PAY-001: webhook dedup ------------------------------------------------------------------------------


DELIVERIES_PER_INSTANCE = 6  # ≤ a worker's pool (4 + 4), so every delivery reaches the database at once


async def _waiting_on_locks(instances: Instances) -> int:
    """How many of the instances' database sessions are waiting for a row or transaction lock."""
    async with database(instances) as session:
        count = await session.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))
    return int(count or 0)


@pytest.mark.parametrize("earlier_delivery", ["none", "failed"])
async def test_a_stripe_event_delivered_to_both_instances_at_once_is_applied_once(
        instances: Instances, earlier_delivery: str) -> None:
    """Simultaneous deliveries to both instances, then a retry on each: one ``applied``, the rest ``duplicate``.

    ``failed``: an earlier delivery failed and left the event's row unprocessed
    (what the webhook records before answering 500), so the racing retries all
    find the row already there and only its row lock keeps them apart.
    """
    address = "198.51.100.40" if earlier_delivery == "none" else "198.51.100.41"
    async with clients(instances, address) as (a, b):
        account = await register(a)
        # Both instances have the trial contractor in the shared cache before the event.
        for client in (a, b):
            me = await client.get("/api/contractors/me", headers=account.headers)
            assert me.json()["plan"] == "trial"

        completed = checkout_completed(account.id, "team", subscription=f"sub_{earlier_delivery}")
        async with database(instances) as session:
            if earlier_delivery == "failed":
                session.add(StripeEvent(id=completed["id"], type=completed["type"], status="processing",
                                        created=datetime.fromtimestamp(completed["created"], UTC),
                                        received_at=datetime.now(UTC),
                                        last_error="OperationalError: the database went away"))
                await session.commit()
            # The contractor's row is busy (as under a concurrent write), so the first delivery stalls
            # inside its transaction until every other one has arrived: they all overlap, not by luck.
            await session.execute(select(Contractor.id).where(Contractor.id == uuid.UUID(account.id))
                                  .with_for_update())
            racing = asyncio.gather(*(deliver(client, completed) for client in (a, b) * DELIVERIES_PER_INSTANCE))

            async def all_waiting() -> bool:
                return await _waiting_on_locks(instances) >= 2 * DELIVERIES_PER_INSTANCE

            try:
                await wait_for(all_waiting, timeout=20, interval=0.1, what="every delivery waiting in the database")
            finally:
                await session.rollback()  # releases the contractor
            responses = list(await racing)
        # Stripe's later retries, one per instance.
        responses += [await deliver(client, completed) for client in (a, b)]

        assert [r.status_code for r in responses] == [200] * len(responses), [r.text for r in responses]
        expected = {"applied": 1, "duplicate": len(responses) - 1}
        assert Counter(r.json()["outcome"] for r in responses) == expected, [r.text for r in responses]
        for client in (a, b):
            me = await client.get("/api/contractors/me", headers=account.headers)
            assert (me.json()["plan"], me.json()["subscription_status"]) == ("team", "active")

    async with database(instances) as session:
        rows = list(await session.scalars(select(StripeEvent).where(StripeEvent.id == completed["id"])))
    assert [(row.status, row.outcome, row.last_error) for row in rows] == [("processed", "applied", None)]
    # The effect itself ran once, in one process of one instance.
    changes = [e for e in instances.events("billing.subscription_changed") if e.get("event_id") == completed["id"]]
    assert len(changes) == 1, changes
    logged = Counter(str(e.get("outcome")) for e in instances.events("stripe.event")
                     if e.get("event_id") == completed["id"])
    assert logged == expected, logged


# -- the outbox ------------------------------------------------------------------------------------------


async def _hold_pending_emails(session: AsyncSession, contractor_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Lock the contractors' queued, unclaimed email items in ``session`` (those no dispatcher holds)."""
    rows = await session.scalars(
        select(OutboxItem.id)
        .where(OutboxItem.kind == EMAIL_KIND, OutboxItem.status == "pending",
               OutboxItem.contractor_id.in_(contractor_ids))
        .with_for_update(skip_locked=True)
    )
    return set(rows)


async def test_emails_queued_through_both_instances_are_sent_exactly_once(instances: Instances) -> None:
    contractors, quotes_each, recipients_each = 4, GENERATE_LIMIT, 2
    email_api = instances.email
    email_api.reset()
    email_api.always(Reply.hang(EMAIL_DELAY_SECONDS, then=Reply.ok()))
    try:
        async with clients(instances, "198.51.100.50") as (a, b):
            accounts = [await register((a, b)[i % 2]) for i in range(contractors)]
            contractor_ids = [uuid.UUID(account.id) for account in accounts]
            quotes = [(account, await make_quote((a, b)[i % 2], account))
                      for account in accounts for i in range(quotes_each)]
            sends = [(account, quote, f"customer-{n}-{uuid.uuid4().hex[:6]}@example.com")
                     for n, (account, quote) in enumerate(quotes * recipients_each)]

            async def send(i: int) -> None:
                account, quote, to = sends[i]
                response = await (a, b)[i % 2].post(f"/api/quotes/{quote['id']}/send", json={"email": to},
                                                    headers=account.headers)
                assert response.status_code == 202, response.text

            # Every item is held back (row-locked) as soon as it is committed, then all are let go
            # at once while the four dispatchers poll: they all race for the same due rows, which
            # only the claim's FOR UPDATE SKIP LOCKED keeps apart.
            held: set[uuid.UUID] = set()
            async with database(instances) as hold:
                sending = asyncio.gather(*(send(i) for i in range(len(sends))))
                while not sending.done():
                    held |= await _hold_pending_emails(hold, contractor_ids)
                    await asyncio.sleep(0.005)
                await sending
                held |= await _hold_pending_emails(hold, contractor_ids)
                await asyncio.sleep(5 * float(OUTBOX_POLL_SECONDS))  # every dispatcher polls meanwhile
                await hold.rollback()
            assert held, "no item was held back: the race between dispatchers was not exercised"

            async def settled() -> list[OutboxItem] | None:
                async with database(instances) as session:
                    items = list(await session.scalars(select(OutboxItem).where(
                        OutboxItem.kind == EMAIL_KIND, OutboxItem.contractor_id.in_(contractor_ids))))
                active = [item for item in items if item.status in ("pending", "processing")]
                return items if len(items) == len(sends) and not active else None

            items = await wait_for(settled, timeout=45, interval=0.2, what="every email item settled")

            # Every quote is sent, and shows its last delivery as sent, on either instance.
            for i, (account, quote) in enumerate(quotes):
                got = (await (b, a)[i % 2].get(f"/api/quotes/{quote['id']}", headers=account.headers)).json()
                assert got["status"] == "sent" and got["last_delivery"]["status"] == "sent", got
    finally:
        email_api.always(Reply.ok())

    assert [(item.status, item.attempts) for item in items] == [("done", 1)] * len(sends), \
        [(item.id, item.status, item.attempts, item.last_error) for item in items]
    # Exactly one call per item reached the vendor: no double claim across instances, no retry.
    calls = email_api.calls("/emails")
    keys = Counter(call.headers.get("idempotency-key") for call in calls)
    assert keys == Counter(str(item.id) for item in items), keys
    assert Counter(call.json["to"][0] for call in calls) == Counter(to for _, _, to in sends)
    assert len(email_api.delivered) == len(sends)
    # The work was shared: each item finished once, and each instance finished some of them.
    ids = {str(item.id) for item in items}
    done = [e for e in instances.events("outbox.done") if e.get("item_id") in ids]
    assert Counter(str(e["item_id"]) for e in done) == Counter(ids)
    by_instance = Counter(int(e["_port"]) for e in done)
    assert set(by_instance) == {instances.a.port, instances.b.port}, by_instance


# -- SEC-003 + the near cache: revocation reaches every worker of both instances ---------------------------


async def test_logout_all_on_one_instance_revokes_the_token_in_every_worker_of_both(instances: Instances) -> None:
    """Each of the four workers keeps the contractor in its near cache; logout-all on one worker must
    reach the other three over Redis pub/sub, within milliseconds, and never flap back."""
    subscribed = instances.events("near_cache.subscribed")
    assert len({event["_port"] for event in subscribed}) == 2 and len(subscribed) >= 2 * WORKERS_PER_INSTANCE, \
        subscribed
    async with clients(instances, "198.51.100.50") as (a, b):
        account = await register(a)
        # (The authenticated budget, 100/minute, covers the 30 warm-up and ≥ 40 probe requests.)
        for _ in range(4):  # every worker of both instances now holds the snapshot in process
            for response in await asyncio.gather(*(c.get("/api/auth/me", headers=account.headers)
                                                   for c in (a, b) * 4)):
                assert response.status_code == 200, response.text
        assert (await b.post("/api/auth/logout-all", headers=account.headers)).status_code == 204
        started = asyncio.get_running_loop().time()
        rounds: list[set[int]] = []
        while len(rounds) < 5 or rounds[-1] != {401}:
            responses = await asyncio.gather(*(c.get("/api/auth/me", headers=account.headers)
                                               for c in (a, b) * 4))
            rounds.append({r.status_code for r in responses})
            assert asyncio.get_running_loop().time() - started < 2, rounds
        first_all_401 = rounds.index({401})
        assert all(r == {401} for r in rounds[first_all_401:]), rounds
        assert all(r <= {200, 401} for r in rounds), rounds
    assert not instances.events("near_cache.subscription_lost")


def test_both_instances_are_still_serving(instances: Instances) -> None:
    """Nothing above took an instance down (a crashed worker would hide behind the other)."""
    for server in instances.both:
        assert server.process is not None and server.process.poll() is None, server.log()[-3000:]
        assert len(server.worker_pids()) == WORKERS_PER_INSTANCE, server.log()[-3000:]
        assert httpx.get(server.url("/health/live"), timeout=5).status_code == 200
        assert not server.events("request.unhandled_exception"), server.events("request.unhandled_exception")
