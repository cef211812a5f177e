"""The signed-in contractor's profile and terms."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from backend.api.deps import AUTH_ERRORS, CurrentContractor, SessionDep, SettingsDep, contractor_out, errors
from backend.core.errors import Forbidden
from backend.schemas.accounts import ContractorOut, ContractorPatch, TermsIn, TermsOut
from backend.services import contractor_service

router = APIRouter(prefix="/api/contractors", tags=["contractors"])


@router.get("/me", response_model=ContractorOut, responses=errors(*AUTH_ERRORS))
async def get_me(contractor: CurrentContractor, settings: SettingsDep) -> ContractorOut:
    return contractor_out(contractor, settings)


@router.patch("/me", response_model=ContractorOut, responses=errors(400, 413, 415, *AUTH_ERRORS))
async def patch_me(body: ContractorPatch, contractor: CurrentContractor, session: SessionDep,
                   settings: SettingsDep) -> ContractorOut:
    changes = body.model_dump(include=set(contractor_service.PROFILE_FIELDS), exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None or k in ("phone", "address")}
    updated = await contractor_service.update_profile(session, contractor, **changes)
    return contractor_out(updated, settings)


@router.get("/me/terms", response_model=TermsOut, responses=errors(*AUTH_ERRORS))
async def get_terms(contractor: CurrentContractor) -> TermsOut:
    return TermsOut.model_validate(contractor)


@router.put("/me/terms", response_model=TermsOut, responses=errors(400, 413, 415, *AUTH_ERRORS))
async def put_terms(body: TermsIn, contractor: CurrentContractor, session: SessionDep) -> TermsOut:
    updated = await contractor_service.update_terms(session, contractor, **body.model_dump())
    return TermsOut.model_validate(updated)


@router.get("/{contractor_id}", response_model=ContractorOut, responses=errors(403, *AUTH_ERRORS))
async def get_contractor(contractor_id: uuid.UUID, contractor: CurrentContractor,
                         settings: SettingsDep) -> ContractorOut:
    """Your own profile by id; anyone else's is 403."""
    if contractor_id != contractor.id:
        raise Forbidden("You can only view your own contractor profile.")
    return contractor_out(contractor, settings)
