"""Customers: CRUD and the autocomplete search."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import AfterValidator

from backend.api.deps import (
    AUTH_ERRORS,
    DEFAULT_LIMIT,
    CurrentContractor,
    PageCursor,
    PageLimit,
    SessionDep,
    errors,
)
from backend.schemas.common import Page, ShortList, no_control_characters
from backend.schemas.customers import CustomerIn, CustomerOut, CustomerPatch
from backend.services import customer_service

router = APIRouter(prefix="/api/customers", tags=["customers"])

_EDITABLE = {"name", "email", "phone", "address", "notes"}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CustomerOut,
             responses=errors(400, 413, 415, *AUTH_ERRORS))
async def create_customer(body: CustomerIn, contractor: CurrentContractor, session: SessionDep) -> CustomerOut:
    customer = await customer_service.create_customer(session, contractor, **body.model_dump())
    return CustomerOut.model_validate(customer)


@router.get("", response_model=Page[CustomerOut], responses=errors(*AUTH_ERRORS))
async def list_customers(contractor: CurrentContractor, session: SessionDep,
                         limit: PageLimit = DEFAULT_LIMIT, cursor: PageCursor = None) -> Page[CustomerOut]:
    rows, next_cursor = await customer_service.list_customers(session, contractor, limit=limit, cursor=cursor)
    return Page[CustomerOut](items=[CustomerOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/search", response_model=ShortList[CustomerOut], responses=errors(*AUTH_ERRORS))
async def search_customers(
    contractor: CurrentContractor, session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Part of a name, email or phone."),
                 AfterValidator(no_control_characters)],
    limit: Annotated[int, Query(ge=1, le=customer_service.SEARCH_LIMIT)] = customer_service.SEARCH_LIMIT,
) -> ShortList[CustomerOut]:
    rows = await customer_service.search_customers(session, contractor, q=q, limit=limit)
    return ShortList[CustomerOut](items=[CustomerOut.model_validate(r) for r in rows])


@router.get("/{customer_id}", response_model=CustomerOut, responses=errors(404, *AUTH_ERRORS))
async def get_customer(customer_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep) -> CustomerOut:
    return CustomerOut.model_validate(await customer_service.get_customer(session, contractor, customer_id))


@router.patch("/{customer_id}", response_model=CustomerOut,
              responses=errors(400, 404, 413, 415, *AUTH_ERRORS))
async def patch_customer(customer_id: uuid.UUID, body: CustomerPatch, contractor: CurrentContractor,
                         session: SessionDep) -> CustomerOut:
    changes = body.model_dump(include=_EDITABLE, exclude_unset=True)
    if changes.get("name", "") is None:
        changes.pop("name")  # a customer always has a name
    customer = await customer_service.update_customer(session, contractor, customer_id, **changes)
    return CustomerOut.model_validate(customer)


@router.delete("/{customer_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=errors(404, *AUTH_ERRORS))
async def delete_customer(customer_id: uuid.UUID, contractor: CurrentContractor, session: SessionDep) -> Response:
    await customer_service.delete_customer(session, contractor, customer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
