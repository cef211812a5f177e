"""The pricing brain: categories with rates, settings, starting templates."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from fastapi.responses import JSONResponse

from backend.api.deps import (
    AUTH_ERRORS,
    DEFAULT_LIMIT,
    CacheDep,
    CurrentContractor,
    PageCursor,
    PageLimit,
    SessionDep,
    errors,
)
from backend.schemas.common import Page, ShortList
from backend.schemas.pricing import (
    AdjustmentOut,
    CategoryIn,
    CategoryOut,
    PricingSettingsIn,
    PricingSettingsOut,
    TemplateOut,
)
from backend.services import pricing_learning, pricing_service

router = APIRouter(prefix="/api/pricing-brain", tags=["pricing brain"])

CategoryKey = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
              description="Lower-case letters, digits, '_' or '-', up to 64 characters.")
]


@router.get("/categories", response_model=ShortList[CategoryOut], responses=errors(*AUTH_ERRORS))
async def list_categories(contractor: CurrentContractor, session: SessionDep, cache: CacheDep) -> Response:
    """Cached for 10 minutes; every write to the categories invalidates it."""
    # The cached items are already CategoryOut-shaped JSON: answering them directly skips re-validation.
    return JSONResponse({"items": await pricing_service.list_categories_cached(session, cache, contractor)})


@router.put("/categories/{key}", response_model=CategoryOut,
            responses={201: {"model": CategoryOut, "description": "Created."},
                       **errors(400, 413, 415, *AUTH_ERRORS)})
async def put_category(key: CategoryKey, body: CategoryIn, contractor: CurrentContractor, session: SessionDep,
                       cache: CacheDep, response: Response) -> CategoryOut:
    """Create or replace a category (200 replaced, 201 created)."""
    category, created = await pricing_service.upsert_category(
        session, contractor, cache=cache, key=key, display_name=body.display_name, labor_rate=body.labor_rate,
        markup_percent=body.markup_percent, min_charge=body.min_charge, unit_prices=body.unit_prices,
        notes=body.notes,
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    return CategoryOut.model_validate(category)


@router.delete("/categories/{key}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=errors(404, *AUTH_ERRORS))
async def delete_category(key: CategoryKey, contractor: CurrentContractor, session: SessionDep,
                          cache: CacheDep) -> Response:
    await pricing_service.delete_category(session, contractor, cache=cache, key=key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/settings", response_model=PricingSettingsOut, responses=errors(*AUTH_ERRORS))
async def get_settings(contractor: CurrentContractor, session: SessionDep) -> PricingSettingsOut:
    return PricingSettingsOut.model_validate(await pricing_service.get_settings(session, contractor))


@router.put("/settings", response_model=PricingSettingsOut, responses=errors(400, 413, 415, *AUTH_ERRORS))
async def put_settings(body: PricingSettingsIn, contractor: CurrentContractor,
                       session: SessionDep) -> PricingSettingsOut:
    updated = await pricing_service.update_settings(session, contractor, **body.model_dump())
    return PricingSettingsOut.model_validate(updated)


@router.get("/templates", response_model=ShortList[TemplateOut], responses=errors(*AUTH_ERRORS))
async def list_templates(contractor: CurrentContractor, cache: CacheDep) -> Response:
    """The starting pricing template of every trade (cached for an hour)."""
    return JSONResponse({"items": await pricing_service.starting_templates_cached(cache)})


@router.get("/adjustments", response_model=Page[AdjustmentOut], responses=errors(*AUTH_ERRORS))
async def list_adjustments(contractor: CurrentContractor, session: SessionDep, limit: PageLimit = DEFAULT_LIMIT,
                           cursor: PageCursor = None) -> Page[AdjustmentOut]:
    """What the pricing brain learned from price edits, newest first."""
    rows, next_cursor = await pricing_learning.list_adjustments(session, contractor, limit=limit, cursor=cursor)
    return Page[AdjustmentOut](items=[AdjustmentOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("/adjustments/{adjustment_id}/revert", response_model=AdjustmentOut,
             responses=errors(404, 409, *AUTH_ERRORS))
async def revert_adjustment(adjustment_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep,
                            cache: CacheDep) -> AdjustmentOut:
    """Undo what one adjustment did to its category (409 if it was already reverted)."""
    adjustment = await pricing_learning.revert_adjustment(session, contractor, adjustment_id, cache=cache)
    return AdjustmentOut.model_validate(adjustment)
