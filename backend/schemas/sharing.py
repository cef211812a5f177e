"""File links, share links and the customer's view of a shared quote or invoice.

The customer views carry no internal ids (quote, invoice, contractor or
customer) and no contractor email: the token is all the customer holds.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field, field_validator

from backend.schemas.common import DecimalOut, MoneyOut, RateOut, RequiredText, StrictModel, Text
from backend.schemas.documents import InvoiceStatus, QuoteStatus


class FileLinkOut(BaseModel):
    """A time-limited link to a stored file (PDF, logo)."""

    url: str
    expires_at: datetime


class ShareLinkOut(BaseModel):
    token: str = Field(description="Shown once; only its hash is stored. Sharing again replaces it.")
    url: str = Field(description="The page the customer opens: `{PUBLIC_BASE_URL}/q/{token}` or `/i/{token}`.")


class AcceptQuoteIn(StrictModel):
    name: RequiredText(200)  # type: ignore[valid-type]


class RejectQuoteIn(StrictModel):
    reason: Text(2000) | None = None  # type: ignore[valid-type]


class SharedLineItemOut(BaseModel):
    name: str
    description: str
    quantity: DecimalOut
    unit: str
    unit_price: RateOut
    amount: MoneyOut

    @field_validator("quantity", "unit_price", "amount", mode="before")
    @classmethod
    def _decimal(cls, value: object) -> Decimal:
        return Decimal(str(value))


class SharedBusinessOut(BaseModel):
    name: str
    phone: str | None
    address: str | None


class SharedTermsOut(BaseModel):
    text: str
    deposit_percent: RateOut
    deposit_amount: MoneyOut


class SharedQuoteOut(BaseModel):
    """What the customer sees at ``/q/{token}``."""

    business: SharedBusinessOut
    customer_name: str | None
    number: str
    title: str
    status: QuoteStatus
    line_items: list[SharedLineItemOut]
    subtotal: MoneyOut
    tax_rate: RateOut
    tax: MoneyOut
    total: MoneyOut
    currency: str
    valid_until: date | None
    terms: SharedTermsOut
    accepted_at: datetime | None
    accepted_by_name: str | None
    rejected_at: datetime | None


class SharedInvoiceOut(BaseModel):
    """What the customer sees at ``/i/{token}``."""

    business: SharedBusinessOut
    customer_name: str | None
    number: str
    status: InvoiceStatus
    line_items: list[SharedLineItemOut]
    subtotal: MoneyOut
    tax_rate: RateOut
    tax: MoneyOut
    total: MoneyOut
    amount_paid: MoneyOut
    balance_due: MoneyOut
    currency: str
    due_date: date | None
    paid_at: datetime | None
    terms_text: str
