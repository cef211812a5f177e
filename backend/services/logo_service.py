"""The contractor's logo: upload (PNG or JPEG, ≤ 2 MB), link, delete.

The type is decided by the file's first bytes, never by its name or the
declared content type: a ``.png`` that is really HTML or a script is refused
with 415. The upload is read in bounded chunks and refused (413) as soon as it
passes the limit, so an oversized file never sits in memory whole.

The logo key lives on the contractor row; it is read and written there
directly (not through the cached contractor snapshot), so a new logo shows at
once on the next PDF.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import AppError, NotFound, PayloadTooLarge, UnsupportedMediaType
from backend.core.logging import get_logger
from backend.models import Contractor
from backend.services.cache_service import Cache
from backend.services.contractor_cache import ContractorRef, invalidate_contractor
from backend.services.storage_service import PresignedUrl, Storage, contractor_key

log = get_logger(__name__)

LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_LINK_SECONDS = 3600
READ_CHUNK = 64 * 1024

# Magic numbers: what the file is, whatever it is called.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
)

ReadChunk = Callable[[int], Awaitable[bytes]]


class LogoNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("logo")
        self.message = "You have not uploaded a logo yet."


def sniff_image(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) for PNG and JPEG data, else None."""
    for magic, content_type, extension in _SIGNATURES:
        if head.startswith(magic):
            return content_type, extension
    return None


async def read_limited(read: ReadChunk, *, limit: int, chunk_size: int = READ_CHUNK) -> bytes:
    """Read an upload chunk by chunk; PayloadTooLarge as soon as it passes ``limit`` bytes."""
    data = bytearray()
    while chunk := await read(chunk_size):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(f"The logo is larger than {limit // (1024 * 1024)} MB; upload a smaller image.")
    return bytes(data)


async def _current_key(session: AsyncSession, contractor: ContractorRef) -> str | None:
    return await session.scalar(select(Contractor.logo_key).where(Contractor.id == contractor.id))


async def _set_key(session: AsyncSession, contractor: ContractorRef, cache: Cache, key: str | None) -> None:
    await session.execute(
        update(Contractor).where(Contractor.id == contractor.id).values(logo_key=key)
        .execution_options(synchronize_session=False)
    )
    # The cached snapshot carries logo_key too.
    await invalidate_contractor(cache, contractor.id, session=session)


async def _delete_quietly(storage: Storage, key: str) -> None:
    try:
        await storage.delete_file(key)
    except AppError:  # an orphaned old logo costs bytes, not correctness
        log.warning("logo.old_file_not_deleted", key=key)


async def upload_logo(session: AsyncSession, contractor: ContractorRef, *, storage: Storage, cache: Cache,
                      read: ReadChunk) -> PresignedUrl:
    """Store a new logo (PNG or JPEG by content, ≤ 2 MB) in place of the old one; a link to it."""
    data = await read_limited(read, limit=LOGO_MAX_BYTES)
    kind = sniff_image(data[:16])
    if kind is None:
        raise UnsupportedMediaType("The logo must be a PNG or JPEG image.")
    content_type, extension = kind
    # A fresh name per upload: links to the old logo never show the new one, and vice versa.
    key = contractor_key(contractor.id, "logos", f"logo-{secrets.token_hex(8)}.{extension}")
    await storage.upload_bytes(data, key, content_type)
    previous = await _current_key(session, contractor)
    await _set_key(session, contractor, cache, key)
    if previous and previous != key:
        await _delete_quietly(storage, previous)
    log.info("logo.uploaded", size=len(data), content_type=content_type)
    return await storage.presign(key, LOGO_LINK_SECONDS)


async def logo_link(session: AsyncSession, contractor: ContractorRef, *, storage: Storage) -> PresignedUrl:
    """A time-limited link to the contractor's logo; 404 when there is none."""
    key = await _current_key(session, contractor)
    if not key:
        raise LogoNotFound()
    return await storage.presign(key, LOGO_LINK_SECONDS)


async def delete_logo(session: AsyncSession, contractor: ContractorRef, *, storage: Storage, cache: Cache) -> None:
    """Remove the logo (nothing to do if there is none)."""
    key = await _current_key(session, contractor)
    if key:
        await _set_key(session, contractor, cache, None)
        await _delete_quietly(storage, key)
        log.info("logo.deleted")
