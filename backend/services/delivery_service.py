"""Emailing quotes and invoices through the outbox.

``send_quote`` / ``send_invoice`` render the email, record an
``email_deliveries`` row (``queued``) and enqueue an ``email.send`` item in
the request's transaction; the request answers 202. The dispatcher sends it
(Resend, or the log without ``RESEND_API_KEY``) with retries; the delivery
becomes ``sent`` — and a ``draft`` document becomes ``sent`` — in the same
transaction that marks the item done, or ``failed`` when the item goes dead.
The document's ``last_delivery`` shows that record.

The email links to the document's public page. Share tokens are stored only
as hashes, so an existing link cannot be read back: when the document has no
link yet, sending creates one and the email carries it; when it already has
one, the email goes without a link rather than revoking the one the customer
may already hold.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import InvalidState, RequestValidationFailed
from backend.core.logging import get_logger
from backend.core.money import format_money
from backend.models import Customer, EmailDelivery, Invoice, Quote
from backend.models.base import utcnow
from backend.services import invoice_service, outbox, quote_service, share_service
from backend.services.contractor_cache import ContractorRef
from backend.services.email_service import DocumentEmail, EmailMessage, mask_email, render_document_email
from backend.services.outbox import ClaimedItem, Handler, OutboxContext

log = get_logger(__name__)

EMAIL_KIND = "email.send"
UNSENDABLE_QUOTE_STATUSES = frozenset({"processing", "failed"})
DELIVERY_FAILED = "The email could not be delivered after several tries; check the address and send it again."


async def _recipient(session: AsyncSession, contractor: ContractorRef, customer_id: uuid.UUID | None,
                     given: str | None, what: str) -> tuple[str, Customer | None]:
    customer = await session.get(Customer, customer_id) if customer_id is not None else None
    if customer is not None and customer.contractor_id != contractor.id:
        customer = None
    recipient = given or (customer.email if customer is not None else None)
    if not recipient:
        raise RequestValidationFailed(
            f"email: this {what}'s customer has no email address; give the address to send it to."
        )
    return recipient, customer


def _lines(document: Quote | Invoice) -> list[tuple[str, str]]:
    return [(str(item.get("name", "")), format_money(Decimal(str(item.get("amount", "0")))))
            for item in document.line_items]


async def _queue(session: AsyncSession, contractor: ContractorRef, *, document: Quote | Invoice, kind: str,
                 recipient: str, customer: Customer | None, link: str | None) -> EmailDelivery:
    subject, html_body, text_body = render_document_email(DocumentEmail(
        kind=kind, number=document.display_number, title=getattr(document, "title", "") or "",
        business_name=contractor.business_name, customer_name=customer.name if customer else None,
        currency=document.currency, total=format_money(document.total), lines=_lines(document), link=link,
    ))
    delivery = EmailDelivery(
        id=uuid.uuid4(), contractor_id=contractor.id, to_address=recipient, subject=subject, status="queued",
        attempts=0, quote_id=document.id if kind == "quote" else None,
        invoice_id=document.id if kind == "invoice" else None,
    )
    session.add(delivery)
    payload: dict[str, Any] = {"delivery_id": str(delivery.id), "to": recipient, "subject": subject,
                               "html": html_body, "text": text_body, "reply_to": contractor.email}
    outbox.enqueue(session, kind=EMAIL_KIND, payload=payload, subject_id=delivery.id, contractor_id=contractor.id)
    await session.flush()
    await session.refresh(document)  # its deliveries now include this one
    log.info("email.queued", delivery_id=str(delivery.id), document=kind, document_id=str(document.id),
             to=mask_email(recipient), link=link is not None)
    return delivery


async def send_quote(session: AsyncSession, contractor: ContractorRef, quote_id: uuid.UUID, *,
                     email: str | None, public_base_url: str) -> Quote:
    """Queue the quote's email (to ``email`` or the customer's address); 202 semantics."""
    quote = await quote_service.get_quote(session, contractor, quote_id, for_update=True)
    if quote.status in UNSENDABLE_QUOTE_STATUSES:
        raise InvalidState(f"A quote that is {quote.status} cannot be sent yet; wait until it is generated.")
    recipient, customer = await _recipient(session, contractor, quote.customer_id, email, "quote")
    link = None
    if quote.share_token_hash is None:
        link = (await share_service.share_quote(session, contractor, quote_id=quote.id,
                                                public_base_url=public_base_url)).url
    await _queue(session, contractor, document=quote, kind="quote", recipient=recipient, customer=customer, link=link)
    return quote


async def send_invoice(session: AsyncSession, contractor: ContractorRef, invoice_id: uuid.UUID, *,
                       email: str | None, public_base_url: str) -> Invoice:
    """Queue the invoice's email (to ``email`` or the customer's address); 202 semantics."""
    invoice = await invoice_service.get_invoice(session, contractor, invoice_id, for_update=True)
    if invoice.status == "void":
        raise InvalidState("A void invoice cannot be sent.")
    recipient, customer = await _recipient(session, contractor, invoice.customer_id, email, "invoice")
    link = None
    if invoice.share_token_hash is None:
        link = (await share_service.share_invoice(session, contractor, invoice_id=invoice.id,
                                                  public_base_url=public_base_url)).url
    await _queue(session, contractor, document=invoice, kind="invoice", recipient=recipient, customer=customer,
                 link=link)
    return invoice


# -- the outbox handler ---------------------------------------------------------------------------


async def run_email(ctx: OutboxContext, item: ClaimedItem) -> None:
    """Send one queued email; idempotent (a sent delivery is not sent again)."""
    delivery_id = uuid.UUID(item.payload["delivery_id"])
    async with ctx.db.session() as session:
        delivery = await session.get(EmailDelivery, delivery_id)
        if delivery is None or delivery.status == "sent":
            return
        delivery.attempts = item.attempts  # shown in last_delivery while it is still queued
    message = EmailMessage(to=item.payload["to"], subject=item.payload["subject"], html=item.payload["html"],
                           text=item.payload["text"], reply_to=item.payload.get("reply_to"))
    # The outbox id as idempotency key: a retry after a lost answer does not send a second email.
    provider_id = await ctx.vendors.email.send(message, idempotency_key=str(item.id))
    async with ctx.finishing(item) as session:
        now = utcnow()
        await session.execute(
            update(EmailDelivery).where(EmailDelivery.id == delivery_id)
            .values(status="sent", provider_id=provider_id, sent_at=now, attempts=item.attempts, last_error=None,
                    updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if delivery.quote_id is not None:
            await session.execute(
                update(Quote).where(Quote.id == delivery.quote_id, Quote.status == "draft")
                .values(status="sent", updated_at=now).execution_options(synchronize_session=False)
            )
        if delivery.invoice_id is not None:
            await session.execute(
                update(Invoice).where(Invoice.id == delivery.invoice_id, Invoice.status == "draft")
                .values(status="sent", updated_at=now).execution_options(synchronize_session=False)
            )


async def on_email_dead(session: AsyncSession, item: ClaimedItem, error: BaseException) -> None:
    now = utcnow()
    await session.execute(
        update(EmailDelivery).where(EmailDelivery.id == uuid.UUID(item.payload["delivery_id"]),
                                    EmailDelivery.status != "sent")
        .values(status="failed", attempts=item.attempts, last_error=DELIVERY_FAILED, updated_at=now)
        .execution_options(synchronize_session=False)
    )


EMAIL_HANDLER = Handler(run=run_email, on_dead=on_email_dead)
