"""A contractor's customers: CRUD and the autocomplete search."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Customer
from backend.services.contractor_cache import ContractorRef
from backend.services.queries import get_owned, keyset_page, owned

SEARCH_LIMIT = 10


async def create_customer(session: AsyncSession, contractor: ContractorRef, **fields: Any) -> Customer:
    customer = Customer(id=uuid.uuid4(), contractor_id=contractor.id, **fields)
    session.add(customer)
    await session.flush()
    await session.refresh(customer)
    return customer


async def get_customer(session: AsyncSession, contractor: ContractorRef, customer_id: uuid.UUID) -> Customer:
    return await get_owned(session, Customer, contractor.id, customer_id, what="customer")


async def list_customers(session: AsyncSession, contractor: ContractorRef, *, limit: int,
                         cursor: str | None) -> tuple[Sequence[Customer], str | None]:
    return await keyset_page(session, owned(Customer, contractor.id), Customer, limit=limit, cursor=cursor)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


async def search_customers(session: AsyncSession, contractor: ContractorRef, *, q: str,
                           limit: int = SEARCH_LIMIT) -> Sequence[Customer]:
    """Case-insensitive substring match on name, email or phone; the contractor's own only."""
    pattern = _like_pattern(q.strip())
    stmt = (
        owned(Customer, contractor.id)
        .where(or_(
            func.lower(Customer.name).like(pattern, escape="\\"),
            func.lower(Customer.email).like(pattern, escape="\\"),
            Customer.phone.like(pattern, escape="\\"),
        ))
        .order_by(func.lower(Customer.name), Customer.id)
        .limit(min(limit, SEARCH_LIMIT))
    )
    return (await session.execute(stmt)).scalars().all()


async def update_customer(session: AsyncSession, contractor: ContractorRef, customer_id: uuid.UUID,
                          **changes: Any) -> Customer:
    customer = await get_customer(session, contractor, customer_id)
    for field, value in changes.items():
        setattr(customer, field, value)
    await session.flush()
    await session.refresh(customer)
    return customer


async def delete_customer(session: AsyncSession, contractor: ContractorRef, customer_id: uuid.UUID) -> None:
    customer = await get_customer(session, contractor, customer_id)
    await session.delete(customer)
    await session.flush()


async def ensure_customer(session: AsyncSession, contractor: ContractorRef, customer_id: uuid.UUID | None) -> None:
    """A customer id given in a quote must be one of the contractor's own (else 404)."""
    if customer_id is not None:
        await get_customer(session, contractor, customer_id)
