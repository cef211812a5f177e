"""Billing (PAY-001): plans, Stripe Checkout and portal, status, and the Stripe webhook."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from backend.api.deps import (
    AUTH_ERRORS,
    COMMON_ERRORS,
    CacheDep,
    CurrentContractor,
    SessionDep,
    SettingsDep,
    errors,
    get_database,
)
from backend.schemas.billing import BillingStatusOut, CheckoutIn, PlanOut, UrlOut, WebhookAck
from backend.schemas.common import Error, ShortList
from backend.services import billing_service, stripe_webhook_service
from backend.services.billing_plans import PLANS, QuotaRules
from backend.services.billing_service import StripeGateway, VerifiedEvent
from backend.services.database import Database

router = APIRouter(prefix="/api/billing", tags=["billing"])


async def get_stripe(request: Request) -> StripeGateway:
    """This process's Stripe gateway, created in the app lifespan."""
    return request.app.state.stripe  # type: ignore[no-any-return]


StripeDep = Annotated[StripeGateway, Depends(get_stripe)]


async def verified_event(
    request: Request, settings: SettingsDep,
    stripe_signature: Annotated[str | None, Header(description="Stripe's `t=…,v1=…` signature.")] = None,
) -> VerifiedEvent:
    """The event, verified from the raw body (never a re-serialized one) before anything else runs."""
    return billing_service.verify_webhook(settings, await request.body(), stripe_signature)


@router.get("/plans", response_model=ShortList[PlanOut], responses=errors(*COMMON_ERRORS))
async def list_plans() -> ShortList[PlanOut]:
    """The plans on offer, with monthly price and quote quota."""
    return ShortList[PlanOut](items=[PlanOut.model_validate(plan) for plan in PLANS.values()])


@router.post("/checkout", response_model=UrlOut, responses=errors(400, 413, 415, *AUTH_ERRORS))
async def start_checkout(body: CheckoutIn, contractor: CurrentContractor, session: SessionDep,
                         stripe: StripeDep, settings: SettingsDep) -> UrlOut:
    """A Stripe Checkout page for subscribing to a plan; 503 while billing is unavailable."""
    url = await billing_service.start_checkout(session, contractor, gateway=stripe, settings=settings,
                                               plan=body.plan)
    return UrlOut(url=url)


@router.post("/portal", response_model=UrlOut, responses=errors(409, *AUTH_ERRORS))
async def open_portal(contractor: CurrentContractor, session: SessionDep, stripe: StripeDep) -> UrlOut:
    """The Stripe billing portal (card, invoices, cancel); 409 before the first checkout."""
    return UrlOut(url=await billing_service.open_portal(session, contractor, gateway=stripe))


@router.get("/status", response_model=BillingStatusOut, responses=errors(*AUTH_ERRORS))
async def billing_status(contractor: CurrentContractor, session: SessionDep, settings: SettingsDep) -> BillingStatusOut:
    """Plan, subscription status and this period's quote usage."""
    status = await billing_service.billing_status(session, contractor, rules=QuotaRules.from_settings(settings))
    return BillingStatusOut.model_validate(status)


@router.post("/webhook", response_model=WebhookAck,
             responses={400: {"model": Error, "description": "`invalid_signature` or `invalid_payload`."},
                        500: {"model": Error, "description": "Applying the event failed; Stripe retries it."},
                        **errors(422, 503)})
async def stripe_webhook(event: Annotated[VerifiedEvent, Depends(verified_event)], settings: SettingsDep,
                         cache: CacheDep, db: Annotated[Database, Depends(get_database)]) -> WebhookAck:
    """Stripe's events, verified and applied exactly once (redeliveries answer `duplicate`)."""
    outcome = await stripe_webhook_service.process_event(db, cache, settings, event)
    return WebhookAck(id=event.id, outcome=outcome)  # type: ignore[arg-type]
