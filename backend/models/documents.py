"""Quotes and invoices.

Line items are a JSON list on their document: they are always read and
written together with it (a PATCH replaces the list and the server recomputes
the totals), never queried on their own, so a child table would only add a
join to every listing. Money inside the list is stored as decimal strings.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, ExactDecimal, PortableJSON, Timestamps, UTCDateTime, UUIDPrimaryKey
from backend.models.outbox import EmailDelivery, latest_delivery


class Quote(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "quotes"
    # INFRA-005 access paths (created in their own migration, 0002).
    __table_args__ = (
        UniqueConstraint("contractor_id", "number"),
        Index("ix_quotes_contractor_created", "contractor_id", text("created_at DESC"), text("id DESC")),
        Index("ix_quotes_contractor_status", "contractor_id", "status", text("created_at DESC"), text("id DESC")),
        Index("ix_quotes_customer_id", "customer_id"),
        Index("ix_quotes_share_token_hash", "share_token_hash", unique=True),  # INFRA-001, migration 0004
    )

    contractor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contractors.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    error: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    job_type: Mapped[str | None] = mapped_column(String(64))
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, nullable=False, default=list)
    subtotal: Mapped[Decimal] = mapped_column(ExactDecimal(14, 2), nullable=False, default=Decimal("0"))
    tax_rate: Mapped[Decimal] = mapped_column(ExactDecimal(6, 4), nullable=False, default=Decimal("0"))
    tax: Mapped[Decimal] = mapped_column(ExactDecimal(14, 2), nullable=False, default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(ExactDecimal(14, 2), nullable=False, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="USD")
    notes: Mapped[str | None] = mapped_column(Text)
    valid_until: Mapped[date | None] = mapped_column(Date)
    estimated_days: Mapped[int | None] = mapped_column(Integer)
    crew_size: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[str] = mapped_column(String(8), nullable=False, default="medium")
    questions: Mapped[list[str]] = mapped_column(PortableJSON, nullable=False, default=list)
    generated_by: Mapped[str] = mapped_column(String(16), nullable=False, default="local")

    # Share link: only the SHA-256 of the token is stored, so a database leak leaks no live link.
    share_token_hash: Mapped[str | None] = mapped_column(String(64))
    # The stored PDF and the hash of what it was rendered from: re-rendered only when that changes.
    pdf_key: Mapped[str | None] = mapped_column(String(500))
    pdf_hash: Mapped[str | None] = mapped_column(String(64))
    # The customer's answer through the share link.
    viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_name: Mapped[str | None] = mapped_column(String(200))
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def display_number(self) -> str:
        return f"Q-{self.number:04d}"

    # Emails sent for this quote, newest first (migration 0005): loaded with the quote in one IN query.
    deliveries: Mapped[list[EmailDelivery]] = relationship(
        EmailDelivery, viewonly=True, lazy="selectin",
        order_by=(EmailDelivery.created_at.desc(), EmailDelivery.id.desc()),
    )

    @property
    def last_delivery(self) -> EmailDelivery | None:
        return latest_delivery(self)


class Invoice(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("contractor_id", "number"),
        Index("ix_invoices_quote_id", "quote_id", unique=True),  # one invoice per quote
        Index("ix_invoices_contractor_created", "contractor_id", text("created_at DESC"), text("id DESC")),
        Index("ix_invoices_share_token_hash", "share_token_hash", unique=True),  # INFRA-001, migration 0004
    )

    contractor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contractors.id", ondelete="CASCADE"), nullable=False
    )
    quote_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"), nullable=False)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, nullable=False, default=list)
    subtotal: Mapped[Decimal] = mapped_column(ExactDecimal(14, 2), nullable=False, default=Decimal("0"))
    tax_rate: Mapped[Decimal] = mapped_column(ExactDecimal(6, 4), nullable=False, default=Decimal("0"))
    tax: Mapped[Decimal] = mapped_column(ExactDecimal(14, 2), nullable=False, default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(ExactDecimal(14, 2), nullable=False, default=Decimal("0"))
    amount_paid: Mapped[Decimal] = mapped_column(ExactDecimal(14, 2), nullable=False, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="USD")
    notes: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Share link (SHA-256 of the token only) and stored PDF, as on Quote.
    share_token_hash: Mapped[str | None] = mapped_column(String(64))
    pdf_key: Mapped[str | None] = mapped_column(String(500))
    pdf_hash: Mapped[str | None] = mapped_column(String(64))

    @property
    def display_number(self) -> str:
        return f"INV-{self.number:04d}"

    # Emails sent for this invoice, newest first (migration 0005).
    deliveries: Mapped[list[EmailDelivery]] = relationship(
        EmailDelivery, viewonly=True, lazy="selectin",
        order_by=(EmailDelivery.created_at.desc(), EmailDelivery.id.desc()),
    )

    @property
    def last_delivery(self) -> EmailDelivery | None:
        return latest_delivery(self)
