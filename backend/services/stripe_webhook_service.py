"""Applying verified Stripe webhook events, exactly once (PAY-001).

Stripe delivers at least once, sometimes concurrently and out of order. Each
delivery runs one transaction:

1. ``INSERT INTO stripe_events (id, …, status 'processing') ON CONFLICT DO
   NOTHING`` — on PostgreSQL a concurrent delivery's insert of the same id
   *waits* for the first transaction to end;
2. ``SELECT … FOR UPDATE`` the event row — a duplicate waits here until the
   delivery holding it has committed or rolled back (SQLite serializes whole
   write transactions instead, ``BEGIN IMMEDIATE``);
3. already ``processed`` → answered ``duplicate`` (200) without applying it;
   otherwise the handler applies it and the row becomes ``processed`` in the
   same transaction, then it commits — so a 200 never precedes the change.

If the handler fails, everything rolls back, ``last_error`` is recorded in a
separate transaction (the row stays ``processing``), and the answer is 500:
Stripe's retry reprocesses it.

Handlers read the event payload only (no call back to Stripe, so a Stripe
outage cannot fail a delivery) and lock the contractor row. Ordering guard:
``contractors.subscription_event_at`` keeps the ``created`` time of the last
applied subscription change; an older event is acknowledged as ``stale`` and
changes nothing (an event with the same second is applied: ``created`` has
one-second resolution).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.errors import WebhookProcessingFailed
from backend.core.logging import get_logger
from backend.models import Contractor, StripeEvent
from backend.models.base import utcnow
from backend.services.billing_plans import PLANS, plan_for_price
from backend.services.billing_service import VerifiedEvent
from backend.services.cache_service import Cache, run_after_commit
from backend.services.contractor_cache import invalidate_contractor
from backend.services.database import Database

log = get_logger(__name__)

Handler = Callable[[AsyncSession, Cache, Settings, VerifiedEvent], Awaitable[str]]


# -- finding the contractor ------------------------------------------------------------------------


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _stripe_id(value: Any) -> str | None:
    """An id field that may be expanded into an object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


async def _locked_contractor(session: AsyncSession, *, contractor_id: uuid.UUID | None = None,
                             customer_id: str | None = None) -> Contractor | None:
    if contractor_id is not None:
        found = (await session.execute(
            select(Contractor).where(Contractor.id == contractor_id).with_for_update()
        )).scalar_one_or_none()
        if found is not None:
            return found
    if customer_id is not None:
        return (await session.execute(
            select(Contractor).where(Contractor.stripe_customer_id == customer_id).with_for_update().limit(1)
        )).scalar_one_or_none()
    return None


# -- applying a subscription change ----------------------------------------------------------------


def _is_stale(contractor: Contractor, event: VerifiedEvent) -> bool:
    last = contractor.subscription_event_at
    return last is not None and event.created < last


async def _apply(session: AsyncSession, cache: Cache, contractor: Contractor, event: VerifiedEvent, *,
                 plan: str | None = None, status: str | None = None, period_end: datetime | None = None,
                 customer_id: str | None = None, subscription_id: str | None = None) -> str:
    if customer_id and not contractor.stripe_customer_id:
        contractor.stripe_customer_id = customer_id
    if _is_stale(contractor, event):
        return "stale"
    if subscription_id:
        contractor.stripe_subscription_id = subscription_id
    if plan is not None:
        contractor.plan = plan
    if status is not None:
        if status == "past_due":
            if contractor.subscription_status != "past_due" or contractor.past_due_since is None:
                contractor.past_due_since = event.created
        else:
            contractor.past_due_since = None
        contractor.subscription_status = status
    if period_end is not None:
        contractor.current_period_end = period_end
    contractor.subscription_event_at = event.created
    await session.flush()
    await invalidate_contractor(cache, contractor.id, session=session)
    log.info("billing.subscription_changed", contractor_id=str(contractor.id), plan=contractor.plan,
             status=contractor.subscription_status, event_id=event.id)
    return "applied"


def _valid_plan(value: Any) -> str | None:
    return value if isinstance(value, str) and value in PLANS else None


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) and not isinstance(value, bool) else None


def _subscription_items(subscription: dict[str, Any]) -> list[dict[str, Any]]:
    items = subscription.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _plan_of_subscription(settings: Settings, subscription: dict[str, Any]) -> str | None:
    """``metadata.plan``, else the first item price that is one of ``STRIPE_PRICE_*``."""
    plan = _valid_plan(_metadata(subscription).get("plan"))
    if plan is not None:
        return plan
    for item in _subscription_items(subscription):
        price = item.get("price")
        plan = plan_for_price(settings, _stripe_id(price))
        if plan is not None:
            return plan
    return None


def _period_end(subscription: dict[str, Any]) -> datetime | None:
    """Since API 2025-03-31 the period lives on the items; older versions put it on the subscription."""
    ends = [end for item in _subscription_items(subscription) if (end := _timestamp(item.get("current_period_end")))]
    return max(ends) if ends else _timestamp(subscription.get("current_period_end"))


# -- handlers ----------------------------------------------------------------------------------------


async def on_checkout_completed(session: AsyncSession, cache: Cache, settings: Settings,
                                event: VerifiedEvent) -> str:
    obj = event.obj
    customer_id = _stripe_id(obj.get("customer"))
    contractor = await _locked_contractor(session, contractor_id=_as_uuid(obj.get("client_reference_id")),
                                          customer_id=customer_id)
    if contractor is None:
        return "unknown_contractor"
    return await _apply(session, cache, contractor, event, plan=_valid_plan(_metadata(obj).get("plan")),
                        status="active", customer_id=customer_id,
                        subscription_id=_stripe_id(obj.get("subscription")))


async def on_subscription_changed(session: AsyncSession, cache: Cache, settings: Settings,
                                  event: VerifiedEvent) -> str:
    obj = event.obj
    customer_id = _stripe_id(obj.get("customer"))
    contractor = await _locked_contractor(session, customer_id=customer_id,
                                          contractor_id=_as_uuid(_metadata(obj).get("contractor_id")))
    if contractor is None:
        return "unknown_contractor"
    status = "canceled" if event.type == "customer.subscription.deleted" else obj.get("status")
    return await _apply(session, cache, contractor, event, plan=_plan_of_subscription(settings, obj),
                        status=status if isinstance(status, str) and status else None,
                        period_end=_period_end(obj), customer_id=customer_id, subscription_id=_stripe_id(obj.get("id")))


async def _on_invoice(session: AsyncSession, cache: Cache, event: VerifiedEvent, status: str) -> str:
    obj = event.obj
    contractor = await _locked_contractor(session, customer_id=_stripe_id(obj.get("customer")))
    if contractor is None:
        return "unknown_contractor"
    if contractor.subscription_status == "canceled" or contractor.stripe_subscription_id is None:
        return "ignored"  # an invoice cannot revive a canceled subscription or start one
    return await _apply(session, cache, contractor, event, status=status)


async def on_invoice_paid(session: AsyncSession, cache: Cache, settings: Settings, event: VerifiedEvent) -> str:
    return await _on_invoice(session, cache, event, "active")


async def on_invoice_failed(session: AsyncSession, cache: Cache, settings: Settings, event: VerifiedEvent) -> str:
    return await _on_invoice(session, cache, event, "past_due")


async def acknowledge(session: AsyncSession, cache: Cache, settings: Settings, event: VerifiedEvent) -> str:
    return "ignored"


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": on_checkout_completed,
    "customer.subscription.created": on_subscription_changed,
    "customer.subscription.updated": on_subscription_changed,
    "customer.subscription.deleted": on_subscription_changed,
    "invoice.payment_succeeded": on_invoice_paid,
    "invoice.payment_failed": on_invoice_failed,
}


# -- the delivery ------------------------------------------------------------------------------------


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def _claim(session: AsyncSession, event: VerifiedEvent) -> StripeEvent:
    """The event's row, inserted if new, locked until this transaction ends."""
    await session.execute(
        _insert(session)(StripeEvent)
        .values(id=event.id, type=event.type, status="processing", created=event.created, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return (await session.execute(
        select(StripeEvent).where(StripeEvent.id == event.id).with_for_update()
        .execution_options(populate_existing=True)
    )).scalar_one()


async def _apply_once(session: AsyncSession, cache: Cache, settings: Settings, event: VerifiedEvent) -> str:
    row = await _claim(session, event)
    if row.status == "processed":
        return "duplicate"
    outcome = await HANDLERS.get(event.type, acknowledge)(session, cache, settings, event)
    row.status = "processed"
    row.outcome = outcome
    row.processed_at = utcnow()
    row.last_error = None
    await session.flush()
    return outcome


async def _record_failure(db: Database, event: VerifiedEvent, error: BaseException) -> None:
    """Keep the failure on the (unprocessed) row, for whoever looks; best effort."""
    message = f"{type(error).__name__}: {error}"[:1000]
    try:
        async with db.session() as session:
            await session.execute(
                _insert(session)(StripeEvent)
                .values(id=event.id, type=event.type, status="processing", created=event.created,
                        received_at=utcnow(), last_error=message)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            await session.execute(
                update(StripeEvent).where(StripeEvent.id == event.id, StripeEvent.status != "processed")
                .values(last_error=message).execution_options(synchronize_session=False)
            )
    except Exception:  # the delivery already failed; Stripe retries it either way
        log.exception("stripe.event_failure_not_recorded", event_id=event.id)


async def process_event(db: Database, cache: Cache, settings: Settings, event: VerifiedEvent) -> str:
    """Apply ``event`` at most once; its outcome, or 500 (not marked processed) when applying fails."""
    started = time.perf_counter()
    try:
        async with db.session() as session:
            outcome = await _apply_once(session, cache, settings, event)
        await run_after_commit(session)
    except Exception as error:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        log.error("stripe.event", event_id=event.id, type=event.type, outcome="failed", duration_ms=duration_ms,
                  error_type=type(error).__name__, exc_info=True)
        await _record_failure(db, event, error)
        raise WebhookProcessingFailed() from error
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    log.info("stripe.event", event_id=event.id, type=event.type, outcome=outcome, duration_ms=duration_ms)
    return outcome
