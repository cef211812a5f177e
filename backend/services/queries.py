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

from sqlalchemy import BindParameter, Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import NotFound, RequestValidationFailed

M = TypeVar("M")
R = TypeVar("R")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def owned(model: type[M], contractor_id: uuid.UUID) -> Select[M]:
    """``SELECT model WHERE contractor_id = :me`` — the only way services list rows."""
    return select(model).where(model.contractor_id == contractor_id)  # type: ignore[attr-defined]


def owned_columns(model: Any, contractor_id: uuid.UUID | BindParameter[Any], *columns: Any) -> Select[Any]:
    """``SELECT columns … WHERE contractor_id = :me``: a list page read as plain rows, not ORM instances."""
    return select(*columns).where(model.contractor_id == contractor_id)


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


def keyset_bound(stmt: Select[Any], created_at: Any, row_id: Any, *, limit: Any,
                 after: tuple[Any, Any] | None) -> Select[Any]:
    """Newest first by (created_at, id): at most ``limit`` rows, those older than the row ``after`` if given.

    ``limit`` and ``after`` are values, or bind parameters of a statement built once (``quote_service``).
    """
    if after is not None:
        # A row-value comparison is an index bound on (created_at DESC, id DESC);
        # the equivalent OR form made PostgreSQL walk every newer row (bench/README.md).
        stmt = stmt.where(tuple_(created_at, row_id) < tuple_(*after))
    return stmt.order_by(created_at.desc(), row_id.desc()).limit(limit)


def cut_page(rows: Sequence[R], limit: int, *, by_key: bool = False) -> tuple[Sequence[R], str | None]:
    """The first ``limit`` of ``limit + 1`` rows read, and the cursor of the last one if more follow.

    ``by_key``: the rows are mappings (asyncpg ``Record``s) rather than objects with attributes."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last: Any = rows[-1]
    if by_key:
        return rows, encode_cursor(last["created_at"], last["id"])
    return rows, encode_cursor(last.created_at, last.id)


async def keyset_page(session: AsyncSession, stmt: Select[M], model: Any, *, limit: int,
                      cursor: str | None) -> tuple[Sequence[M], str | None]:
    """Newest first by (created_at, id); the cursor is the last row of the previous page."""
    stmt = keyset_bound(stmt, model.created_at, model.id, limit=limit + 1,
                        after=decode_cursor(cursor) if cursor else None)
    return cut_page(list((await session.execute(stmt)).scalars().all()), limit)
