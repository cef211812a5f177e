"""Accounts: registration, login and access-token verification (SEC-003).

Refresh tokens arrive with the SEC-003 slice; until then ``TokenPair``
carries ``refresh_token: null`` and :func:`issue_tokens` is the seam where the
refresh token will be minted.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.errors import EmailTaken, InvalidCredentials, TokenInvalid
from backend.core.logging import get_logger
from backend.core.security import (
    create_access_token,
    decode_access_token,
    hash_password,
    verify_password,
)
from backend.models import Contractor
from backend.services import pricing_service

log = get_logger(__name__)


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None
    expires_in: int
    contractor: Contractor


def normalize_email(email: str) -> str:
    return email.strip().lower()


def issue_tokens(settings: Settings, contractor: Contractor) -> IssuedTokens:
    lifetime = settings.access_token_lifetime
    access = create_access_token(
        contractor_id=contractor.id,
        token_version=contractor.token_version,
        key=settings.jwt_signing_key,
        lifetime_seconds=lifetime,
    )
    return IssuedTokens(access_token=access, refresh_token=None, expires_in=lifetime, contractor=contractor)


async def register(session: AsyncSession, settings: Settings, *, email: str, password: str,
                   business_name: str, trade: str) -> Contractor:
    """Create a contractor on a trial, with the starting pricing template of their trade."""
    email = normalize_email(email)
    exists = await session.scalar(select(func.count()).select_from(Contractor).where(Contractor.email == email))
    if exists:
        raise EmailTaken()
    contractor = Contractor(
        id=uuid.uuid4(),
        email=email,
        # argon2 costs ~0.1 s of CPU: off the event loop, so other requests keep flowing.
        password_hash=await asyncio.to_thread(hash_password, password),
        business_name=business_name.strip(),
        trade=trade,
        plan="trial",
        subscription_status="trialing",
        trial_ends_at=datetime.now(UTC) + timedelta(days=settings.trial_days),
    )
    try:
        async with session.begin_nested():
            session.add(contractor)
            await session.flush()
    except IntegrityError:  # a concurrent registration with the same email won
        raise EmailTaken() from None
    await pricing_service.seed_pricing_brain(session, contractor)
    log.info("auth.registered", contractor_id=str(contractor.id), trade=trade)
    return contractor


async def authenticate(session: AsyncSession, *, email: str, password: str) -> Contractor:
    """The contractor for these credentials, or 401 — same answer and similar time either way."""
    contractor = await session.scalar(select(Contractor).where(Contractor.email == normalize_email(email)))
    stored_hash = contractor.password_hash if contractor else None
    valid = await asyncio.to_thread(verify_password, password, stored_hash)
    if not valid or contractor is None:
        log.info("auth.login_failed")
        raise InvalidCredentials()
    if not contractor.is_active:
        raise InvalidCredentials()
    log.info("auth.login", contractor_id=str(contractor.id))
    return contractor


async def contractor_for_token(session: AsyncSession, settings: Settings, token: str) -> Contractor:
    """Verify an access token and load its contractor; 401 if either is not valid."""
    claims = decode_access_token(token, keys=settings.jwt_verification_keys)
    contractor = await session.get(Contractor, claims.contractor_id)
    # ``ver`` lags behind after logout-all or a password change: the token is dead.
    if contractor is None or not contractor.is_active or contractor.token_version != claims.token_version:
        raise TokenInvalid()
    return contractor


def is_admin(settings: Settings, contractor: Contractor) -> bool:
    return contractor.email.lower() in settings.admin_email_set
