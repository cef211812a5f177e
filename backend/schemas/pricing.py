"""Pricing-brain bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from backend.schemas.common import OutModel, PercentIn, RateIn, RateOut, RequiredText, StrictModel, Text

ItemKey = Annotated[str, Field(min_length=1, max_length=80)]


class CategoryIn(StrictModel):
    display_name: RequiredText(120)  # type: ignore[valid-type]
    labor_rate: RateIn
    markup_percent: PercentIn
    min_charge: RateIn
    unit_prices: dict[ItemKey, RateIn] = Field(default_factory=dict, max_length=200)
    notes: Text(2000) = ""  # type: ignore[valid-type]
    # Read-only, ignored when sent back.
    key: str | None = None
    updated_at: datetime | None = None


class TemplateCategoryOut(OutModel):
    key: str
    display_name: str
    labor_rate: RateOut
    markup_percent: RateOut
    min_charge: RateOut
    unit_prices: dict[str, RateOut]
    notes: str

    @field_validator("unit_prices", mode="before")
    @classmethod
    def _decimals(cls, value: dict[str, object]) -> dict[str, Decimal]:
        return {k: Decimal(str(v)) for k, v in value.items()}


class CategoryOut(TemplateCategoryOut):
    updated_at: datetime


class PricingSettingsIn(StrictModel):
    default_labor_rate: RateIn
    default_markup_percent: PercentIn
    learning_enabled: Annotated[bool, Field(strict=True)] = True


class PricingSettingsOut(OutModel):
    default_labor_rate: RateOut
    default_markup_percent: RateOut
    learning_enabled: bool


class TemplateOut(BaseModel):
    trade: str
    categories: list[TemplateCategoryOut]


class AdjustmentOut(OutModel):
    """One price edit the pricing brain learned (``pricing_adjustments``)."""

    id: uuid.UUID
    quote_id: uuid.UUID | None
    category: str = Field(validation_alias="category_key")
    item: str | None  # None for the labour rate
    field: Literal["unit_price", "labor_rate"]
    old_price: RateOut  # the line's price before the edit
    new_price: RateOut  # the price the contractor typed
    stored_before: RateOut = Field(validation_alias="applied_value_before")
    stored_after: RateOut = Field(validation_alias="applied_value_after")
    created_at: datetime
    reverted_at: datetime | None
