"""Auth entry points: register, login, me (SEC-003; refresh tokens in the next slice)."""

from __future__ import annotations

from fastapi import APIRouter, status

from backend.api.deps import (
    AUTH_ERRORS,
    COMMON_ERRORS,
    CurrentContractor,
    SessionDep,
    SettingsDep,
    contractor_out,
    errors,
)
from backend.schemas.accounts import ContractorOut, LoginIn, RegisterIn, TokenPair
from backend.services import auth_service

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _token_pair(settings: SettingsDep, issued: auth_service.IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
        contractor=contractor_out(issued.contractor, settings),
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=TokenPair,
             responses=errors(400, 409, 413, 415, *COMMON_ERRORS))
async def register(body: RegisterIn, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Create an account on a 14-day trial and sign in."""
    contractor = await auth_service.register(
        session, settings, email=str(body.email), password=body.password,
        business_name=body.business_name, trade=body.trade,
    )
    return _token_pair(settings, auth_service.issue_tokens(settings, contractor))


@router.post("/login", response_model=TokenPair, responses=errors(400, 401, 413, 415, *COMMON_ERRORS))
async def login(body: LoginIn, session: SessionDep, settings: SettingsDep) -> TokenPair:
    contractor = await auth_service.authenticate(session, email=body.email, password=body.password)
    return _token_pair(settings, auth_service.issue_tokens(settings, contractor))


@router.get("/me", response_model=ContractorOut, responses=errors(*AUTH_ERRORS))
async def me(contractor: CurrentContractor, settings: SettingsDep) -> ContractorOut:
    return contractor_out(contractor, settings)
