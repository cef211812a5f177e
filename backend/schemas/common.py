"""Shared field types: strict decimals as strings, bounded text, list pages, errors."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from backend.core.money import MAX_MONEY, format_decimal, format_money, format_rate


def _strict_decimal(value: Any) -> Any:
    """Money and quantities: a decimal string or a JSON number, never a bool."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be a decimal number, written as a string like \"12.50\"")
    if isinstance(value, float):
        # Through its shortest text, never float arithmetic (0.1 stays 0.1).
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("must be a decimal number, written as a string like \"12.50\"") from None
    if not result.is_finite():
        raise ValueError("must be a finite decimal number")
    return result


def _max_places(places: int) -> Any:
    def check(value: Decimal) -> Decimal:
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -places:
            raise ValueError(f"must have at most {places} decimal places")
        return value

    return check


def _bounded(low: Decimal, high: Decimal, what: str) -> Any:
    def check(value: Decimal) -> Decimal:
        if not low <= value <= high:
            raise ValueError(f"must be {what} between {format_decimal(low)} and {format_decimal(high)}")
        return value

    return check


_ZERO = Decimal("0")

# Input types.
MoneyIn = Annotated[
    Decimal, BeforeValidator(_strict_decimal), AfterValidator(_max_places(2)),
    AfterValidator(_bounded(_ZERO, MAX_MONEY, "an amount")),
]
RateIn = Annotated[  # unit prices and hourly rates keep up to 4 places
    Decimal, BeforeValidator(_strict_decimal), AfterValidator(_max_places(4)),
    AfterValidator(_bounded(_ZERO, MAX_MONEY, "a price")),
]
QuantityIn = Annotated[
    Decimal, BeforeValidator(_strict_decimal), AfterValidator(_max_places(4)),
    AfterValidator(_bounded(_ZERO, Decimal("1000000"), "a quantity")),
]
TaxRateIn = Annotated[  # a fraction: "0.0825" is 8.25 %
    Decimal, BeforeValidator(_strict_decimal), AfterValidator(_max_places(4)),
    AfterValidator(_bounded(_ZERO, Decimal("1"), "a fraction")),
]
PercentIn = Annotated[
    Decimal, BeforeValidator(_strict_decimal), AfterValidator(_max_places(2)),
    AfterValidator(_bounded(_ZERO, Decimal("1000"), "a percent")),
]
DepositPercentIn = Annotated[
    Decimal, BeforeValidator(_strict_decimal), AfterValidator(_max_places(2)),
    AfterValidator(_bounded(_ZERO, Decimal("100"), "a percent")),
]

# Output types: decimal strings in the JSON and in the OpenAPI schema.
_str_schema: dict[str, Any] = {"type": "string"}
MoneyOut = Annotated[
    Decimal, PlainSerializer(format_money, return_type=str),
    Field(json_schema_extra={"pattern": r"^\d+\.\d{2}$", "examples": ["184.03"]}),
]
RateOut = Annotated[Decimal, PlainSerializer(format_rate, return_type=str)]
DecimalOut = Annotated[Decimal, PlainSerializer(format_decimal, return_type=str)]


def no_control_characters(value: str) -> str:
    # NUL and other control characters (bar newlines and tabs) are never meant, and PostgreSQL refuses NUL.
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _clean_text(value: str) -> str:
    return no_control_characters(unicodedata.normalize("NFC", value))


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def Text(max_length: int) -> Any:  # noqa: N802 - reads like a type in signatures
    return Annotated[str, Field(max_length=max_length), AfterValidator(_clean_text)]


def RequiredText(max_length: int) -> Any:  # noqa: N802
    return Annotated[str, Field(min_length=1, max_length=max_length), AfterValidator(_clean_text),
                     AfterValidator(_not_blank)]


class StrictModel(BaseModel):
    """Request bodies: unknown fields are a 422 that names them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class OutModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class ShortList(BaseModel, Generic[T]):
    items: list[T]


class Error(BaseModel):
    """Every error response: a sentence, a stable code, and the request id."""

    detail: str = Field(examples=["That quote does not exist."])
    code: str = Field(examples=["not_found"])
    request_id: str = Field(examples=["3f1c2a9e4b7d4e0f"])


Timestamp = datetime
