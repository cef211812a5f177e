"""Quotes: generate from a description, list, read, edit, delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from backend.api.deps import (
    AUTH_ERRORS,
    DEFAULT_LIMIT,
    CurrentContractor,
    PageCursor,
    PageLimit,
    SessionDep,
    errors,
)
from backend.schemas.common import Page
from backend.schemas.documents import GenerateQuoteIn, QuoteOut, QuotePatch, QuoteStatus
from backend.services import quote_service

router = APIRouter(prefix="/api/quotes", tags=["quotes"])

_EDITABLE = {"title", "notes", "customer_id", "valid_until", "estimated_days", "crew_size"}


@router.post("/generate", status_code=status.HTTP_201_CREATED, response_model=QuoteOut,
             responses={202: {"model": QuoteOut, "description": "Accepted: generation finishes later."},
                        **errors(400, 402, 404, 413, 415, *AUTH_ERRORS)})
async def generate_quote(body: GenerateQuoteIn, contractor: CurrentContractor, session: SessionDep) -> QuoteOut:
    """Price a job description with your pricing brain; the quote starts as a draft."""
    quote = await quote_service.generate_quote(
        session, contractor, description=body.description, customer_id=body.customer_id, job_type=body.job_type,
    )
    return QuoteOut.model_validate(quote)


@router.get("", response_model=Page[QuoteOut], responses=errors(*AUTH_ERRORS))
async def list_quotes(
    contractor: CurrentContractor, session: SessionDep,
    limit: PageLimit = DEFAULT_LIMIT, cursor: PageCursor = None,
    status_: Annotated[QuoteStatus | None, Query(alias="status")] = None,
    customer_id: uuid.UUID | None = None,
) -> Page[QuoteOut]:
    rows, next_cursor = await quote_service.list_quotes(
        session, contractor, limit=limit, cursor=cursor, status=status_, customer_id=customer_id,
    )
    return Page[QuoteOut](items=[QuoteOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{quote_id}", response_model=QuoteOut, responses=errors(404, *AUTH_ERRORS))
async def get_quote(quote_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep) -> QuoteOut:
    return QuoteOut.model_validate(await quote_service.get_quote(session, contractor, quote_id))


@router.patch("/{quote_id}", response_model=QuoteOut, responses=errors(400, 404, 409, 413, 415, *AUTH_ERRORS))
async def patch_quote(quote_id: uuid.UUID, body: QuotePatch, contractor: CurrentContractor,
                      session: SessionDep) -> QuoteOut:
    """Edit title, notes, customer and line items; the server recomputes every total."""
    changes = body.model_dump(include=_EDITABLE, exclude_unset=True)
    quote = await quote_service.update_quote(
        session, contractor, quote_id, changes=changes,
        line_items=body.line_items if "line_items" in body.model_fields_set else None,
    )
    return QuoteOut.model_validate(quote)


@router.delete("/{quote_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=errors(404, 409, *AUTH_ERRORS))
async def delete_quote(quote_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep) -> Response:
    await quote_service.delete_quote(session, contractor, quote_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
