"""Refresh tokens (SEC-003): opaque, stored only as SHA-256 hashes, rotated on every use."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime, UUIDPrimaryKey, utcnow


class RefreshToken(UUIDPrimaryKey, Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_token_hash", "token_hash", unique=True),
        Index("ix_refresh_tokens_family_id", "family_id"),
        Index("ix_refresh_tokens_contractor_id", "contractor_id"),
        Index("ix_refresh_tokens_expires_at", "expires_at"),
    )

    contractor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contractors.id", ondelete="CASCADE"), nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)  # sha256 hex of the raw token
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # one login = one family
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    replaced_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # rotated | logout | logout_all | password_change | reuse_detected
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip: Mapped[str | None] = mapped_column(String(64))
