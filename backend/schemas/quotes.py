"""The quote list page written straight from rows: the JSON ``Page[QuoteOut]`` serializes to, byte for byte.

``GET /api/quotes`` is the hottest read (SPEC §6: under 5 ms at 1,000,000 quotes). Building 50 ORM objects,
validating each into ``QuoteOut`` and serializing through the Python money formatters was most of its time
(bench/results/load_profile.md), so the page is read as plain rows (``quote_service.list_quotes``), turned
into JSON-ready dicts here in one pass, and written by orjson. ``QuoteOut`` stays the route's documented
schema (``response_model``); a field added to it must be added here too, which
tests/integration/test_quote_listing_shape.py and tests/unit/schemas/test_quote_listing.py enforce by
comparing the bytes with ``QuoteOut``'s own serialization.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from backend.core.money import format_decimal, format_money, format_rate


class QuoteListRow(NamedTuple):
    """One row of a list page, in this order (``quote_service.list_quotes`` selects it)."""

    id: uuid.UUID
    number: int
    status: str
    error: str | None
    customer_id: uuid.UUID | None
    title: str
    description: str
    job_type: str | None
    line_items: str  # JSON text
    subtotal: str  # money as decimal text, as the database holds it
    tax_rate: str
    tax: str
    total: str
    currency: str
    notes: str | None
    valid_until: date | None
    estimated_days: int | None
    crew_size: int | None
    confidence: str
    questions: str  # JSON text
    generated_by: str
    created_at: datetime
    updated_at: datetime
    delivery_status: str | None  # the newest email delivery; NULL when there is none
    delivery_to: str | None
    delivery_attempts: int | None
    delivery_updated_at: datetime | None


# Decimal text the formatters below handle without building a Decimal: digits without leading zeros, an
# optional "-" and fraction, no exponent or spaces. First the text each formatter returns unchanged (money
# with two places; rates with two to four, the third and fourth only when not trailing zeros; quantities with
# no trailing zeros), then any plain text that needs no rounding, only padding or trimming of zeros (what
# NUMERIC columns read as text look like: "0.0650"). Anything else takes the way MoneyOut and LineItemOut
# take it: Decimal(str(value)), then the formatter. tests/unit/schemas/test_quote_listing.py checks the
# shortcuts against the formatters for arbitrary input.
_MONEY_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]{2}")
_RATE_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]{2}(?:[0-9]?[1-9])?")
_DECIMAL_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?")
_PLAIN = re.compile(r"(-?(?:0|[1-9][0-9]*))(?:\.([0-9]*))?")


def _memo_of_text(format_text: Callable[[str], str]) -> Callable[[Any], str]:
    """``format_text`` for text values, remembered per distinct text: a page formats ~600 numbers, and
    prices, quantities and rates repeat (bounded: forgotten all at once when full)."""
    memo: dict[str, str] = {}

    def formatted(value: Any) -> str:
        if type(value) is not str:
            return format_text(value)
        text = memo.get(value)
        if text is None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            text = memo[value] = format_text(value)
        return text

    formatted.__doc__ = format_text.__doc__
    return formatted


_MEMO_SIZE = 50_000


@_memo_of_text
def money_text(value: Any) -> str:
    """``MoneyOut``: two places, half-up."""
    if type(value) is str:
        if _MONEY_TEXT.fullmatch(value):
            return value
        plain = _PLAIN.fullmatch(value)
        if plain and len(fraction := plain[2] or "") <= 2:
            return f"{plain[1]}.{fraction:0<2}"
    return format_money(Decimal(str(value)))


@_memo_of_text
def rate_text(value: Any) -> str:
    """``RateOut``: two to four places, half-up."""
    if type(value) is str:
        if _RATE_TEXT.fullmatch(value):
            return value
        plain = _PLAIN.fullmatch(value)
        if plain and len(fraction := plain[2] or "") <= 4:
            return f"{plain[1]}.{fraction.rstrip('0'):0<2}"
    return format_rate(Decimal(str(value)))


@_memo_of_text
def decimal_text(value: Any) -> str:
    """``DecimalOut`` (quantities): no trailing zeros."""
    if type(value) is str:
        if _DECIMAL_TEXT.fullmatch(value):
            return value
        plain = _PLAIN.fullmatch(value)
        if plain:
            fraction = (plain[2] or "").rstrip("0")
            return f"{plain[1]}.{fraction}" if fraction else plain[1]
    return format_decimal(Decimal(str(value)))


def quote_page_json(rows: Iterable[QuoteListRow], next_cursor: str | None) -> bytes:
    """``Page[QuoteOut]`` as JSON bytes: same keys in the same order, same value formats."""
    loads = orjson.loads
    items = []
    # Positional, in QuoteListRow order: unpacking a row is much cheaper than 27 lookups by name.
    for (id_, number, status, error, customer_id, title, description, job_type, line_items, subtotal, tax_rate,
         tax, total, currency, notes, valid_until, estimated_days, crew_size, confidence, questions, generated_by,
         created_at, updated_at, delivery_status, delivery_to, delivery_attempts, delivery_updated_at) in rows:
        items.append({
            "id": str(id_),  # asyncpg's UUID subclass is not one orjson writes itself
            "number": f"Q-{number:04d}",
            "status": status,
            "error": error,
            "customer_id": None if customer_id is None else str(customer_id),
            "title": title,
            "description": description,
            "job_type": job_type,
            "line_items": [{
                "name": line["name"],
                "description": line["description"],
                "category": line["category"],
                "quantity": decimal_text(line["quantity"]),
                "unit": line["unit"],
                "unit_price": rate_text(line["unit_price"]),
                "amount": money_text(line["amount"]),
                "item": line.get("item"),
            } for line in loads(line_items)],  # JSON text: orjson parses it faster than the driver's codec
            "subtotal": money_text(subtotal),
            "tax_rate": rate_text(tax_rate),
            "tax": money_text(tax),
            "total": money_text(total),
            "currency": currency,
            "notes": notes,
            "valid_until": valid_until,
            "estimated_days": estimated_days,
            "crew_size": crew_size,
            "confidence": confidence,
            "questions": loads(questions),
            "generated_by": generated_by,
            # email_deliveries.status is NOT NULL: a NULL here means the quote has no delivery.
            "last_delivery": None if delivery_status is None else {
                "status": delivery_status, "to": delivery_to, "attempts": delivery_attempts,
                "updated_at": delivery_updated_at,
            },
            "created_at": created_at,
            "updated_at": updated_at,
        })
    # Compact UTF-8, datetimes ending in "Z", microseconds only when not zero: what pydantic-core writes for
    # Page[QuoteOut]. No default= hook, so a value of an unexpected type fails loudly instead of being written
    # some other way.
    return orjson.dumps({"items": items, "next_cursor": next_cursor}, option=orjson.OPT_UTC_Z)
