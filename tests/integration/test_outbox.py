"""The durable outbox: claiming, back-off, dead items, failed generations and retry, two dispatchers at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update

from backend.config import Settings
from backend.models import OutboxItem
from backend.models.base import utcnow
from backend.services import outbox
from backend.services.database import Database
from backend.services.outbox import ClaimedItem, Dispatcher, Handler, OutboxContext, PermanentFailure
from backend.services.storage_service import create_storage
from backend.services.vendors import Vendors
from tests.conftest import ROOT
from tests.fakes.anthropic import VALID_SUBTOTAL, FakeAnthropic
from tests.fakes.server import Reply
from tests.helpers import assert_error, make_quote, register
from tests.support.logs import capture_logs
from tests.support.outbox_marker_worker import MARKER_HANDLER, MARKER_KIND
from tests.support.vendor_helpers import FAST, vendor_settings, wait_for, wait_quote

pytestmark = pytest.mark.slow

DESCRIPTION = "replace the kitchen faucet, new supply lines, haul away the old one"
MARKER_TABLE = "CREATE TABLE IF NOT EXISTS outbox_marker (id VARCHAR(36) PRIMARY KEY, item_id VARCHAR(36) NOT NULL, " \
               "worker VARCHAR(128) NOT NULL)"


def _dispatcher(settings: Settings, db: Database, handlers: dict[str, Handler], **kwargs: Any) -> Dispatcher:
    ctx = OutboxContext(db=db, settings=settings, vendors=Vendors.from_settings(settings),
                        storage=create_storage(settings), worker_id=outbox.new_worker_id())
    return Dispatcher(ctx, handlers, poll_seconds=0.02, max_attempts=settings.outbox_max_attempts,
                      backoff_base=settings.outbox_backoff_seconds, **kwargs)


async def _enqueue(db: Database, count: int, kind: str = MARKER_KIND, **payload: Any) -> list[uuid.UUID]:
    async with db.session() as session:
        items = [outbox.enqueue(session, kind=kind, payload=dict(payload)) for _ in range(count)]
    return [item.id for item in items]


async def _items(db: Database) -> list[OutboxItem]:
    async with db.session() as session:
        return list((await session.execute(select(OutboxItem))).scalars())


async def _reset_tables(db: Database) -> None:
    async with db.session() as session:
        await session.execute(text(MARKER_TABLE))
        await session.execute(text("DELETE FROM outbox_marker"))
        await session.execute(text("DELETE FROM outbox"))


async def test_two_dispatchers_in_one_process_share_the_work_exactly_once(make_settings: Callable[..., Any]) -> None:
    settings = make_settings(**FAST)
    db_a, db_b = Database(settings), Database(settings)
    try:
        await _reset_tables(db_a)
        ids = await _enqueue(db_a, 40, sleep=0.005)
        a = _dispatcher(settings, db_a, {MARKER_KIND: MARKER_HANDLER}, batch_size=5)
        b = _dispatcher(settings, db_b, {MARKER_KIND: MARKER_HANDLER}, batch_size=5)
        tasks = [asyncio.create_task(d.run_forever()) for d in (a, b)]

        async def all_done() -> bool:
            return all(item.status == "done" for item in await _items(db_a))

        await wait_for(all_done, timeout=30, what="every item done")
        a.stop(), b.stop()
        await asyncio.gather(*tasks)
        async with db_a.session() as session:
            rows = (await session.execute(text("SELECT item_id FROM outbox_marker"))).scalars().all()
        assert sorted(rows) == sorted(str(i) for i in ids)
        assert {item.attempts for item in await _items(db_a)} == {1}
    finally:
        await db_a.dispose()
        await db_b.dispose()


async def test_failures_back_off_then_go_dead(make_settings: Callable[..., Any]) -> None:
    settings = make_settings(**{**FAST, "outbox_max_attempts": 3, "outbox_backoff_seconds": 0.2})
    db = Database(settings)
    failed_at: list[datetime] = []
    dead: list[BaseException] = []

    async def flaky(ctx: OutboxContext, item: ClaimedItem) -> None:
        failed_at.append(utcnow())
        raise RuntimeError("still broken")

    async def on_dead(session: Any, item: ClaimedItem, error: BaseException) -> None:
        dead.append(error)

    try:
        await _reset_tables(db)
        (item_id,) = await _enqueue(db, 1, kind="test.flaky")
        dispatcher = _dispatcher(settings, db, {"test.flaky": Handler(run=flaky, on_dead=on_dead)})
        with capture_logs() as logs:
            task = asyncio.create_task(dispatcher.run_forever())

            async def is_dead() -> bool:
                return (await _items(db))[0].status == "dead"

            await wait_for(is_dead, timeout=10, what="the item to go dead")
            dispatcher.stop()
            await task
        (item,) = await _items(db)
        assert item.attempts == 3 and "still broken" in (item.last_error or "")
        assert len(failed_at) == 3 and len(dead) == 1
        # Exponential: the second wait the dispatcher scheduled is about twice the first. Judged on what it
        # scheduled (its next_attempt_at against the failure), not on when the retries ran: a stalled VM
        # stretches those (a 0.5 s pause in recording the first failure once made the first gap the longer).
        scheduled = [datetime.fromisoformat(line["next_attempt_at"])
                     for line in logs.events("outbox.retry_scheduled") if line["item_id"] == str(item_id)]
        waits = [(at - failed).total_seconds() for at, failed in zip(scheduled, failed_at, strict=False)]
        assert len(waits) == 2 and 0 < waits[0] and waits[1] > 1.5 * waits[0], waits  # 2×, jitter ≤ 10 %
    finally:
        await db.dispose()


async def test_permanent_failure_is_dead_at_once_and_an_expired_lease_is_taken_over(
        make_settings: Callable[..., Any]) -> None:
    settings = make_settings(**FAST)
    db = Database(settings)

    async def refuse(ctx: OutboxContext, item: ClaimedItem) -> None:
        raise PermanentFailure("cannot ever work")

    try:
        await _reset_tables(db)
        await _enqueue(db, 1, kind="test.refuse")
        dispatcher = _dispatcher(settings, db, {"test.refuse": Handler(run=refuse)})
        assert await dispatcher.run_once() == 1
        (item,) = await _items(db)
        assert item.status == "dead" and item.attempts == 1

        # A dispatcher that claimed an item and vanished: the lease runs out, another one finishes it.
        await _reset_tables(db)
        (marker_id,) = await _enqueue(db, 1)
        (stale,) = await outbox.claim(db, worker_id="gone-worker", lease_seconds=0.05)
        assert await outbox.claim(db, worker_id="other") == []  # leased: nobody else gets it
        await asyncio.sleep(0.1)
        taker = _dispatcher(settings, db, {MARKER_KIND: MARKER_HANDLER})
        assert await taker.run_once() == 1
        (item,) = await _items(db)
        assert item.status == "done" and item.attempts == 2
        with pytest.raises(outbox.LeaseLost):  # the vanished worker's late result is refused
            async with db.session() as session:
                await outbox._mark_done(session, stale, "gone-worker")
    finally:
        await db.dispose()


async def test_enqueue_is_part_of_the_callers_transaction(make_settings: Callable[..., Any]) -> None:
    settings = make_settings(**FAST)
    db = Database(settings)
    try:
        await _reset_tables(db)
        with pytest.raises(RuntimeError):
            async with db.session() as session:
                outbox.enqueue(session, kind=MARKER_KIND, payload={})
                await session.flush()
                raise RuntimeError("the request failed")
        assert await _items(db) == []
    finally:
        await db.dispose()


# -- generation that keeps failing, then retry ---------------------------------------------------------


async def test_generation_that_keeps_failing_ends_failed_and_retry_finishes_it(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_claude: FakeAnthropic) -> None:
    settings = vendor_settings(make_settings, claude=fake_claude, outbox_max_attempts=2,
                               outbox_backoff_seconds=0.05, breaker_failure_threshold=100)
    client = await make_client(settings)
    account = await register(client)
    fake_claude.always(Reply.error(500))
    response = await client.post("/api/quotes/generate", json={"description": DESCRIPTION}, headers=account.headers)
    assert response.status_code == 202
    quote_id = response.json()["id"]

    failed = await wait_quote(client, account, quote_id, "failed")
    assert failed["error"] and failed["error"].endswith(".")
    assert "500" not in failed["error"] and "api_error" not in failed["error"]
    assert len(fake_claude.message_calls()) == 9  # the request's 3 calls, then 2 outbox attempts of 3

    fake_claude.always(Reply.ok())
    retried = await client.post(f"/api/quotes/{quote_id}/retry", headers=account.headers)
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "processing" and retried.json()["error"] is None
    done = await wait_quote(client, account, quote_id, "draft")
    assert done["subtotal"] == VALID_SUBTOTAL and len(done["line_items"]) == 2 and done["error"] is None

    again = await client.post(f"/api/quotes/{quote_id}/retry", headers=account.headers)
    assert_error(again, 409, "invalid_state")


async def test_retry_is_409_unless_failed_and_404_for_others(client: httpx.AsyncClient) -> None:
    account = await register(client)
    quote = await make_quote(client, account)
    assert_error(await client.post(f"/api/quotes/{quote['id']}/retry", headers=account.headers), 409, "invalid_state")
    other = await register(client)
    assert_error(await client.post(f"/api/quotes/{quote['id']}/retry", headers=other.headers), 404, "not_found")


# -- two worker processes against one PostgreSQL ----------------------------------------------------------


def _worker_env(database_url: str, tmp_path: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "OPENAI", "RESEND", "OUTBOX"))}
    env.update({
        "DATABASE_URL": database_url, "ENVIRONMENT": "test", "JWT_SECRET": "test-secret-" + "x" * 40,
        "LOG_FORMAT": "json", "OUTBOX_POLL_SECONDS": "0.05", "DB_POOL_SIZE": "3", "DB_MAX_OVERFLOW": "2",
        "STORAGE_PATH": str(tmp_path / "files"), "REDIS_URL": "", "PYTHONPATH": str(ROOT),
    })
    return env


async def test_two_worker_processes_process_200_items_exactly_once(
        database_url: str, db_backend: str, make_settings: Callable[..., Any], tmp_path: Any) -> None:
    if db_backend != "postgresql":
        pytest.skip("several processes share one outbox only on PostgreSQL (SQLite is one process)")
    settings = make_settings()
    db = Database(settings)
    workers: list[subprocess.Popen[str]] = []
    try:
        await _reset_tables(db)
        for _ in range(2):
            workers.append(subprocess.Popen(  # noqa: ASYNC220 - started once, then polled
                [sys.executable, "-m", "tests.support.outbox_marker_worker"], cwd=ROOT,
                env=_worker_env(database_url, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            ))

        # Both dispatchers are polling before the work arrives, so they compete for it.
        async def both_polling() -> bool:
            async with db.session() as session:
                count = await session.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'quoted' AND pid <> pg_backend_pid()"))
            return bool(count and count >= 2)

        await wait_for(both_polling, timeout=30, interval=0.1, what="two workers connected")
        ids = await _enqueue(db, 200, sleep=0.01)

        async def all_done() -> bool:
            async with db.session() as session:
                pending = await session.scalar(select(func.count()).select_from(OutboxItem)
                                               .where(OutboxItem.status != "done"))
            return pending == 0

        await wait_for(all_done, timeout=60, interval=0.1, what="200 items done")
        async with db.session() as session:
            rows = (await session.execute(text("SELECT item_id, worker FROM outbox_marker"))).all()
            attempts = set((await session.execute(select(OutboxItem.attempts))).scalars())
        assert len(rows) == 200
        assert sorted(r.item_id for r in rows) == sorted(str(i) for i in ids)  # each exactly once
        assert attempts == {1}  # and each claimed exactly once
        assert len({r.worker for r in rows}) == 2  # both processes took part
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for proc in workers:
            assert proc.returncode == 0, proc.stdout.read() if proc.stdout else ""
        await db.dispose()


async def test_an_unknown_kind_goes_dead_instead_of_looping(make_settings: Callable[..., Any]) -> None:
    settings = make_settings(**FAST)
    db = Database(settings)
    try:
        await _reset_tables(db)
        await _enqueue(db, 1, kind="nobody.handles.this")
        assert await _dispatcher(settings, db, {}).run_once() == 1
        (item,) = await _items(db)
        assert item.status == "dead" and "no handler" in (item.last_error or "")
        async with db.session() as session:  # and purge leaves dead items for a person to look at
            await session.execute(update(OutboxItem).values(done_at=utcnow() - timedelta(days=30)))
        assert await outbox.purge_done(db, older_than=utcnow() - timedelta(days=7)) == 0
    finally:
        await db.dispose()
