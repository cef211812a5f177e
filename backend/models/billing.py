"""Billing (PAY-001): Stripe webhook deliveries and the per-period quote usage counters.

``stripe_events`` makes the webhook idempotent: the event id is the primary
key, inserted with ``INSERT … ON CONFLICT DO NOTHING`` and locked while the
event is applied, so a redelivery (or ten concurrent ones) applies it once.

``quote_usage`` counts generated quotes per contractor and period (``"trial"``
for the whole trial, ``"YYYY-MM"`` for a paid month). It is incremented with
one conditional ``UPDATE … SET used = used + 1 WHERE used < :limit`` in the
transaction that creates the quote, which is what makes the quota race-free.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime, utcnow

STRIPE_EVENT_STATUSES = ("processing", "processed")


class StripeEvent(Base):
    __tablename__ = "stripe_events"
    __table_args__ = (
        # "What failed and is waiting for Stripe's retry?" — only unprocessed rows are indexed.
        Index("ix_stripe_events_unprocessed", "received_at",
              postgresql_where=text("status = 'processing'"), sqlite_where=text("status = 'processing'")),
        Index("ix_stripe_events_type_created", "type", "created"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's evt_… id
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="processing")  # processing|processed
    created: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # the event's time at Stripe
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))  # applied|stale|ignored|unknown_contractor
    last_error: Mapped[str | None] = mapped_column(Text)


class QuoteUsage(Base):
    __tablename__ = "quote_usage"

    contractor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contractors.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(16), primary_key=True)  # "trial" or "YYYY-MM" (UTC)
    used: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
