"""A contractor's own profile and terms."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Contractor

PROFILE_FIELDS = frozenset({"business_name", "trade", "phone", "address", "tax_rate", "currency"})
TERMS_FIELDS = frozenset({"terms_text", "deposit_percent", "quote_valid_days"})


async def update_profile(session: AsyncSession, contractor: Contractor, **changes: Any) -> Contractor:
    for field, value in changes.items():
        if field in PROFILE_FIELDS:
            setattr(contractor, field, value)
    await session.flush()
    await session.refresh(contractor)
    return contractor


async def update_terms(session: AsyncSession, contractor: Contractor, **terms: Any) -> Contractor:
    for field, value in terms.items():
        if field in TERMS_FIELDS:
            setattr(contractor, field, value)
    await session.flush()
    await session.refresh(contractor)
    return contractor
