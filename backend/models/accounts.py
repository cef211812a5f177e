"""Contractors: the paying accounts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, ExactDecimal, Timestamps, UTCDateTime, UUIDPrimaryKey


class Contractor(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "contractors"

    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    business_name: Mapped[str] = mapped_column(String(200), nullable=False)
    trade: Mapped[str] = mapped_column(String(32), nullable=False, default="general")
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(500))
    tax_rate: Mapped[Decimal] = mapped_column(ExactDecimal(6, 4), nullable=False, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="USD")

    # Terms printed on quotes and invoices.
    terms_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    deposit_percent: Mapped[Decimal] = mapped_column(ExactDecimal(5, 2), nullable=False, default=Decimal("0"))
    quote_valid_days: Mapped[int] = mapped_column(Integer, nullable=False, default=30)
    logo_key: Mapped[str | None] = mapped_column(String(500))

    # Billing (PAY-001): a 14-day trial until Stripe says otherwise.
    plan: Mapped[str] = mapped_column(String(16), nullable=False, default="trial")
    subscription_status: Mapped[str] = mapped_column(String(24), nullable=False, default="trialing")
    trial_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), index=True)  # webhook lookups
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    # The Stripe ``created`` time of the last applied subscription change: an older event
    # (Stripe does not deliver in order) must not roll the subscription back.
    subscription_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the subscription became past_due: access continues for PAST_DUE_GRACE_DAYS after it.
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Bumped by logout-all and password changes: access tokens carrying an
    # older value die at once (SEC-003 ``ver`` claim).
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Per-contractor document numbers (Q-0001, INV-0001), taken atomically.
    quote_counter: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    invoice_counter: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
