"""Query helpers: ownership scoping and keyset pagination.

Ownership lives in the query (``WHERE contractor_id = :me``): a row of another
contractor is never loaded, so it is indistinguishable from a missing one.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import NotFound, RequestValidationFailed

M = TypeVar("M")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def owned(model: type[M], contractor_id: uuid.UUID) -> Select[M]:
    """``SELECT model WHERE contractor_id = :me`` — the only way services list rows."""
    return select(model).where(model.contractor_id == contractor_id)  # type: ignore[attr-defined]


async def get_owned(session: AsyncSession, model: type[M], contractor_id: uuid.UUID, row_id: uuid.UUID,
                    *, what: str, for_update: bool = False) -> M:
    stmt = owned(model, contractor_id).where(model.id == row_id)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(what)
    return row


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, _, row_id = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        return datetime.fromisoformat(created), uuid.UUID(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise RequestValidationFailed(
            "cursor: not a cursor this API gave out; pass next_cursor from the previous page."
        ) from None


async def keyset_page(session: AsyncSession, stmt: Select[M], model: Any, *, limit: int,
                      cursor: str | None) -> tuple[Sequence[M], str | None]:
    """Newest first by (created_at, id); the cursor is the last row of the previous page."""
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        # A row-value comparison is an index bound on (created_at DESC, id DESC);
        # the equivalent OR form made PostgreSQL walk every newer row (bench/README.md).
        stmt = stmt.where(tuple_(model.created_at, model.id) < tuple_(created_at, row_id))
    stmt = stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last: Any = rows[-1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return rows, next_cursor
