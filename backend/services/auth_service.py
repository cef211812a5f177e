"""Accounts and sessions (SEC-003): registration, login, access tokens and
rotating refresh tokens.

Refresh tokens are opaque 256-bit random strings, stored only as SHA-256
hashes. One sign-in starts a *family*; every refresh revokes the presented
token and mints one successor in the same family, atomically (a single
conditional ``UPDATE … WHERE revoked_at IS NULL``), so concurrent refreshes of
one token yield exactly one successor. A rotated token presented again within
``REFRESH_REUSE_GRACE_SECONDS`` is a benign race between tabs (401
``refresh_superseded``, nothing revoked); after the grace window it is treated
as theft and the whole family is revoked.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.errors import (
    EmailTaken,
    InvalidCredentials,
    RefreshExpired,
    RefreshInvalid,
    RefreshReused,
    RefreshRevoked,
    RefreshSuperseded,
    TokenInvalid,
    WrongPassword,
)
from backend.core.logging import get_logger
from backend.core.security import (
    create_access_token,
    decode_access_token,
    hash_password,
    verify_password,
)
from backend.models import Contractor, RefreshToken
from backend.services import pricing_service
from backend.services.cache_service import Cache
from backend.services.contractor_cache import ContractorRef, invalidate_contractor

log = get_logger(__name__)


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None
    expires_in: int
    contractor: Contractor


def normalize_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class ClientInfo:
    """Who asked, recorded on refresh tokens for the contractor's session list and audits."""

    user_agent: str | None = None
    ip: str | None = None


def hash_refresh_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _access_token(settings: Settings, contractor: Contractor) -> str:
    return create_access_token(
        contractor_id=contractor.id,
        token_version=contractor.token_version,
        key=settings.jwt_signing_key,
        lifetime_seconds=settings.access_token_lifetime,
    )


def _new_refresh_row(settings: Settings, contractor_id: uuid.UUID, client: ClientInfo, *,
                     family_id: uuid.UUID, parent_id: uuid.UUID | None = None,
                     row_id: uuid.UUID | None = None) -> tuple[str, RefreshToken]:
    raw = secrets.token_urlsafe(32)  # 256 bits
    now = datetime.now(UTC)
    row = RefreshToken(
        id=row_id or uuid.uuid4(),
        contractor_id=contractor_id,
        token_hash=hash_refresh_token(raw),
        family_id=family_id,
        parent_id=parent_id,
        created_at=now,
        expires_at=now + timedelta(days=settings.refresh_token_days),
        user_agent=(client.user_agent or "")[:300] or None,
        ip=(client.ip or "")[:64] or None,
    )
    return raw, row


async def issue_tokens(session: AsyncSession, settings: Settings, contractor: Contractor,
                       client: ClientInfo) -> IssuedTokens:
    """A fresh sign-in: an access token and the first refresh token of a new family."""
    raw, row = _new_refresh_row(settings, contractor.id, client, family_id=uuid.uuid4())
    session.add(row)
    await session.flush()
    return IssuedTokens(access_token=_access_token(settings, contractor), refresh_token=raw,
                        expires_in=settings.access_token_lifetime, contractor=contractor)


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )


async def refresh(session: AsyncSession, settings: Settings, raw: str, client: ClientInfo) -> IssuedTokens:
    """Rotate a refresh token: revoke it and mint exactly one successor, or 401."""
    row = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(raw)))
    if row is None:
        raise RefreshInvalid()
    now = datetime.now(UTC)
    if row.expires_at <= now:
        raise RefreshExpired()
    successor_id = uuid.uuid4()
    # The single conditional UPDATE is the whole race: of N concurrent refreshes
    # of one token, exactly one sees revoked_at IS NULL and wins.
    won = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="rotated", replaced_by=successor_id)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount == 1:  # type: ignore[attr-defined]
        contractor = await session.get(Contractor, row.contractor_id)
        if contractor is None or not contractor.is_active:
            raise RefreshRevoked()
        new_raw, successor = _new_refresh_row(settings, row.contractor_id, client, family_id=row.family_id,
                                              parent_id=row.id, row_id=successor_id)
        session.add(successor)
        await session.flush()
        log.info("auth.refresh.rotated", contractor_id=str(row.contractor_id), family_id=str(row.family_id))
        return IssuedTokens(access_token=_access_token(settings, contractor), refresh_token=new_raw,
                            expires_in=settings.access_token_lifetime, contractor=contractor)

    await session.refresh(row)  # someone else revoked it: find out why
    if row.revoked_reason == "rotated" and row.revoked_at is not None:
        family_alive = await session.scalar(
            select(func.count()).select_from(RefreshToken)
            .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
        )
        if not family_alive:  # signed out since: nothing to retry with
            raise RefreshRevoked()
        if now - row.revoked_at <= timedelta(seconds=settings.refresh_reuse_grace_seconds):
            log.info("auth.refresh.superseded", contractor_id=str(row.contractor_id), family_id=str(row.family_id))
            raise RefreshSuperseded()
        # Replayed after the grace window: assume the token was stolen. The
        # revocation must survive the 401 that follows, so it is committed here.
        await _revoke_family(session, row.family_id, "reuse_detected")
        await session.commit()
        log.warning("auth.refresh.reuse_detected", contractor_id=str(row.contractor_id),
                    family_id=str(row.family_id))
        raise RefreshReused()
    raise RefreshRevoked()


async def logout(session: AsyncSession, raw: str | None) -> None:
    """Revoke the presented token's whole family; unknown tokens are a no-op (logout is idempotent)."""
    if not raw:
        return
    row = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(raw)))
    if row is not None:
        await _revoke_family(session, row.family_id, "logout")
        log.info("auth.logout", contractor_id=str(row.contractor_id), family_id=str(row.family_id))


async def _end_every_session(session: AsyncSession, contractor: ContractorRef, reason: str, *,
                             cache: Cache) -> None:
    """Revoke every refresh token and bump ``token_version`` so access tokens die too
    (the cached contractor is invalidated, so the new version is seen by every worker at once)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.contractor_id == contractor.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Contractor).where(Contractor.id == contractor.id)
        .values(token_version=Contractor.token_version + 1)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    await invalidate_contractor(cache, contractor.id, session=session)


async def logout_all(session: AsyncSession, contractor: ContractorRef, *, cache: Cache) -> None:
    await _end_every_session(session, contractor, "logout_all", cache=cache)
    log.info("auth.logout_all", contractor_id=str(contractor.id))


async def change_password(session: AsyncSession, contractor: Contractor, *, cache: Cache, current_password: str,
                          new_password: str) -> None:
    """Set a new password; every session of the contractor ends (refresh and access tokens)."""
    if not await asyncio.to_thread(verify_password, current_password, contractor.password_hash):
        raise WrongPassword()
    new_hash = await asyncio.to_thread(hash_password, new_password)
    await session.execute(
        update(Contractor).where(Contractor.id == contractor.id).values(password_hash=new_hash)
        .execution_options(synchronize_session=False)
    )
    await _end_every_session(session, contractor, "password_change", cache=cache)
    log.info("auth.password_changed", contractor_id=str(contractor.id))


async def purge_expired_refresh_tokens(session: AsyncSession, *, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete refresh tokens that expired more than ``older_than`` ago; safe for any worker to run."""
    cutoff = datetime.now(UTC) - older_than
    result = await session.execute(delete(RefreshToken).where(RefreshToken.expires_at < cutoff))
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        log.info("auth.refresh.purged", count=count)
    return count


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


def is_admin(settings: Settings, contractor: ContractorRef) -> bool:
    return contractor.email.lower() in settings.admin_email_set
