"""Quotes: generation with the local estimator, editing, listing, numbering."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import InvalidState
from backend.core.logging import get_logger
from backend.models import Contractor, Invoice, Quote
from backend.services import customer_service, pricing_learning, pricing_service
from backend.services.cache_service import Cache
from backend.services.contractor_cache import ContractorRef
from backend.services.estimator import estimate
from backend.services.line_items import LineInput, apply_totals, price_lines
from backend.services.queries import get_owned, keyset_page, owned

log = get_logger(__name__)

EDITABLE_STATUSES = frozenset({"draft", "sent", "viewed"})


async def next_number(session: AsyncSession, contractor: ContractorRef, *, counter: str) -> int:
    """Take the contractor's next document number atomically (Q-0001, INV-0001)."""
    column = getattr(Contractor, counter)
    stmt = (
        update(Contractor)
        .where(Contractor.id == contractor.id)
        .values({column: column + 1})
        .returning(column)
        .execution_options(synchronize_session=False)
    )
    return int((await session.execute(stmt)).scalar_one())


async def generate_quote(session: AsyncSession, contractor: ContractorRef, *, description: str,
                         customer_id: uuid.UUID | None, job_type: str | None) -> Quote:
    """Price a job description with the contractor's pricing brain; the quote starts as a draft."""
    await customer_service.ensure_customer(session, contractor, customer_id)
    rates = await pricing_service.rates_for(session, contractor)
    brain = await pricing_service.get_settings(session, contractor)
    result = estimate(description, categories=rates, trade=contractor.trade,
                      default_labor_rate=brain.default_labor_rate)
    priced = price_lines(result.lines, contractor.tax_rate)  # type: ignore[arg-type]
    quote = Quote(
        id=uuid.uuid4(),
        contractor_id=contractor.id,
        customer_id=customer_id,
        number=await next_number(session, contractor, counter="quote_counter"),
        status="draft",
        title=result.title[:200],
        description=description,
        job_type=job_type,
        tax_rate=contractor.tax_rate,
        currency=contractor.currency,
        valid_until=(datetime.now(UTC) + timedelta(days=contractor.quote_valid_days)).date(),
        estimated_days=result.estimated_days,
        crew_size=result.crew_size,
        confidence=result.confidence,
        questions=list(result.questions),
        generated_by="local",
    )
    apply_totals(quote, priced)
    session.add(quote)
    await session.flush()
    await session.refresh(quote)
    log.info("quote.generated", quote_id=str(quote.id), generated_by="local", lines=len(priced.items),
             total=str(quote.total))
    return quote


async def get_quote(session: AsyncSession, contractor: ContractorRef, quote_id: uuid.UUID,
                    *, for_update: bool = False) -> Quote:
    return await get_owned(session, Quote, contractor.id, quote_id, what="quote", for_update=for_update)


async def list_quotes(session: AsyncSession, contractor: ContractorRef, *, limit: int, cursor: str | None,
                      status: str | None = None,
                      customer_id: uuid.UUID | None = None) -> tuple[Sequence[Quote], str | None]:
    stmt = owned(Quote, contractor.id)
    if status is not None:
        stmt = stmt.where(Quote.status == status)
    if customer_id is not None:
        stmt = stmt.where(Quote.customer_id == customer_id)
    return await keyset_page(session, stmt, Quote, limit=limit, cursor=cursor)


async def update_quote(session: AsyncSession, contractor: ContractorRef, quote_id: uuid.UUID, *,
                       changes: dict[str, Any], line_items: Sequence[LineInput] | None,
                       cache: Cache) -> Quote:
    """Edit title, notes, customer, dates and line items; totals are recomputed here.

    Unit-price edits of stored lines are learned into the pricing brain (``pricing_learning``).
    """
    quote = await get_quote(session, contractor, quote_id, for_update=True)
    if quote.status not in EDITABLE_STATUSES:
        raise InvalidState(f"A quote that is {quote.status} cannot be edited.")
    if "customer_id" in changes:
        await customer_service.ensure_customer(session, contractor, changes["customer_id"])
    for field, value in changes.items():
        setattr(quote, field, value)
    if line_items is not None:
        priced = price_lines(line_items, quote.tax_rate)
        edits = pricing_learning.carry_item_keys(list(quote.line_items or []), priced.items)
        apply_totals(quote, priced)
        await pricing_learning.learn_from_edits(session, contractor, cache=cache, quote_id=quote.id, edits=edits)
    await session.flush()
    await session.refresh(quote)
    return quote


async def delete_quote(session: AsyncSession, contractor: ContractorRef, quote_id: uuid.UUID) -> None:
    quote = await get_quote(session, contractor, quote_id)
    invoiced = await session.scalar(select(Invoice.id).where(Invoice.quote_id == quote.id))
    if invoiced is not None:
        raise InvalidState("This quote has an invoice; delete the invoice first.")
    await session.delete(quote)
    await session.flush()
