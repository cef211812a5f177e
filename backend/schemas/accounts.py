"""Auth and contractor bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, EmailStr, Field

from backend.schemas.common import (
    DepositPercentIn,
    OutModel,
    PercentIn,
    RateOut,
    RequiredText,
    StrictModel,
    TaxRateIn,
    Text,
    no_control_characters,
)

Trade = Literal[
    "general", "plumbing", "electrical", "painting", "carpentry", "roofing", "hvac",
    "landscaping", "flooring", "remodeling", "cleaning",
]


def _password_strength(value: str) -> str:
    if len(value) < 10:
        raise ValueError("must be at least 10 characters long")
    return value


Password = Annotated[str, Field(max_length=256), AfterValidator(_password_strength)]
Email = Annotated[EmailStr, Field(max_length=320)]


def _currency(value: str) -> str:
    if len(value) != 3 or not value.isascii() or not value.isalpha():
        raise ValueError("must be a three-letter ISO 4217 code such as USD")
    return value.upper()


class RegisterIn(StrictModel):
    email: Email
    password: Password
    business_name: RequiredText(200)  # type: ignore[valid-type]
    trade: Trade = "general"


class LoginIn(StrictModel):
    # Not an EmailStr: a malformed address is simply not an account (401 like a wrong password), but a
    # control character is malformed input the database would refuse (NUL): a 422.
    email: Annotated[str, Field(min_length=1, max_length=320), AfterValidator(no_control_characters)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class RefreshIn(StrictModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


class ChangePasswordIn(StrictModel):
    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password


class ContractorOut(OutModel):
    id: uuid.UUID
    email: str
    business_name: str
    trade: str
    phone: str | None
    address: str | None
    tax_rate: RateOut
    currency: str
    plan: str
    subscription_status: str
    is_admin: bool
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str | None = Field(description="Also set as the HttpOnly `quoted_refresh` cookie.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  # nosec B105 - a scheme name, not a secret
    expires_in: int = Field(description="Access-token lifetime in seconds.")
    contractor: ContractorOut


class ContractorPatch(StrictModel):
    business_name: RequiredText(200) | None = None  # type: ignore[valid-type]
    trade: Trade | None = None
    phone: Text(40) | None = None  # type: ignore[valid-type]
    address: Text(500) | None = None  # type: ignore[valid-type]
    tax_rate: TaxRateIn | None = None
    currency: Annotated[str, AfterValidator(_currency)] | None = None
    # Read-only fields a client may send back from a GET; ignored.
    id: uuid.UUID | None = None
    email: str | None = None
    plan: str | None = None
    subscription_status: str | None = None
    is_admin: bool | None = None
    created_at: datetime | None = None


class TermsIn(StrictModel):
    terms_text: Text(10000)  # type: ignore[valid-type]
    deposit_percent: DepositPercentIn
    quote_valid_days: Annotated[int, Field(ge=1, le=365, strict=True)]


class TermsOut(OutModel):
    terms_text: str
    deposit_percent: RateOut
    quote_valid_days: int


__all__ = [
    "ChangePasswordIn", "ContractorOut", "ContractorPatch", "LoginIn", "PercentIn", "RegisterIn",
    "TermsIn", "TermsOut", "TokenPair", "Trade",
]
