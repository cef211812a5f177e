"""The pricing brain: a contractor's categories, rates and settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
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
