"""Signed file links of the local storage backend: ``GET /files/{key}?expires=…&signature=…``.

Public (the signature is the credential). A missing, tampered or expired
signature is a 403 before the key is even resolved; with the S3 backend, links
point at the bucket and this route serves nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from backend.api.deps import COMMON_ERRORS, StorageDep, errors
from backend.services import storage_service

router = APIRouter(tags=["files"])


@router.get("/files/{key:path}", response_class=FileResponse,
            responses={200: {"description": "The file.", "content": {"application/octet-stream": {}}},
                       **errors(403, 404, *COMMON_ERRORS)})
async def get_file(
    key: str, storage: StorageDep,
    # Unconstrained on purpose: any malformed value is the same 403 as a wrong one.
    expires: Annotated[str | None, Query()] = None,
    signature: Annotated[str | None, Query()] = None,
) -> FileResponse:
    """A stored file, for a link the app signed that has not expired."""
    path = await storage_service.open_signed_file(storage, key=key, expires=expires, signature=signature)
    return FileResponse(
        path,
        media_type=storage_service.content_type_for(key),
        # Links may be shared but the bytes stay private to whoever holds one.
        headers={"Cache-Control": "private, max-age=300"},
        filename=key.rsplit("/", 1)[-1],
        content_disposition_type="inline",
    )
