"""Billing (PAY-001): plans, checkout, portal, status, the webhook acknowledgement."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from backend.schemas.common import MoneyOut, OutModel, StrictModel

PlanKey = Literal["starter", "pro", "team"]


class PlanOut(OutModel):
    key: PlanKey
    name: str
    monthly_price: MoneyOut
    quotes_per_month: int


class CheckoutIn(StrictModel):
    plan: PlanKey


class UrlOut(BaseModel):
    url: str


class BillingStatusOut(OutModel):
    plan: str
    subscription_status: str
    current_period_end: datetime | None
    quotes_used: int
    quotes_limit: int


class WebhookAck(BaseModel):
    id: str
    outcome: Literal["applied", "duplicate", "stale", "ignored", "unknown_contractor"]
