"""The pricing brain: a contractor's categories, rates and settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, ExactDecimal, PortableJSON, Timestamps, UTCDateTime, UUIDPrimaryKey, utcnow


class PricingCategory(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "pricing_categories"
    __table_args__ = (UniqueConstraint("contractor_id", "key"),)

    contractor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contractors.id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    display_name: Mapped[str] = mapped_column(String(120), nullable=False)
    labor_rate: Mapped[Decimal] = mapped_column(ExactDecimal(14, 4), nullable=False)
    markup_percent: Mapped[Decimal] = mapped_column(ExactDecimal(7, 2), nullable=False)
    min_charge: Mapped[Decimal] = mapped_column(ExactDecimal(14, 2), nullable=False)
    # {item: "price"}; prices as decimal strings so JSON never sees a float.
    unit_prices: Mapped[dict[str, str]] = mapped_column(PortableJSON, nullable=False, default=dict)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")


class PricingSettings(Base):
    __tablename__ = "pricing_settings"

    contractor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contractors.id", ondelete="CASCADE"), primary_key=True
    )
    default_labor_rate: Mapped[Decimal] = mapped_column(ExactDecimal(14, 4), nullable=False)
    default_markup_percent: Mapped[Decimal] = mapped_column(ExactDecimal(7, 2), nullable=False)
    learning_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class PricingAdjustment(UUIDPrimaryKey, Base):
    """One price edit learned into a category (``backend/services/pricing_learning.py``).

    ``seq`` numbers the learned changes of one category (1, 2, …), taken under the category's
    row lock: replaying the rule over a category's rows in ``seq`` order gives its stored value.
    """

    __tablename__ = "pricing_adjustments"
    __table_args__ = (
        UniqueConstraint("contractor_id", "category_key", "seq"),
        Index("ix_pricing_adjustments_contractor_id", "contractor_id", "created_at", "id"),
    )

    contractor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contractors.id", ondelete="CASCADE"), nullable=False
    )
    quote_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("quotes.id", ondelete="SET NULL"))
    category_key: Mapped[str] = mapped_column(String(64), nullable=False)
    item: Mapped[str | None] = mapped_column(String(80))  # None: the labour rate
    field: Mapped[str] = mapped_column(String(16), nullable=False)  # "unit_price" | "labor_rate"
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    old_price: Mapped[Decimal] = mapped_column(ExactDecimal(14, 4), nullable=False)  # the line before the edit
    new_price: Mapped[Decimal] = mapped_column(ExactDecimal(14, 4), nullable=False)  # the line after it
    applied_value_before: Mapped[Decimal] = mapped_column(ExactDecimal(14, 4), nullable=False)  # stored before
    applied_value_after: Mapped[Decimal] = mapped_column(ExactDecimal(14, 4), nullable=False)  # stored after
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    reverted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
