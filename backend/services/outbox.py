"""The durable outbox and its dispatcher (SPEC §1 "deferred work is durable").

Writing: :func:`enqueue` adds an ``outbox`` row to the caller's session, so
it commits (or rolls back) together with the request's own writes.

Claiming: a dispatcher takes up to ``batch_size`` due rows in one short
transaction — ``SELECT id … WHERE status IN ('pending','processing') AND
next_attempt_at <= now ORDER BY next_attempt_at LIMIT n FOR UPDATE SKIP
LOCKED`` then ``UPDATE … SET status='processing', locked_by=me,
locked_until=now+lease, attempts=attempts+1``. On PostgreSQL, SKIP LOCKED
lets any number of dispatchers (gunicorn workers, replicas,
``python -m backend.worker``) claim disjoint rows without waiting on each
other. SQLite ignores ``FOR UPDATE``; there the transaction's ``BEGIN
IMMEDIATE`` write lock makes the claim atomic (the embedded default is one
process anyway). A claimed row's ``next_attempt_at`` is its lease end, so a
dispatcher that died mid-item leaves a row that becomes due again when the
lease runs out — the attempt it used still counts (a poison item cannot crash
workers forever).

Finishing: a handler does its reads and vendor calls outside any
transaction, then writes its result in :meth:`OutboxContext.finishing`, whose
transaction also marks the row ``done`` — conditionally on this dispatcher
still holding the lease. The effect and the "done" commit together or not at
all, so an item's effect happens exactly once even when two dispatchers
raced for an expired lease. Handlers are idempotent on top of that (a quote
that is no longer ``processing`` is left alone; an email carries its outbox
id as the vendor's idempotency key).

Failing: the attempt's error goes to ``last_error`` and the row is due again
after ``OUTBOX_BACKOFF_SECONDS × 2^(attempts-1)`` (with a little jitter,
capped at six hours); after ``OUTBOX_MAX_ATTEMPTS`` it is ``dead`` and the
handler's ``on_dead`` runs in the same transaction (the quote becomes
``failed``, the delivery ``failed``). A permanent error — a vendor 4xx, a
domain error — is dead at once. An open circuit breaker is not the item's
fault: the row is put back until the breaker lets a trial call through,
without using an attempt.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.errors import AppError, ServiceUnavailable, VendorUnavailable
from backend.core.logging import get_logger
from backend.models import OutboxItem
from backend.models.base import utcnow
from backend.services.database import Database
from backend.services.retry import VendorRejected
from backend.services.storage_service import Storage
from backend.services.vendors import Vendors

log = get_logger(__name__)

DEFAULT_BATCH_SIZE = 10
# Longer than any handler takes (three vendor attempts with their timeouts and waits).
DEFAULT_LEASE_SECONDS = 300.0
MAX_BACKOFF_SECONDS = 6 * 3600.0
DONE_RETENTION = timedelta(days=7)
PURGE_INTERVAL_SECONDS = 3600.0
# Literal predicates, the same as the partial indexes' (a bound parameter would hide them from the planner).
_ACTIVE = text("outbox.status IN ('pending', 'processing')")  # ix_outbox_due
_DONE = text("outbox.status = 'done'")  # ix_outbox_done_at


class PermanentFailure(Exception):
    """The item can never succeed as it is: it is dead at once. ``message`` is for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LeaseLost(Exception):
    """Another dispatcher took the item over (our lease ran out): our result is discarded."""


@dataclass
class ClaimedItem:
    id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempts: int  # including the current one
    subject_id: uuid.UUID | None
    contractor_id: uuid.UUID | None
    finished: bool = field(default=False, compare=False)


@dataclass
class OutboxContext:
    """What handlers get: the database, the vendors and storage of this process."""

    db: Database
    settings: Settings
    vendors: Vendors
    storage: Storage
    worker_id: str

    @asynccontextmanager
    async def finishing(self, item: ClaimedItem) -> AsyncIterator[AsyncSession]:
        """A transaction for the handler's result that also marks the item done (or rolls back whole)."""
        async with self.db.session() as session:
            yield session
            await _mark_done(session, item, self.worker_id)
        item.finished = True


Run = Callable[[OutboxContext, ClaimedItem], Awaitable[None]]
OnDead = Callable[[AsyncSession, ClaimedItem, BaseException], Awaitable[None]]


@dataclass(frozen=True)
class Handler:
    run: Run
    on_dead: OnDead | None = None


# -- writing -------------------------------------------------------------------------------


def enqueue(session: AsyncSession, *, kind: str, payload: dict[str, Any], subject_id: uuid.UUID | None = None,
            contractor_id: uuid.UUID | None = None, delay_seconds: float = 0.0) -> OutboxItem:
    """Add an item to the caller's unit of work: it exists only if the caller's transaction commits."""
    now = utcnow()
    item = OutboxItem(id=uuid.uuid4(), kind=kind, payload=payload, status="pending", attempts=0,
                      next_attempt_at=now + timedelta(seconds=delay_seconds), subject_id=subject_id,
                      contractor_id=contractor_id, created_at=now, updated_at=now)
    session.add(item)
    log.info("outbox.enqueued", item_id=str(item.id), kind=kind, delay=delay_seconds)
    return item


async def requeue_dead(session: AsyncSession, *, kind: str, subject_id: uuid.UUID) -> bool:
    """Give the newest dead item of ``kind`` about ``subject_id`` a fresh set of attempts; False if none."""
    newest = (
        select(OutboxItem.id)
        .where(OutboxItem.kind == kind, OutboxItem.subject_id == subject_id, OutboxItem.status == "dead")
        .order_by(OutboxItem.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    now = utcnow()
    result = await session.execute(
        update(OutboxItem).where(OutboxItem.id == newest)
        .values(status="pending", attempts=0, next_attempt_at=now, last_error=None, locked_by=None,
                locked_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# -- claiming and settling --------------------------------------------------------------------


async def claim(db: Database, *, worker_id: str, batch_size: int = DEFAULT_BATCH_SIZE,
                lease_seconds: float = DEFAULT_LEASE_SECONDS) -> list[ClaimedItem]:
    """Claim up to ``batch_size`` due items for ``worker_id`` (SKIP LOCKED on PostgreSQL)."""
    now = utcnow()
    lease_until = now + timedelta(seconds=lease_seconds)
    async with db.session() as session:
        due = (
            select(OutboxItem.id)
            .where(_ACTIVE, OutboxItem.next_attempt_at <= now)
            .order_by(OutboxItem.next_attempt_at)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        ids = list((await session.execute(due)).scalars())
        if not ids:
            return []
        claimed = await session.execute(
            update(OutboxItem).where(OutboxItem.id.in_(ids))
            .values(status="processing", locked_by=worker_id, locked_until=lease_until,
                    next_attempt_at=lease_until, attempts=OutboxItem.attempts + 1, updated_at=now)
            .returning(OutboxItem.id, OutboxItem.kind, OutboxItem.payload, OutboxItem.attempts,
                       OutboxItem.subject_id, OutboxItem.contractor_id)
            .execution_options(synchronize_session=False)
        )
        return [ClaimedItem(id=row.id, kind=row.kind, payload=dict(row.payload or {}), attempts=row.attempts,
                            subject_id=row.subject_id, contractor_id=row.contractor_id) for row in claimed]


def _held(item: ClaimedItem, worker_id: str) -> Any:
    return (OutboxItem.id == item.id) & (OutboxItem.locked_by == worker_id) & (OutboxItem.status == "processing")


async def _mark_done(session: AsyncSession, item: ClaimedItem, worker_id: str) -> None:
    now = utcnow()
    result = await session.execute(
        update(OutboxItem).where(_held(item, worker_id))
        .values(status="done", done_at=now, locked_by=None, locked_until=None, last_error=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(str(item.id))


def backoff_seconds(base: float, attempts: int) -> float:
    """base × 2^(attempts-1), capped, plus up to 10 % jitter so a burst does not retry in lockstep."""
    delay = min(MAX_BACKOFF_SECONDS, base * (2 ** max(0, attempts - 1)))
    return delay * (1 + secrets.randbelow(100) / 1000)


def _describe(error: BaseException) -> str:
    detail = getattr(error, "message", None) or str(error) or type(error).__name__
    return f"{type(error).__name__}: {detail}"[:2000]


def is_permanent(error: BaseException) -> bool:
    """A 4xx from a vendor, a domain error, or an explicit PermanentFailure: trying again cannot help."""
    if isinstance(error, PermanentFailure | VendorRejected):
        return True
    return isinstance(error, AppError) and not isinstance(error, ServiceUnavailable)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


class Dispatcher:
    """Claims due items and runs their handlers until stopped; one per process (or several: they share nothing)."""

    def __init__(self, ctx: OutboxContext, handlers: Mapping[str, Handler], *, poll_seconds: float,
                 max_attempts: int, backoff_base: float, batch_size: int = DEFAULT_BATCH_SIZE,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.ctx = ctx
        self.handlers = dict(handlers)
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_purge = 0.0
        # INFRA-010: told (kind, item id, error) when an item goes dead; the app wires a warning alert.
        self.on_item_dead: Callable[..., None] | None = None

    @classmethod
    def from_settings(cls, ctx: OutboxContext, handlers: Mapping[str, Handler]) -> Dispatcher:
        s = ctx.settings
        return cls(ctx, handlers, poll_seconds=s.outbox_poll_seconds, max_attempts=s.outbox_max_attempts,
                   backoff_base=s.outbox_backoff_seconds)

    @property
    def worker_id(self) -> str:
        return self.ctx.worker_id

    def wake(self) -> None:
        """Poll now instead of at the next interval (e.g. right after enqueueing)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current batch, then return from :meth:`run_forever`."""
        self._stopping = True
        self._wake.set()

    async def run_forever(self) -> None:
        log.info("outbox.dispatcher_started", worker=self.worker_id, poll_seconds=self.poll_seconds)
        while not self._stopping:
            try:
                processed = await self.run_once()
                await self._purge_if_due()
            except Exception:  # the database is down, say: keep polling, it will come back
                log.warning("outbox.poll_failed", worker=self.worker_id, exc_info=True)
                processed = 0
            if processed == 0 and not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                except TimeoutError:
                    pass
                self._wake.clear()
        log.info("outbox.dispatcher_stopped", worker=self.worker_id)

    async def run_once(self) -> int:
        """Claim one batch and process it; the number of items claimed."""
        items = await claim(self.ctx.db, worker_id=self.worker_id, batch_size=self.batch_size,
                            lease_seconds=self.lease_seconds)
        if items:
            await asyncio.gather(*(self._process(item) for item in items))
        return len(items)

    async def _process(self, item: ClaimedItem) -> None:
        handler = self.handlers.get(item.kind)
        try:
            if handler is None:
                raise PermanentFailure(f"no handler for outbox kind {item.kind!r}")
            await handler.run(self.ctx, item)
            if not item.finished:
                async with self.ctx.db.session() as session:
                    await _mark_done(session, item, self.worker_id)
            log.info("outbox.done", item_id=str(item.id), kind=item.kind, attempts=item.attempts)
        except LeaseLost:
            log.warning("outbox.lease_lost", item_id=str(item.id), kind=item.kind)
        except VendorUnavailable as error:
            # An open breaker: not this item's fault, so no attempt is used up.
            await self._settle(item, handler, error, retry_in=float(error.headers.get("Retry-After", 1)),
                               consume_attempt=False)
        except Exception as error:  # noqa: BLE001 - every failure is recorded on the item and retried or dead
            await self._settle(item, handler, error)

    async def _settle(self, item: ClaimedItem, handler: Handler | None, error: BaseException, *,
                      retry_in: float | None = None, consume_attempt: bool = True) -> None:
        now = utcnow()
        dead = consume_attempt and (is_permanent(error) or item.attempts >= self.max_attempts)
        if dead:
            values: dict[str, Any] = {"status": "dead"}
        else:
            delay = retry_in if retry_in is not None else backoff_seconds(self.backoff_base, item.attempts)
            values = {"status": "pending", "next_attempt_at": now + timedelta(seconds=delay)}
            if not consume_attempt:
                values["attempts"] = OutboxItem.attempts - 1
        values.update(last_error=_describe(error), locked_by=None, locked_until=None, updated_at=now)
        try:
            async with self.ctx.db.session() as session:
                result = await session.execute(
                    update(OutboxItem).where(_held(item, self.worker_id)).values(**values)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    log.warning("outbox.lease_lost", item_id=str(item.id), kind=item.kind)
                    return
                if dead and handler is not None and handler.on_dead is not None:
                    await handler.on_dead(session, item, error)
        except Exception:
            # The lease runs out and the item is claimed again: nothing is lost.
            log.warning("outbox.settle_failed", item_id=str(item.id), kind=item.kind, exc_info=True)
            return
        event = "outbox.dead" if dead else ("outbox.deferred" if not consume_attempt else "outbox.retry_scheduled")
        log.warning(event, item_id=str(item.id), kind=item.kind, attempts=item.attempts,
                    max_attempts=self.max_attempts, error=_describe(error),
                    next_attempt_at=None if dead else values["next_attempt_at"].isoformat())
        if dead and self.on_item_dead is not None:
            try:
                self.on_item_dead(kind=item.kind, item_id=str(item.id), error=_describe(error))
            except Exception:  # a broken alert hook must never stop the dispatcher
                log.exception("outbox.dead_hook_failed", item_id=str(item.id))

    async def _purge_if_due(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        if loop_now - self._last_purge < PURGE_INTERVAL_SECONDS:
            return
        self._last_purge = loop_now
        await purge_done(self.ctx.db, older_than=utcnow() - DONE_RETENTION)


async def purge_done(db: Database, *, older_than: datetime) -> int:
    """Delete done items finished before ``older_than`` (idempotent: any number of workers may run it)."""
    async with db.session() as session:
        result = await session.execute(
            delete(OutboxItem).where(_DONE, OutboxItem.done_at < older_than)
        )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        log.info("outbox.purged", count=count)
    return count
