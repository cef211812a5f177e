"""The plan quota on quote generation (PAY-001), race-free.

A generated quote takes one unit of its contractor's ``quote_usage`` row for
the current period with a single conditional statement::

    UPDATE quote_usage SET used = used + 1
     WHERE contractor_id = :c AND period = :p AND used < :limit

in the same transaction that inserts the quote. PostgreSQL re-checks the
``WHERE`` after a concurrent increment commits (the second updater waits on
the row lock), and SQLite's write transactions are serialized
(``BEGIN IMMEDIATE``): two generations at quota − 1 cannot both pass — the
one whose update touched no row gets 402 ``quota_exceeded``.

What counts: every quote that is created — a ``draft`` (201), and a
``processing`` one (202) whose generation finishes later. A quote whose
deferred generation finally fails still counts (``POST /quotes/{id}/retry``
does not count again, and deleting a quote does not give the unit back).
A request that fails before its quote is committed counts nothing: the
increment rolls back with it.

:func:`check_quota` is the cheap, unlocked pre-check run before a slow vendor
call (so an over-quota request never pays for Claude or Whisper);
:func:`consume_quote` is the authoritative one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import QuotaExceeded
from backend.core.logging import get_logger
from backend.models import Contractor, QuoteUsage
from backend.models.base import utcnow
from backend.services.billing_plans import Entitlement, QuotaRules, entitlement

log = get_logger(__name__)


@dataclass(frozen=True)
class BillingColumns:
    plan: str
    subscription_status: str
    trial_ends_at: datetime | None
    past_due_since: datetime | None
    current_period_end: datetime | None


async def billing_columns(session: AsyncSession, contractor_id: uuid.UUID) -> BillingColumns:
    """The contractor's billing columns, read fresh (never from the cached snapshot)."""
    row = (await session.execute(
        select(Contractor.plan, Contractor.subscription_status, Contractor.trial_ends_at,
               Contractor.past_due_since, Contractor.current_period_end)
        .where(Contractor.id == contractor_id)
    )).one()
    return BillingColumns(plan=row.plan, subscription_status=row.subscription_status,
                          trial_ends_at=row.trial_ends_at, past_due_since=row.past_due_since,
                          current_period_end=row.current_period_end)


async def current_entitlement(session: AsyncSession, contractor_id: uuid.UUID, rules: QuotaRules,
                              now: datetime | None = None) -> tuple[BillingColumns, Entitlement]:
    columns = await billing_columns(session, contractor_id)
    return columns, entitlement(columns, rules, now or utcnow())


async def quotes_used(session: AsyncSession, contractor_id: uuid.UUID, period: str) -> int:
    used = (await session.execute(
        select(QuoteUsage.used).where(QuoteUsage.contractor_id == contractor_id, QuoteUsage.period == period)
    )).scalar_one_or_none()
    return int(used or 0)


def _refuse(contractor_id: uuid.UUID, allowed: Entitlement, sentence: str, *, reason: str) -> QuotaExceeded:
    log.info("billing.quota_exceeded", contractor_id=str(contractor_id), plan=allowed.plan_name,
             period=allowed.period, limit=allowed.limit, reason=reason)
    return QuotaExceeded(sentence)


async def check_quota(session: AsyncSession, contractor_id: uuid.UUID, rules: QuotaRules) -> None:
    """Raise 402 if the contractor could not generate a quote now (unlocked pre-check)."""
    _, allowed = await current_entitlement(session, contractor_id, rules)
    if allowed.refusal is not None:
        raise _refuse(contractor_id, allowed, allowed.refusal, reason="plan")
    if await quotes_used(session, contractor_id, allowed.period) >= allowed.limit:
        raise _refuse(contractor_id, allowed, allowed.exhausted_sentence(), reason="quota")


async def consume_quote(session: AsyncSession, contractor_id: uuid.UUID, rules: QuotaRules) -> None:
    """Take one quote of the current period's quota in this transaction, or raise 402."""
    _, allowed = await current_entitlement(session, contractor_id, rules)
    if allowed.refusal is not None:
        raise _refuse(contractor_id, allowed, allowed.refusal, reason="plan")
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(QuoteUsage)
        .values(contractor_id=contractor_id, period=allowed.period, used=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["contractor_id", "period"])
    )
    result = await session.execute(
        update(QuoteUsage)
        .where(QuoteUsage.contractor_id == contractor_id, QuoteUsage.period == allowed.period,
               QuoteUsage.used < allowed.limit)
        .values(used=QuoteUsage.used + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise _refuse(contractor_id, allowed, allowed.exhausted_sentence(), reason="quota")
