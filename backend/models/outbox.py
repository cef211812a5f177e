"""Deferred work (SPEC §1): the outbox, and the email deliveries it carries out.

An ``outbox`` row is written in the same transaction as the request's own
writes (a ``processing`` quote and the item that finishes it; a delivery and
the item that sends it), so either both exist or neither does. Dispatchers
claim due rows with ``SELECT … FOR UPDATE SKIP LOCKED`` (see
``backend/services/outbox.py``).

``email_deliveries`` is the domain record of one email sent for a quote or an
invoice: what the document's ``last_delivery`` shows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, Uuid, inspect, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, PortableJSON, Timestamps, UTCDateTime, UUIDPrimaryKey

# Rows a dispatcher may claim: pending ones that are due, and processing ones whose lease ran out.
ACTIVE_OUTBOX_STATUSES = ("pending", "processing")


class OutboxItem(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # The claim query: WHERE status IN ('pending','processing') AND next_attempt_at <= now
        # ORDER BY next_attempt_at. Partial, so done and dead rows never weigh on it.
        Index("ix_outbox_due", "next_attempt_at",
              postgresql_where=text("status IN ('pending', 'processing')"),
              sqlite_where=text("status IN ('pending', 'processing')")),
        Index("ix_outbox_subject_id", "subject_id"),
        Index("ix_outbox_contractor_id", "contractor_id"),
        Index("ix_outbox_done_at", "done_at",
              postgresql_where=text("status = 'done'"), sqlite_where=text("status = 'done'")),
    )

    kind: Mapped[str] = mapped_column(String(64), nullable=False)  # "quote.generate", "email.send"
    payload: Mapped[dict[str, Any]] = mapped_column(PortableJSON, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending|processing|done|dead
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the item is about (a quote, a delivery), for lookups such as "retry this quote".
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    contractor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contractors.id", ondelete="CASCADE"))


class EmailDelivery(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "email_deliveries"
    __table_args__ = (
        CheckConstraint("(quote_id IS NULL) <> (invoice_id IS NULL)", name="one_document"),
        Index("ix_email_deliveries_quote_id", "quote_id", "created_at"),
        Index("ix_email_deliveries_invoice_id", "invoice_id", "created_at"),
        Index("ix_email_deliveries_contractor_id", "contractor_id"),
    )

    contractor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contractors.id", ondelete="CASCADE"), nullable=False
    )
    quote_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"))
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    to_address: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")  # queued|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(128))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def to(self) -> str:
        """The recipient, as ``last_delivery.to`` names it."""
        return self.to_address


def latest_delivery(document: Any) -> EmailDelivery | None:
    """The newest delivery of a quote or invoice, if its ``deliveries`` are loaded (else None, never a query)."""
    if "deliveries" in inspect(document).unloaded:
        return None
    deliveries = document.deliveries
    return deliveries[0] if deliveries else None
