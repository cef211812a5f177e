"""Invoices: made from quotes, edited while draft, marked paid."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import Conflict, InvalidState, RequestValidationFailed
from backend.core.logging import get_logger
from backend.models import Invoice
from backend.services.contractor_cache import ContractorRef
from backend.services.line_items import LineInput, apply_totals, price_lines
from backend.services.queries import get_owned, keyset_page, owned
from backend.services.quote_service import get_quote, next_number

log = get_logger(__name__)

INVOICEABLE_QUOTE_STATUSES = frozenset({"draft", "sent", "viewed", "accepted"})
PAYMENT_TERMS_DAYS = 30


async def create_from_quote(session: AsyncSession, contractor: ContractorRef, quote_id: uuid.UUID) -> Invoice:
    quote = await get_quote(session, contractor, quote_id, for_update=True)
    if quote.status not in INVOICEABLE_QUOTE_STATUSES:
        raise InvalidState(f"A quote that is {quote.status} cannot be invoiced.")
    if await session.scalar(select(Invoice.id).where(Invoice.quote_id == quote.id)) is not None:
        raise Conflict("This quote already has an invoice.")
    invoice = Invoice(
        id=uuid.uuid4(),
        contractor_id=contractor.id,
        quote_id=quote.id,
        customer_id=quote.customer_id,
        number=await next_number(session, contractor, counter="invoice_counter"),
        status="draft",
        line_items=list(quote.line_items),
        subtotal=quote.subtotal,
        tax_rate=quote.tax_rate,
        tax=quote.tax,
        total=quote.total,
        amount_paid=Decimal("0"),
        currency=quote.currency,
        notes=quote.notes,
        due_date=(datetime.now(UTC) + timedelta(days=PAYMENT_TERMS_DAYS)).date(),
    )
    try:
        async with session.begin_nested():
            session.add(invoice)
            await session.flush()
    except IntegrityError:  # a concurrent request invoiced the same quote first
        raise Conflict("This quote already has an invoice.") from None
    await session.refresh(invoice)
    log.info("invoice.created", invoice_id=str(invoice.id), quote_id=str(quote.id))
    return invoice


async def get_invoice(session: AsyncSession, contractor: ContractorRef, invoice_id: uuid.UUID,
                      *, for_update: bool = False) -> Invoice:
    return await get_owned(session, Invoice, contractor.id, invoice_id, what="invoice", for_update=for_update)


async def list_invoices(session: AsyncSession, contractor: ContractorRef, *, limit: int, cursor: str | None,
                        status: str | None = None) -> tuple[Sequence[Invoice], str | None]:
    stmt = owned(Invoice, contractor.id)
    if status is not None:
        stmt = stmt.where(Invoice.status == status)
    return await keyset_page(session, stmt, Invoice, limit=limit, cursor=cursor)


async def update_invoice(session: AsyncSession, contractor: ContractorRef, invoice_id: uuid.UUID, *,
                         changes: dict[str, Any], line_items: Sequence[LineInput] | None) -> Invoice:
    invoice = await get_invoice(session, contractor, invoice_id, for_update=True)
    if invoice.status in ("paid", "void"):
        raise InvalidState(f"An invoice that is {invoice.status} cannot be edited.")
    if line_items is not None:
        if invoice.status != "draft":
            raise InvalidState("Line items can only be edited while the invoice is a draft.")
        apply_totals(invoice, price_lines(line_items, invoice.tax_rate))
    for field, value in changes.items():
        setattr(invoice, field, value)
    await session.flush()
    await session.refresh(invoice)
    return invoice


async def mark_paid(session: AsyncSession, contractor: ContractorRef, invoice_id: uuid.UUID, *,
                    amount: Decimal | None, paid_at: datetime | None) -> Invoice:
    """Record a payment (the whole balance by default); fully paid → status ``paid``."""
    invoice = await get_invoice(session, contractor, invoice_id, for_update=True)
    if invoice.status in ("paid", "void"):
        raise InvalidState(f"This invoice is already {invoice.status}.")
    balance = invoice.total - invoice.amount_paid
    payment = balance if amount is None else amount
    if payment > balance:
        raise RequestValidationFailed(f"amount: {payment} is more than the balance due of {balance}.")
    invoice.amount_paid += payment
    if invoice.amount_paid >= invoice.total:
        invoice.status = "paid"
        when = paid_at or datetime.now(UTC)
        invoice.paid_at = when if when.tzinfo else when.replace(tzinfo=UTC)
    await session.flush()
    await session.refresh(invoice)
    log.info("invoice.payment", invoice_id=str(invoice.id), amount=str(payment), status=invoice.status)
    return invoice


async def delete_invoice(session: AsyncSession, contractor: ContractorRef, invoice_id: uuid.UUID) -> None:
    invoice = await get_invoice(session, contractor, invoice_id)
    if invoice.status == "paid":
        raise InvalidState("A paid invoice cannot be deleted; it is part of your records.")
    await session.delete(invoice)
    await session.flush()
