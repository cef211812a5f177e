"""The signed-in contractor's profile and terms."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile, status

from backend.api.deps import (
    AUTH_ERRORS,
    CacheDep,
    CurrentContractor,
    LiveContractor,
    SessionDep,
    SettingsDep,
    StorageDep,
    contractor_out,
    errors,
)
from backend.config import Settings
from backend.core.errors import Forbidden
from backend.schemas.accounts import ContractorOut, ContractorPatch, TermsIn, TermsOut
from backend.schemas.sharing import FileLinkOut
from backend.services import auth_service, contractor_service, logo_service
from backend.services.contractor_cache import ContractorSnapshot

router = APIRouter(prefix="/api/contractors", tags=["contractors"])


# GET /me's body, serialized once per contractor snapshot. A snapshot is frozen and the cache hands out
# the same object until the contractor changes (then a new one), so the identity check below is the
# whole invalidation. Bounded: a full table is simply dropped.
_ME_BODIES: dict[uuid.UUID, tuple[ContractorSnapshot, bool, bytes]] = {}
_ME_BODIES_MAX = 10_000


def _me_body(contractor: ContractorSnapshot, settings: Settings) -> bytes:
    is_admin = auth_service.is_admin(settings, contractor)
    entry = _ME_BODIES.get(contractor.id)
    if entry is not None and entry[0] is contractor and entry[1] is is_admin:
        return entry[2]
    body = contractor_out(contractor, settings).model_dump_json().encode()
    if len(_ME_BODIES) >= _ME_BODIES_MAX:
        _ME_BODIES.clear()
    _ME_BODIES[contractor.id] = (contractor, is_admin, body)
    return body


@router.get("/me", response_model=ContractorOut, responses=errors(*AUTH_ERRORS))
async def get_me(request: Request, contractor: CurrentContractor) -> Response:
    # The most frequent route: its body is serialized once per snapshot and returned as bytes, so
    # FastAPI skips validating and serializing ContractorOut on every request (response_model still
    # documents it); settings from app.state rather than SettingsDep (bench/results/load_profile.md).
    return Response(_me_body(contractor, request.app.state.settings), media_type="application/json")


@router.patch("/me", response_model=ContractorOut, responses=errors(400, 413, 415, *AUTH_ERRORS))
async def patch_me(body: ContractorPatch, contractor: LiveContractor, session: SessionDep, cache: CacheDep,
                   settings: SettingsDep) -> ContractorOut:
    changes = body.model_dump(include=set(contractor_service.PROFILE_FIELDS), exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None or k in ("phone", "address")}
    updated = await contractor_service.update_profile(session, contractor, cache=cache, **changes)
    return contractor_out(updated, settings)


@router.get("/me/terms", response_model=TermsOut, responses=errors(*AUTH_ERRORS))
async def get_terms(contractor: CurrentContractor) -> TermsOut:
    return TermsOut.model_validate(contractor)


@router.put("/me/terms", response_model=TermsOut, responses=errors(400, 413, 415, *AUTH_ERRORS))
async def put_terms(body: TermsIn, contractor: LiveContractor, session: SessionDep, cache: CacheDep) -> TermsOut:
    updated = await contractor_service.update_terms(session, contractor, cache=cache, **body.model_dump())
    return TermsOut.model_validate(updated)


@router.get("/{contractor_id}", response_model=ContractorOut, responses=errors(403, *AUTH_ERRORS))
async def get_contractor(contractor_id: uuid.UUID, contractor: CurrentContractor,
                         settings: SettingsDep) -> ContractorOut:
    """Your own profile by id; anyone else's is 403."""
    if contractor_id != contractor.id:
        raise Forbidden("You can only view your own contractor profile.")
    return contractor_out(contractor, settings)


# -- logo (INFRA-001) --------------------------------------------------------------------


@router.post("/me/logo", status_code=status.HTTP_201_CREATED, response_model=FileLinkOut,
             responses=errors(400, 413, 415, *AUTH_ERRORS))
async def upload_logo(
    file: Annotated[UploadFile, File(description="PNG or JPEG, at most 2 MB; the type is read from the bytes.")],
    contractor: CurrentContractor, session: SessionDep, storage: StorageDep, cache: CacheDep,
) -> FileLinkOut:
    """Upload your logo (printed on PDFs); it replaces the previous one."""
    link = await logo_service.upload_logo(session, contractor, storage=storage, cache=cache, read=file.read)
    return FileLinkOut(url=link.url, expires_at=link.expires_at)


@router.get("/me/logo", response_model=FileLinkOut, responses=errors(404, *AUTH_ERRORS))
async def get_logo(contractor: CurrentContractor, session: SessionDep, storage: StorageDep) -> FileLinkOut:
    """A time-limited link to your logo; 404 when you have none."""
    link = await logo_service.logo_link(session, contractor, storage=storage)
    return FileLinkOut(url=link.url, expires_at=link.expires_at)


@router.delete("/me/logo", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=errors(*AUTH_ERRORS))
async def delete_logo(contractor: CurrentContractor, session: SessionDep, storage: StorageDep,
                      cache: CacheDep) -> Response:
    """Remove your logo."""
    await logo_service.delete_logo(session, contractor, storage=storage, cache=cache)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
