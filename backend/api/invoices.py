"""Invoices: from a quote, list, read, edit, mark paid, delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status

from backend.api.deps import (
    AUTH_ERRORS,
    DEFAULT_LIMIT,
    CurrentContractor,
    PageCursor,
    PageLimit,
    SessionDep,
    SettingsDep,
    StorageDep,
    errors,
)
from backend.schemas.common import Page
from backend.schemas.delivery import SendEmailIn
from backend.schemas.documents import InvoiceOut, InvoicePatch, InvoiceStatus, MarkPaidIn
from backend.schemas.sharing import FileLinkOut, ShareLinkOut
from backend.services import delivery_service, invoice_service, pdf_service, share_service

router = APIRouter(prefix="/api/invoices", tags=["invoices"])

_EDITABLE = {"notes", "due_date"}


@router.post("/from-quote/{quote_id}", status_code=status.HTTP_201_CREATED, response_model=InvoiceOut,
             responses=errors(404, 409, *AUTH_ERRORS))
async def create_from_quote(quote_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep) -> InvoiceOut:
    return InvoiceOut.model_validate(await invoice_service.create_from_quote(session, contractor, quote_id))


@router.get("", response_model=Page[InvoiceOut], responses=errors(*AUTH_ERRORS))
async def list_invoices(
    contractor: CurrentContractor, session: SessionDep,
    limit: PageLimit = DEFAULT_LIMIT, cursor: PageCursor = None,
    status_: Annotated[InvoiceStatus | None, Query(alias="status")] = None,
) -> Page[InvoiceOut]:
    rows, next_cursor = await invoice_service.list_invoices(
        session, contractor, limit=limit, cursor=cursor, status=status_,
    )
    return Page[InvoiceOut](items=[InvoiceOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{invoice_id}", response_model=InvoiceOut, responses=errors(404, *AUTH_ERRORS))
async def get_invoice(invoice_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep) -> InvoiceOut:
    return InvoiceOut.model_validate(await invoice_service.get_invoice(session, contractor, invoice_id))


@router.patch("/{invoice_id}", response_model=InvoiceOut,
              responses=errors(400, 404, 409, 413, 415, *AUTH_ERRORS))
async def patch_invoice(invoice_id: uuid.UUID, body: InvoicePatch, contractor: CurrentContractor,
                        session: SessionDep) -> InvoiceOut:
    """Edit notes and due date; line items only while the invoice is a draft."""
    invoice = await invoice_service.update_invoice(
        session, contractor, invoice_id,
        changes=body.model_dump(include=_EDITABLE, exclude_unset=True),
        line_items=body.line_items if "line_items" in body.model_fields_set else None,
    )
    return InvoiceOut.model_validate(invoice)


@router.post("/{invoice_id}/mark-paid", response_model=InvoiceOut,
             responses=errors(400, 404, 409, 413, 415, *AUTH_ERRORS))
async def mark_paid(invoice_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep,
                    body: Annotated[MarkPaidIn | None, Body()] = None) -> InvoiceOut:
    """Record a payment; without an amount, the whole balance is paid."""
    body = body or MarkPaidIn()
    invoice = await invoice_service.mark_paid(session, contractor, invoice_id, amount=body.amount,
                                              paid_at=body.paid_at)
    return InvoiceOut.model_validate(invoice)


@router.delete("/{invoice_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=errors(404, 409, *AUTH_ERRORS))
async def delete_invoice(invoice_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep) -> Response:
    await invoice_service.delete_invoice(session, contractor, invoice_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- PDF and share link (INFRA-001) -------------------------------------------------------


@router.post("/{invoice_id}/pdf", response_model=FileLinkOut, responses=errors(404, *AUTH_ERRORS))
async def invoice_pdf(invoice_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep,
                      storage: StorageDep) -> FileLinkOut:
    """A time-limited link to the invoice's PDF (rendered again only when the invoice changed)."""
    link = await pdf_service.invoice_pdf(session, contractor, storage=storage, invoice_id=invoice_id)
    return FileLinkOut(url=link.url, expires_at=link.expires_at)


@router.post("/{invoice_id}/share", response_model=ShareLinkOut, responses=errors(404, *AUTH_ERRORS))
async def share_invoice(invoice_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep,
                        settings: SettingsDep) -> ShareLinkOut:
    """A public, view-only link for the customer; sharing again replaces the previous link."""
    link = await share_service.share_invoice(session, contractor, invoice_id=invoice_id,
                                             public_base_url=settings.public_base_url)
    return ShareLinkOut(token=link.token, url=link.url)


@router.delete("/{invoice_id}/share", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=errors(404, *AUTH_ERRORS))
async def revoke_invoice_share(invoice_id: uuid.UUID, contractor: CurrentContractor,
                               session: SessionDep) -> Response:
    """Revoke the public link: it answers 404 from now on."""
    await share_service.revoke_invoice_share(session, contractor, invoice_id=invoice_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- email (INFRA-006) ------------------------------------------------------------------------------


@router.post("/{invoice_id}/send", status_code=status.HTTP_202_ACCEPTED, response_model=InvoiceOut,
             responses=errors(400, 404, 409, 413, 415, *AUTH_ERRORS))
async def send_invoice(invoice_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep,
                       settings: SettingsDep, body: Annotated[SendEmailIn | None, Body()] = None) -> InvoiceOut:
    """Email the invoice (to `email`, else the customer's address); queued and delivered with retries."""
    invoice = await delivery_service.send_invoice(session, contractor, invoice_id,
                                                  email=(body or SendEmailIn()).email,
                                                  public_base_url=settings.public_base_url)
    return InvoiceOut.model_validate(invoice)
