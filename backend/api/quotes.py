"""Quotes: generate from a description, list, read, edit, delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, File, Form, Query, Response, UploadFile, status

from backend.api.deps import (
    AUTH_ERRORS,
    DEFAULT_LIMIT,
    CacheDep,
    CurrentContractor,
    PageCursor,
    PageLimit,
    SessionDep,
    SettingsDep,
    StorageDep,
    VendorsDep,
    errors,
)
from backend.schemas.common import Page
from backend.schemas.delivery import SendEmailIn
from backend.schemas.documents import GenerateQuoteIn, QuoteOut, QuotePatch, QuoteStatus
from backend.schemas.quotes import quote_page_json
from backend.schemas.sharing import FileLinkOut, ShareLinkOut
from backend.services import delivery_service, pdf_service, quote_generation, quote_service, share_service
from backend.services.billing_plans import QuotaRules

router = APIRouter(prefix="/api/quotes", tags=["quotes"])

_EDITABLE = {"title", "notes", "customer_id", "valid_until", "estimated_days", "crew_size"}


@router.post("/generate", status_code=status.HTTP_201_CREATED, response_model=QuoteOut,
             responses={202: {"model": QuoteOut, "description": "Accepted: generation finishes later."},
                        **errors(400, 402, 404, 413, 415, *AUTH_ERRORS)})
async def generate_quote(body: GenerateQuoteIn, contractor: CurrentContractor, session: SessionDep,
                         vendors: VendorsDep, settings: SettingsDep, response: Response) -> QuoteOut:
    """Price a job description with your pricing brain; the quote starts as a draft.

    When the AI service is down the quote is saved as `processing` (202) and
    finishes by itself a little later.
    """
    quote = await quote_generation.generate_quote(
        session, contractor, vendors=vendors, description=body.description, customer_id=body.customer_id,
        job_type=body.job_type, retry_delay_seconds=settings.outbox_backoff_seconds,
        quota=QuotaRules.from_settings(settings),
    )
    if quote.status == "processing":
        response.status_code = status.HTTP_202_ACCEPTED
    return QuoteOut.model_validate(quote)


@router.post("/generate-from-audio", status_code=status.HTTP_201_CREATED, response_model=QuoteOut,
             responses={202: {"model": QuoteOut, "description": "Accepted: transcription or generation finishes "
                                                               "later."},
                        **errors(400, 402, 404, 413, 415, *AUTH_ERRORS)})
async def generate_quote_from_audio(
    audio: Annotated[UploadFile, File(description="WebM, Ogg, MP3, M4A or WAV, at most 25 MB; the type is read "
                                                  "from the bytes.")],
    contractor: CurrentContractor, session: SessionDep, vendors: VendorsDep, storage: StorageDep,
    settings: SettingsDep, response: Response,
    customer_id: Annotated[uuid.UUID | None, Form()] = None,
) -> QuoteOut:
    """Describe the job out loud: the recording is kept, transcribed, and priced like a typed description."""
    quote = await quote_generation.generate_from_audio(
        session, contractor, vendors=vendors, storage=storage, read=audio.read, customer_id=customer_id,
        retry_delay_seconds=settings.outbox_backoff_seconds, quota=QuotaRules.from_settings(settings),
    )
    if quote.status == "processing":
        response.status_code = status.HTTP_202_ACCEPTED
    return QuoteOut.model_validate(quote)


@router.get("", response_model=Page[QuoteOut], responses=errors(*AUTH_ERRORS))
async def list_quotes(
    contractor: CurrentContractor, session: SessionDep,
    limit: PageLimit = DEFAULT_LIMIT, cursor: PageCursor = None,
    status_: Annotated[QuoteStatus | None, Query(alias="status")] = None,
    customer_id: uuid.UUID | None = None,
) -> Response:
    # The JSON of Page[QuoteOut], written from plain rows (SPEC §6: the hottest read; schemas/quotes.py).
    rows, next_cursor = await quote_service.list_quotes(
        session, contractor, limit=limit, cursor=cursor, status=status_, customer_id=customer_id,
    )
    return Response(quote_page_json(rows, next_cursor), media_type="application/json")


@router.get("/{quote_id}", response_model=QuoteOut, responses=errors(404, *AUTH_ERRORS))
async def get_quote(quote_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep) -> QuoteOut:
    return QuoteOut.model_validate(await quote_service.get_quote(session, contractor, quote_id))


@router.patch("/{quote_id}", response_model=QuoteOut, responses=errors(400, 404, 409, 413, 415, *AUTH_ERRORS))
async def patch_quote(quote_id: uuid.UUID, body: QuotePatch, contractor: CurrentContractor,
                      session: SessionDep, cache: CacheDep) -> QuoteOut:
    """Edit title, notes, customer and line items; the server recomputes every total.
    Unit-price edits teach the pricing brain when learning is on."""
    changes = body.model_dump(include=_EDITABLE, exclude_unset=True)
    quote = await quote_service.update_quote(
        session, contractor, quote_id, changes=changes,
        line_items=body.line_items if "line_items" in body.model_fields_set else None, cache=cache,
    )
    return QuoteOut.model_validate(quote)


@router.delete("/{quote_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=errors(404, 409, *AUTH_ERRORS))
async def delete_quote(quote_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep) -> Response:
    await quote_service.delete_quote(session, contractor, quote_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- PDF and share link (INFRA-001) -------------------------------------------------------


@router.post("/{quote_id}/pdf", response_model=FileLinkOut, responses=errors(404, 409, *AUTH_ERRORS))
async def quote_pdf(quote_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep,
                    storage: StorageDep) -> FileLinkOut:
    """A time-limited link to the quote's PDF (rendered again only when the quote changed)."""
    link = await pdf_service.quote_pdf(session, contractor, storage=storage, quote_id=quote_id)
    return FileLinkOut(url=link.url, expires_at=link.expires_at)


@router.post("/{quote_id}/share", response_model=ShareLinkOut, responses=errors(404, 409, *AUTH_ERRORS))
async def share_quote(quote_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep,
                      settings: SettingsDep) -> ShareLinkOut:
    """A public link for the customer; sharing again replaces the previous link."""
    link = await share_service.share_quote(session, contractor, quote_id=quote_id,
                                           public_base_url=settings.public_base_url)
    return ShareLinkOut(token=link.token, url=link.url)


@router.delete("/{quote_id}/share", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=errors(404, *AUTH_ERRORS))
async def revoke_quote_share(quote_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep) -> Response:
    """Revoke the public link: it answers 404 from now on."""
    await share_service.revoke_quote_share(session, contractor, quote_id=quote_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- email and retries (INFRA-006) ------------------------------------------------------------------


@router.post("/{quote_id}/send", status_code=status.HTTP_202_ACCEPTED, response_model=QuoteOut,
             responses=errors(400, 404, 409, 413, 415, *AUTH_ERRORS))
async def send_quote(quote_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep, settings: SettingsDep,
                     body: Annotated[SendEmailIn | None, Body()] = None) -> QuoteOut:
    """Email the quote (to `email`, else the customer's address); it is queued and delivered with retries.

    `last_delivery` follows the email: queued, then sent (a draft quote becomes sent) or failed.
    """
    quote = await delivery_service.send_quote(session, contractor, quote_id, email=(body or SendEmailIn()).email,
                                              public_base_url=settings.public_base_url)
    return QuoteOut.model_validate(quote)


@router.post("/{quote_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=QuoteOut,
             responses=errors(404, 409, *AUTH_ERRORS))
async def retry_quote(quote_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep) -> QuoteOut:
    """Queue a failed quote's generation again (409 unless the quote is `failed`)."""
    return QuoteOut.model_validate(await quote_generation.retry_generation(session, contractor, quote_id))
