"""Public share links: the customer's view of a quote or invoice, and their answer.

No authentication: the token in the path is the credential (these paths are
on the public allow-list in ``backend.main``). The bodies carry no internal ids
and no contractor email.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from backend.api.deps import COMMON_ERRORS, SessionDep, errors
from backend.core.money import cents
from backend.models import Contractor, Customer
from backend.schemas.sharing import (
    AcceptQuoteIn,
    RejectQuoteIn,
    SharedBusinessOut,
    SharedInvoiceOut,
    SharedLineItemOut,
    SharedQuoteOut,
    SharedTermsOut,
)
from backend.services import share_service
from backend.services.share_service import SharedInvoice, SharedQuote

router = APIRouter(tags=["share links"])

Token = Annotated[str, Path(min_length=1, max_length=200, description="The token from the share link.")]


def _business(contractor: Contractor) -> SharedBusinessOut:
    return SharedBusinessOut(name=contractor.business_name, phone=contractor.phone, address=contractor.address)


def _customer_name(customer: Customer | None) -> str | None:
    return customer.name if customer else None


def _quote_view(shared: SharedQuote) -> SharedQuoteOut:
    quote, contractor = shared.quote, shared.contractor
    return SharedQuoteOut(
        business=_business(contractor),
        customer_name=_customer_name(shared.customer),
        number=quote.display_number,
        title=quote.title,
        status=quote.status,  # type: ignore[arg-type]
        line_items=[SharedLineItemOut.model_validate(item) for item in quote.line_items],
        subtotal=quote.subtotal,
        tax_rate=quote.tax_rate,
        tax=quote.tax,
        total=quote.total,
        currency=quote.currency,
        valid_until=quote.valid_until,
        terms=SharedTermsOut(
            text=contractor.terms_text,
            deposit_percent=contractor.deposit_percent,
            deposit_amount=cents(quote.total * contractor.deposit_percent / 100),
        ),
        accepted_at=quote.accepted_at,
        accepted_by_name=quote.accepted_by_name,
        rejected_at=quote.rejected_at,
    )


def _invoice_view(shared: SharedInvoice) -> SharedInvoiceOut:
    invoice = shared.invoice
    return SharedInvoiceOut(
        business=_business(shared.contractor),
        customer_name=_customer_name(shared.customer),
        number=invoice.display_number,
        status=invoice.status,  # type: ignore[arg-type]
        line_items=[SharedLineItemOut.model_validate(item) for item in invoice.line_items],
        subtotal=invoice.subtotal,
        tax_rate=invoice.tax_rate,
        tax=invoice.tax,
        total=invoice.total,
        amount_paid=invoice.amount_paid,
        balance_due=invoice.total - invoice.amount_paid,
        currency=invoice.currency,
        due_date=invoice.due_date,
        paid_at=invoice.paid_at,
        terms_text=shared.contractor.terms_text,
    )


@router.get("/api/quotes/shared/{token}", response_model=SharedQuoteOut, responses=errors(404, *COMMON_ERRORS))
async def view_shared_quote(token: Token, session: SessionDep) -> SharedQuoteOut:
    """The customer's view of a shared quote; opening it marks a draft or sent quote viewed."""
    return _quote_view(await share_service.view_shared_quote(session, token=token))


@router.post("/api/quotes/shared/{token}/accept", response_model=SharedQuoteOut,
             responses=errors(400, 404, 409, 413, 415, *COMMON_ERRORS))
async def accept_shared_quote(token: Token, body: AcceptQuoteIn, session: SessionDep) -> SharedQuoteOut:
    """The customer accepts the quote, signing with their name (409 once answered)."""
    return _quote_view(await share_service.accept_shared_quote(session, token=token, name=body.name))


@router.post("/api/quotes/shared/{token}/reject", response_model=SharedQuoteOut,
             responses=errors(400, 404, 409, 413, 415, *COMMON_ERRORS))
async def reject_shared_quote(token: Token, session: SessionDep,
                              body: Annotated[RejectQuoteIn | None, Body()] = None) -> SharedQuoteOut:
    """The customer declines the quote, optionally with a reason (409 once answered)."""
    reason = body.reason if body else None
    return _quote_view(await share_service.reject_shared_quote(session, token=token, reason=reason))


@router.get("/api/invoices/shared/{token}", response_model=SharedInvoiceOut,
            responses=errors(404, *COMMON_ERRORS))
async def view_shared_invoice(token: Token, session: SessionDep) -> SharedInvoiceOut:
    """The customer's view of a shared invoice (view only)."""
    return _invoice_view(await share_service.view_shared_invoice(session, token=token))
