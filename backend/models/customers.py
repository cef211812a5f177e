"""A contractor's customers."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Timestamps, UUIDPrimaryKey


class Customer(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "customers"
    # INFRA-005; the name-search index (pg_trgm on PostgreSQL) lives in migration 0002.
    __table_args__ = (
        Index("ix_customers_contractor_created", "contractor_id", text("created_at DESC"), text("id DESC")),
    )

    contractor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contractors.id", ondelete="CASCADE"), nullable=False
    )
    # Stored exactly as given (``<script>`` included): escaping is the renderer's job.
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
