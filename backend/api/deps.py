"""Typed dependencies: the session (committed before the response), settings,
the cache, the authenticated contractor, and load-or-404 helpers.

``CurrentContractor`` is the cached :class:`ContractorSnapshot` (read-only, no
database read on a cache hit); handlers that write the contractor row take
``LiveContractor``, the ORM row loaded in the request's session.

The session dependency is declared with ``scope="function"``: its commit runs
when the handler returns and *before* the response is sent, so a failed commit
becomes an error response instead of a 201 for data that was never saved.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from backend.config import Settings
from backend.core.errors import AdminOnly, NotAuthenticated, TokenInvalid
from backend.core.logging import bind_log_context
from backend.core.security import AccessClaims
from backend.models import Contractor
from backend.schemas.accounts import ContractorOut
from backend.schemas.common import Error
from backend.services import auth_service
from backend.services.cache_service import Cache, discard_after_commit, run_after_commit
from backend.services.contractor_cache import ContractorRef, ContractorSnapshot, contractor_for_access_token
from backend.services.database import Database
from backend.services.queries import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from backend.services.storage_service import Storage
from backend.services.vendors import Vendors


# Dependencies are `async def` even when they do not await: FastAPI runs a plain `def`
# dependency in a worker thread, a thread hop per dependency per request (bench/results/load.md).
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_database(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


async def get_cache(request: Request) -> Cache:
    return request.app.state.cache  # type: ignore[no-any-return]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            discard_after_commit(session)
            await session.rollback()
            raise
        # Cache invalidations registered by the services, repeated now that the write is visible.
        await run_after_commit(session)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
CacheDep = Annotated[Cache, Depends(get_cache)]

# Documented in /openapi.json by backend/api/openapi.py, not by an HTTPBearer dependency (resolved per request).
BEARER_DESCRIPTION = "Access token from /api/auth/login or /register."


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, as FastAPI's ``HTTPBearer`` reads it.

    Shared by authentication and the rate limiter (which keys on the verified token before routing).
    """
    for key, value in scope["headers"]:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


# Set by the rate limiter (backend/api/middleware.py) when it verified the bearer token:
# (token, claims), so the signature is checked once per request.
VERIFIED_CLAIMS_STATE = "verified_access_claims"


async def get_current_contractor(request: Request) -> ContractorSnapshot:
    # The app's database, cache and settings straight from app.state rather than as three more
    # dependencies: this runs on every authenticated request, and each dependency FastAPI resolves
    # costs more than the attribute read (bench/results/load_profile.md).
    state = request.app.state
    verified: AccessClaims | None = None
    seen = request.scope.get("state", {}).get(VERIFIED_CLAIMS_STATE)
    if seen is not None:  # the rate limiter read this request's header and verified its token
        token, verified = seen
    else:
        token = bearer_token(request.scope)
        if token is None:
            raise NotAuthenticated()
    contractor = await contractor_for_access_token(state.db, state.cache, state.settings, token,
                                                   verified=verified)
    request.state.contractor_id = contractor_id = str(contractor.id)
    bind_log_context(contractor_id=contractor_id)
    return contractor


CurrentContractor = Annotated[ContractorSnapshot, Depends(get_current_contractor)]


async def require_admin(contractor: CurrentContractor, settings: SettingsDep) -> ContractorSnapshot:
    if not auth_service.is_admin(settings, contractor):
        raise AdminOnly()
    return contractor


AdminContractor = Annotated[ContractorSnapshot, Depends(require_admin)]

PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size, 1–100.")]
PageCursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
]
DEFAULT_LIMIT = DEFAULT_PAGE_SIZE


def contractor_out(contractor: ContractorRef, settings: Settings) -> ContractorOut:
    return ContractorOut(
        id=contractor.id,
        email=contractor.email,
        business_name=contractor.business_name,
        trade=contractor.trade,
        phone=contractor.phone,
        address=contractor.address,
        tax_rate=contractor.tax_rate,
        currency=contractor.currency,
        plan=contractor.plan,
        subscription_status=contractor.subscription_status,
        is_admin=auth_service.is_admin(settings, contractor),
        created_at=contractor.created_at,
    )


_DESCRIPTIONS = {
    400: "Malformed request (for example a body that is not JSON).",
    401: "Missing, invalid or expired credentials.",
    402: "The plan's monthly quota is used up.",
    403: "Authenticated but not allowed.",
    404: "Not found, or not yours.",
    409: "Conflicts with the current state.",
    413: "Body too large.",
    415: "Unsupported media type.",
    422: "A field is invalid; `detail` names it.",
    429: "Rate limited; `Retry-After` says when to try again.",
    503: "A dependency is down; `Retry-After` says when to try again.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer with."""
    return {status: {"model": Error, "description": _DESCRIPTIONS[status]} for status in statuses}


# Every route can answer these: validation, rate limiting, an unavailable database.
COMMON_ERRORS = (422, 429, 503)
AUTH_ERRORS = (401, *COMMON_ERRORS)


# -- the live contractor row (INFRA-004) ------------------------------------------------


async def get_live_contractor(snapshot: CurrentContractor, session: SessionDep) -> Contractor:
    """The signed-in contractor's ORM row in this request's session, for handlers that write it.

    Authentication already ran on the cached snapshot; the live row is checked
    again, so a snapshot that was stale cannot authorize a write.
    """
    row = await session.get(Contractor, snapshot.id)
    if row is None or not row.is_active or row.token_version != snapshot.token_version:
        raise TokenInvalid()
    return row


LiveContractor = Annotated[Contractor, Depends(get_live_contractor)]


# -- file storage (INFRA-001) ------------------------------------------------------


async def get_storage(request: Request) -> Storage:
    """The storage backend created in the app lifespan (S3 or local files)."""
    return request.app.state.storage  # type: ignore[no-any-return]


StorageDep = Annotated[Storage, Depends(get_storage)]


# -- vendors (INFRA-006 / INFRA-009) ---------------------------------------------------


async def get_vendors(request: Request) -> Vendors:
    """This process's vendor clients (Claude, Whisper, email), created in the app lifespan."""
    return request.app.state.vendors  # type: ignore[no-any-return]


VendorsDep = Annotated[Vendors, Depends(get_vendors)]
