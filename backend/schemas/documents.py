"""Quote and invoice bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from backend.schemas.common import (
    DecimalOut,
    MoneyIn,
    MoneyOut,
    OutModel,
    QuantityIn,
    RateIn,
    RateOut,
    RequiredText,
    StrictModel,
    Text,
)

QuoteStatus = Literal["processing", "failed", "draft", "sent", "viewed", "accepted", "rejected"]
InvoiceStatus = Literal["draft", "sent", "paid", "overdue", "void"]
Confidence = Literal["low", "medium", "high"]

MAX_LINE_ITEMS = 200


class LineItemIn(StrictModel):
    name: RequiredText(200)  # type: ignore[valid-type]
    description: Text(2000) | None = ""  # type: ignore[valid-type]
    category: Text(64) | None = None  # type: ignore[valid-type]
    quantity: QuantityIn
    unit: Text(32) | None = "each"  # type: ignore[valid-type]
    unit_price: RateIn
    # Computed by the server; accepted and ignored so a client can send back what it read.
    amount: Any = None
    # Read-only: the pricing-brain item key the server recorded on the line. Whatever a client
    # sends is dropped; an edit carries the stored line's key over (pricing_learning).
    item: Any = None

    @field_validator("item", mode="before")
    @classmethod
    def _read_only_item(cls, value: object) -> None:
        return None


class LineItemOut(BaseModel):
    name: str
    description: str
    category: str | None
    quantity: DecimalOut
    unit: str
    unit_price: RateOut
    amount: MoneyOut
    item: str | None = None  # the pricing-brain item the line was priced from, when known

    @field_validator("quantity", "unit_price", "amount", mode="before")
    @classmethod
    def _decimal(cls, value: object) -> Decimal:
        return Decimal(str(value))


class DeliveryOut(OutModel):  # read from the email_deliveries row (migration 0005)
    status: Literal["queued", "sent", "failed"]
    to: str
    attempts: int
    updated_at: datetime


class GenerateQuoteIn(StrictModel):
    description: RequiredText(5000)  # type: ignore[valid-type]
    customer_id: uuid.UUID | None = None
    job_type: Text(64) | None = None  # type: ignore[valid-type]


class QuoteOut(OutModel):
    id: uuid.UUID
    number: str
    status: QuoteStatus
    error: str | None
    customer_id: uuid.UUID | None
    title: str
    description: str
    job_type: str | None
    line_items: list[LineItemOut]
    subtotal: MoneyOut
    tax_rate: RateOut
    tax: MoneyOut
    total: MoneyOut
    currency: str
    notes: str | None
    valid_until: date | None
    estimated_days: int | None
    crew_size: int | None
    confidence: Confidence
    questions: list[str]
    generated_by: Literal["claude", "local"]
    last_delivery: DeliveryOut | None = None
    created_at: datetime
    updated_at: datetime

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        return f"Q-{value:04d}" if isinstance(value, int) else value


class QuotePatch(StrictModel):
    title: Text(200) | None = None  # type: ignore[valid-type]
    notes: Text(5000) | None = None  # type: ignore[valid-type]
    customer_id: uuid.UUID | None = None
    line_items: Annotated[list[LineItemIn], Field(max_length=MAX_LINE_ITEMS)] | None = None
    valid_until: date | None = None
    estimated_days: Annotated[int, Field(ge=0, le=3650, strict=True)] | None = None
    crew_size: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = None
    # Read-only fields of Quote: accepted and ignored (the server computes them).
    id: Any = None
    number: Any = None
    status: Any = None
    error: Any = None
    subtotal: Any = None
    tax: Any = None
    total: Any = None
    tax_rate: Any = None
    currency: Any = None
    description: Any = None
    job_type: Any = None
    confidence: Any = None
    questions: Any = None
    generated_by: Any = None
    last_delivery: Any = None
    created_at: Any = None
    updated_at: Any = None


class InvoiceOut(OutModel):
    id: uuid.UUID
    number: str
    quote_id: uuid.UUID
    customer_id: uuid.UUID | None
    status: InvoiceStatus
    line_items: list[LineItemOut]
    subtotal: MoneyOut
    tax_rate: RateOut
    tax: MoneyOut
    total: MoneyOut
    amount_paid: MoneyOut
    currency: str
    notes: str | None
    due_date: date | None
    paid_at: datetime | None
    last_delivery: DeliveryOut | None = None
    created_at: datetime
    updated_at: datetime

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        return f"INV-{value:04d}" if isinstance(value, int) else value


class InvoicePatch(StrictModel):
    notes: Text(5000) | None = None  # type: ignore[valid-type]
    due_date: date | None = None
    line_items: Annotated[list[LineItemIn], Field(max_length=MAX_LINE_ITEMS)] | None = None
    # Read-only fields of Invoice: accepted and ignored.
    id: Any = None
    number: Any = None
    quote_id: Any = None
    customer_id: Any = None
    status: Any = None
    subtotal: Any = None
    tax_rate: Any = None
    tax: Any = None
    total: Any = None
    amount_paid: Any = None
    currency: Any = None
    paid_at: Any = None
    last_delivery: Any = None
    created_at: Any = None
    updated_at: Any = None


class MarkPaidIn(StrictModel):
    amount: MoneyIn | None = None
    paid_at: datetime | None = None
