"""The signed-in contractor as a cached snapshot (INFRA-004 + SEC-003).

Every authenticated request needs the contractor: to check the access token's
``ver`` against ``token_version`` and to scope its queries. Loading the row
from the database each time is the single most frequent query of the API, so
the contractor is cached for five minutes as a :class:`ContractorSnapshot` — a
frozen copy of the fields the API reads, including ``token_version``.

Reads (listing, generating, ``GET /me``) use the snapshot. Writes that change
the contractor row itself (profile, terms, logo, password, plan) load the live
ORM row in the request's session (``LiveContractor`` in ``backend/api/deps.py``)
and call :func:`invalidate_contractor`. A snapshot cannot be written to (it is
frozen), so a handler that forgets to load the row fails loudly instead of
silently dropping the change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.errors import TokenInvalid
from backend.core.security import AccessClaims, decode_access_token
from backend.models import Contractor
from backend.services.cache_service import Cache, invalidate_after_commit
from backend.services.database import Database

CONTRACTOR_TTL_SECONDS = 300  # GET /api/contractors/me: 5 minutes (INFRA-004)


class ContractorRef(Protocol):
    """What services read from a contractor: satisfied by the ORM row and by the snapshot."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def email(self) -> str: ...
    @property
    def business_name(self) -> str: ...
    @property
    def trade(self) -> str: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def tax_rate(self) -> Decimal: ...
    @property
    def currency(self) -> str: ...
    @property
    def terms_text(self) -> str: ...
    @property
    def deposit_percent(self) -> Decimal: ...
    @property
    def quote_valid_days(self) -> int: ...
    @property
    def logo_key(self) -> str | None: ...
    @property
    def plan(self) -> str: ...
    @property
    def subscription_status(self) -> str: ...
    @property
    def trial_ends_at(self) -> datetime | None: ...
    @property
    def current_period_end(self) -> datetime | None: ...
    @property
    def token_version(self) -> int: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class ContractorSnapshot:
    """A read-only copy of a contractor row: what the cache stores (no password hash,
    no Stripe ids, no document counters)."""

    id: uuid.UUID
    email: str
    business_name: str
    trade: str
    phone: str | None
    address: str | None
    tax_rate: Decimal
    currency: str
    terms_text: str
    deposit_percent: Decimal
    quote_valid_days: int
    logo_key: str | None
    plan: str
    subscription_status: str
    trial_ends_at: datetime | None
    current_period_end: datetime | None
    token_version: int
    is_active: bool
    created_at: datetime

    @classmethod
    def of(cls, row: Contractor) -> ContractorSnapshot:
        return cls(**{name: getattr(row, name) for name in _FIELDS})

    def to_json(self) -> dict[str, Any]:
        return {
            name: (None if value is None else
                   value.isoformat() if isinstance(value, datetime) else
                   str(value) if isinstance(value, uuid.UUID | Decimal) else value)
            for name in _FIELDS
            for value in (getattr(self, name),)
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContractorSnapshot:
        def dt(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value)

        return cls(
            id=uuid.UUID(data["id"]),
            email=data["email"],
            business_name=data["business_name"],
            trade=data["trade"],
            phone=data["phone"],
            address=data["address"],
            tax_rate=Decimal(data["tax_rate"]),
            currency=data["currency"],
            terms_text=data["terms_text"],
            deposit_percent=Decimal(data["deposit_percent"]),
            quote_valid_days=int(data["quote_valid_days"]),
            logo_key=data["logo_key"],
            plan=data["plan"],
            subscription_status=data["subscription_status"],
            trial_ends_at=dt(data["trial_ends_at"]),
            current_period_end=dt(data["current_period_end"]),
            token_version=int(data["token_version"]),
            is_active=bool(data["is_active"]),
            created_at=datetime.fromisoformat(data["created_at"]),
        )


_FIELDS = tuple(f.name for f in fields(ContractorSnapshot))


def contractor_key(contractor_id: uuid.UUID) -> str:
    return f"contractor:{contractor_id}"


async def get_contractor_snapshot(db: Database, cache: Cache,
                                  contractor_id: uuid.UUID) -> ContractorSnapshot | None:
    """The contractor from the cache, else from the database (and then cached); ``None`` if missing.

    A session is opened only on a miss, so a cache hit costs no session at all; the near cache
    (this process's decoded copy, ``near_cache.py``) answers most requests without Redis.
    """
    key = contractor_key(contractor_id)
    hit: ContractorSnapshot | None = cache.get_near(key)
    if hit is not None:
        return hit
    generation = cache.near_generation  # a put after an invalidation that arrives meanwhile is refused
    cached = await cache.get(key)
    if cached is not None:
        try:
            snapshot = ContractorSnapshot.from_json(cached)
        except (KeyError, TypeError, ValueError):  # an entry of another shape: reload it
            pass
        else:
            cache.put_near(key, snapshot, generation)
            return snapshot
    async with db.sessionmaker() as session:
        row = await session.get(Contractor, contractor_id)
        if row is None:
            return None
        snapshot = ContractorSnapshot.of(row)
    await cache.fill(key, snapshot.to_json(), CONTRACTOR_TTL_SECONDS)
    cache.put_near(key, snapshot, generation)
    return snapshot


async def contractor_for_access_token(db: Database, cache: Cache, settings: Settings, token: str, *,
                                      verified: AccessClaims | None = None) -> ContractorSnapshot:
    """Verify an access token and return its contractor, checking ``ver`` against the
    cached ``token_version`` (no database read on a cache hit); 401 otherwise.

    ``verified`` are claims the rate limiter already verified for this same token.
    """
    claims = verified or decode_access_token(token, keys=settings.jwt_verification_keys)
    snapshot = await get_contractor_snapshot(db, cache, claims.contractor_id)
    # ``ver`` lags behind after logout-all or a password change: the token is dead.
    if snapshot is None or not snapshot.is_active or snapshot.token_version != claims.token_version:
        raise TokenInvalid()
    return snapshot


async def invalidate_contractor(cache: Cache, contractor_id: uuid.UUID, *,
                                session: AsyncSession | None = None) -> None:
    """Drop the cached contractor in every worker. Call it from any write that changes the
    contractor row (profile, terms, logo, plan, ``token_version``). With ``session``, the
    invalidation is repeated right after that session commits, so a concurrent reader that
    loaded the old row cannot cache it again."""
    key = contractor_key(contractor_id)
    await cache.delete(key)
    if session is not None:
        invalidate_after_commit(session, cache, (key,))
