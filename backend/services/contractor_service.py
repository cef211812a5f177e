"""A contractor's own profile and terms.

These write the live row (not the cached snapshot) and invalidate the cached contractor.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Contractor
from backend.services.cache_service import Cache
from backend.services.contractor_cache import invalidate_contractor

PROFILE_FIELDS = frozenset({"business_name", "trade", "phone", "address", "tax_rate", "currency"})
TERMS_FIELDS = frozenset({"terms_text", "deposit_percent", "quote_valid_days"})


async def update_profile(session: AsyncSession, contractor: Contractor, *, cache: Cache,
                         **changes: Any) -> Contractor:
    for field, value in changes.items():
        if field in PROFILE_FIELDS:
            setattr(contractor, field, value)
    await session.flush()
    await session.refresh(contractor)
    await invalidate_contractor(cache, contractor.id, session=session)
    return contractor


async def update_terms(session: AsyncSession, contractor: Contractor, *, cache: Cache, **terms: Any) -> Contractor:
    for field, value in terms.items():
        if field in TERMS_FIELDS:
            setattr(contractor, field, value)
    await session.flush()
    await session.refresh(contractor)
    await invalidate_contractor(cache, contractor.id, session=session)
    return contractor
