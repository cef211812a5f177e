"""Typed dependencies: the session (committed before the response), settings,
the authenticated contractor, and load-or-404 helpers.

The session dependency is declared with ``scope="function"``: its commit runs
when the handler returns and *before* the response is sent, so a failed commit
becomes an error response instead of a 201 for data that was never saved.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.errors import AdminOnly, NotAuthenticated
from backend.models import Contractor
from backend.schemas.accounts import ContractorOut
from backend.schemas.common import Error
from backend.services import auth_service
from backend.services.database import Database
from backend.services.queries import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_database(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login or /register.")


async def get_current_contractor(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Contractor:
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated()
    contractor = await auth_service.contractor_for_token(session, settings, credentials.credentials)
    request.state.contractor_id = str(contractor.id)
    structlog.contextvars.bind_contextvars(contractor_id=str(contractor.id))
    return contractor


CurrentContractor = Annotated[Contractor, Depends(get_current_contractor)]


async def require_admin(contractor: CurrentContractor, settings: SettingsDep) -> Contractor:
    if not auth_service.is_admin(settings, contractor):
        raise AdminOnly()
    return contractor


AdminContractor = Annotated[Contractor, Depends(require_admin)]

PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size, 1–100.")]
PageCursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
]
DEFAULT_LIMIT = DEFAULT_PAGE_SIZE


def contractor_out(contractor: Contractor, settings: Settings) -> ContractorOut:
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
