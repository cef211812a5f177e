"""Auth entry points (SEC-003): register, login, refresh, logout, logout-all, change-password, me.

The refresh token travels in the body (API clients) or in the ``quoted_refresh``
cookie (the browser: HttpOnly, SameSite=Strict, Path=/api/auth). The cookie
path of refresh and logout also needs ``X-Requested-With: quoted``: a page on
another site cannot add that header without a CORS preflight, which we refuse.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response, status

from backend.api.deps import (
    AUTH_ERRORS,
    COMMON_ERRORS,
    CacheDep,
    CurrentContractor,
    LiveContractor,
    SessionDep,
    SettingsDep,
    contractor_out,
    errors,
)
from backend.config import Settings
from backend.core.errors import CsrfFailed, RefreshInvalid
from backend.schemas.accounts import ChangePasswordIn, ContractorOut, LoginIn, RefreshIn, RegisterIn, TokenPair
from backend.services import auth_service

router = APIRouter(prefix="/api/auth", tags=["auth"])

REFRESH_COOKIE = "quoted_refresh"
COOKIE_PATH = "/api/auth"
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "quoted"


def _client(request: Request) -> auth_service.ClientInfo:
    return auth_service.ClientInfo(
        user_agent=request.headers.get("user-agent"),
        ip=request.client.host if request.client else None,
    )


def _set_cookie(response: Response, settings: Settings, raw: str) -> None:
    response.set_cookie(
        REFRESH_COOKIE, raw, max_age=settings.refresh_token_days * 86400, path=COOKIE_PATH,
        httponly=True, samesite="strict", secure=settings.refresh_cookie_secure,
    )


def _clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(REFRESH_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=settings.refresh_cookie_secure)


def _token_pair(response: Response, settings: Settings, issued: auth_service.IssuedTokens) -> TokenPair:
    if issued.refresh_token:
        _set_cookie(response, settings, issued.refresh_token)
    return TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
        contractor=contractor_out(issued.contractor, settings),
    )


def _presented_refresh_token(request: Request, body: RefreshIn | None) -> str | None:
    """The body's token, else the cookie's — which needs the CSRF header."""
    if body is not None and body.refresh_token:
        return body.refresh_token
    cookie = request.cookies.get(REFRESH_COOKIE)
    if cookie is None:
        return None
    if request.headers.get(CSRF_HEADER, "").lower() != CSRF_VALUE:
        raise CsrfFailed()
    return cookie


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=TokenPair,
             responses=errors(400, 409, 413, 415, *COMMON_ERRORS))
async def register(body: RegisterIn, request: Request, response: Response, session: SessionDep,
                   settings: SettingsDep) -> TokenPair:
    """Create an account on a 14-day trial and sign in."""
    contractor = await auth_service.register(
        session, settings, email=str(body.email), password=body.password,
        business_name=body.business_name, trade=body.trade,
    )
    return _token_pair(response, settings, await auth_service.issue_tokens(session, settings, contractor,
                                                                           _client(request)))


@router.post("/login", response_model=TokenPair, responses=errors(400, 401, 413, 415, *COMMON_ERRORS))
async def login(body: LoginIn, request: Request, response: Response, session: SessionDep,
                settings: SettingsDep) -> TokenPair:
    contractor = await auth_service.authenticate(session, email=body.email, password=body.password)
    return _token_pair(response, settings, await auth_service.issue_tokens(session, settings, contractor,
                                                                           _client(request)))


@router.post("/refresh", response_model=TokenPair, responses=errors(400, 401, 403, 413, 415, *COMMON_ERRORS))
async def refresh(request: Request, response: Response, session: SessionDep, settings: SettingsDep,
                  body: Annotated[RefreshIn | None, Body()] = None) -> TokenPair:
    """Rotate the refresh token (body or cookie) and get a new token pair.

    401 `refresh_superseded` means another tab rotated it a moment ago: retry
    with the current cookie instead of signing out.
    """
    raw = _presented_refresh_token(request, body)
    if raw is None:
        raise RefreshInvalid("Send the refresh token in the body or the quoted_refresh cookie.")
    issued = await auth_service.refresh(session, settings, raw, _client(request))
    return _token_pair(response, settings, issued)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
             responses=errors(400, 403, 413, 415, *COMMON_ERRORS))
async def logout(request: Request, session: SessionDep, settings: SettingsDep,
                 body: Annotated[RefreshIn | None, Body()] = None) -> Response:
    """End this sign-in: the token's whole family is revoked and the cookie cleared."""
    await auth_service.logout(session, _presented_refresh_token(request, body))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _clear_cookie(response, settings)
    return response


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
             responses=errors(*AUTH_ERRORS))
async def logout_all(contractor: CurrentContractor, session: SessionDep, cache: CacheDep,
                     settings: SettingsDep) -> Response:
    """End every session of this account, on every device, access tokens included."""
    await auth_service.logout_all(session, contractor, cache=cache)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _clear_cookie(response, settings)
    return response


@router.post("/change-password", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
             responses=errors(400, 403, 413, 415, *AUTH_ERRORS))
async def change_password(body: ChangePasswordIn, contractor: LiveContractor, session: SessionDep,
                          cache: CacheDep, settings: SettingsDep) -> Response:
    """Change the password; every session ends, so sign in again with the new one."""
    await auth_service.change_password(session, contractor, cache=cache, current_password=body.current_password,
                                       new_password=body.new_password)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _clear_cookie(response, settings)
    return response


@router.get("/me", response_model=ContractorOut, responses=errors(*AUTH_ERRORS))
async def me(contractor: CurrentContractor, settings: SettingsDep) -> ContractorOut:
    return contractor_out(contractor, settings)
