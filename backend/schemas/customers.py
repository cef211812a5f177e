"""Customer bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, Field

from backend.schemas.common import OutModel, RequiredText, StrictModel, Text

CustomerEmail = Annotated[EmailStr, Field(max_length=320)]


class CustomerIn(StrictModel):
    name: RequiredText(200)  # type: ignore[valid-type]
    email: CustomerEmail | None = None
    phone: Text(40) | None = None  # type: ignore[valid-type]
    address: Text(500) | None = None  # type: ignore[valid-type]
    notes: Text(5000) | None = None  # type: ignore[valid-type]


class CustomerPatch(StrictModel):
    name: RequiredText(200) | None = None  # type: ignore[valid-type]
    email: CustomerEmail | None = None
    phone: Text(40) | None = None  # type: ignore[valid-type]
    address: Text(500) | None = None  # type: ignore[valid-type]
    notes: Text(5000) | None = None  # type: ignore[valid-type]
    # Read-only, ignored when sent back.
    id: uuid.UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CustomerOut(OutModel):
    id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    address: str | None
    notes: str | None
    created_at: datetime
    updated_at: datetime
