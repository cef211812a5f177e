"""``quote_page_json`` writes what ``Page[QuoteOut]`` serializes to, for any rows (property-based).

The reference is the previous path: an object with the quote's attributes (money as ``Decimal``, as the ORM
reads it), ``QuoteOut.model_validate``, and the ``TypeAdapter`` FastAPI serializes ``response_model`` with.
Text is arbitrary Unicode (control characters, quotes, line separators, emoji), so orjson's escaping is
checked against pydantic-core's; money is any decimal text, canonical or not.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from backend.core.money import format_decimal, format_money, format_rate
from backend.schemas.common import Page
from backend.schemas.documents import QuoteOut
from backend.schemas.quotes import QuoteListRow, decimal_text, money_text, quote_page_json, rate_text

PAGE = TypeAdapter(Page[QuoteOut])

# Decimal text as a database or an old JSON document may hold it: canonical, trailing zeros, leading zeros,
# exponents, signs, surrounding spaces; and JSON numbers.
finite = st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**9, max_value=10**9)
decimal_texts = st.one_of(
    finite.map(str), finite.map(lambda d: f"{d:f}"), finite.map(lambda d: f"{d:.2f}"),
    finite.map(lambda d: f"{d:.4f}"), finite.map(lambda d: f"{d:f}".replace("-", "-0") if d else "00"),
    st.from_regex(r"\A-?[0-9]{1,4}(\.[0-9]{0,6})?\Z"), finite.map(lambda d: f" {d} "),
)
decimal_values = st.one_of(decimal_texts, st.integers(-10**6, 10**6),
                           st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


# NUMERIC read as text ("0.0650"), SQLite's str(Decimal) ("10", "1.005"), and the edges of the shortcuts.
EDGES = ("0.0650", "0.0000", "10", "1.005", "5.", "-0.000", "-0", "0.5", "12.3456", "12.34565", "007.50", "1E+1",
         " 2.50 ", "+1.00", "100.10", "0.10000")


@settings(max_examples=500)
@given(st.one_of(st.sampled_from(EDGES), decimal_values))
def test_money_text_matches_the_money_serializer(value: Any) -> None:
    assert money_text(value) == format_money(Decimal(str(value)))


@settings(max_examples=500)
@given(st.one_of(st.sampled_from(EDGES), decimal_values))
def test_rate_text_matches_the_rate_serializer(value: Any) -> None:
    assert rate_text(value) == format_rate(Decimal(str(value)))


@settings(max_examples=500)
@given(st.one_of(st.sampled_from(EDGES), decimal_values))
def test_decimal_text_matches_the_quantity_serializer(value: Any) -> None:
    assert decimal_text(value) == format_decimal(Decimal(str(value)))


line_items = st.lists(st.fixed_dictionaries(
    {"name": texts, "description": texts, "category": st.none() | texts, "quantity": decimal_values,
     "unit": texts, "unit_price": decimal_values, "amount": decimal_values},
    optional={"item": st.none() | texts, "extra": texts},
), max_size=4)

rows = st.builds(
    QuoteListRow,
    id=st.uuids(), number=st.integers(0, 10**6),
    status=st.sampled_from(["processing", "failed", "draft", "sent", "viewed", "accepted", "rejected"]),
    error=st.none() | texts, customer_id=st.none() | st.uuids(), title=texts, description=texts,
    job_type=st.none() | texts, line_items=line_items.map(lambda v: orjson.dumps(v).decode()),
    subtotal=decimal_texts, tax_rate=decimal_texts, tax=decimal_texts, total=decimal_texts,
    currency=st.sampled_from(["USD", "CAD", "EUR"]), notes=st.none() | texts, valid_until=st.none() | st.dates(),
    estimated_days=st.none() | st.integers(0, 3650), crew_size=st.none() | st.integers(1, 1000),
    confidence=st.sampled_from(["low", "medium", "high"]),
    questions=st.lists(texts, max_size=3).map(lambda v: orjson.dumps(v).decode()),
    generated_by=st.sampled_from(["claude", "local"]), created_at=moments, updated_at=moments,
    delivery_status=st.none() | st.sampled_from(["queued", "sent", "failed"]), delivery_to=texts,
    delivery_attempts=st.integers(0, 100), delivery_updated_at=moments,
)


def as_orm(row: QuoteListRow) -> SimpleNamespace:
    """What the ORM handed ``QuoteOut.model_validate``: Decimals, decoded JSON, a delivery object."""
    values: dict[str, Any] = row._asdict()
    for name in ("subtotal", "tax_rate", "tax", "total"):
        values[name] = Decimal(values[name])
    values["line_items"] = orjson.loads(row.line_items)
    values["questions"] = orjson.loads(row.questions)
    values["last_delivery"] = None if row.delivery_status is None else SimpleNamespace(
        status=row.delivery_status, to=row.delivery_to, attempts=row.delivery_attempts,
        updated_at=row.delivery_updated_at)
    return SimpleNamespace(**values)


@settings(max_examples=300)
@given(st.lists(rows, max_size=4), st.none() | st.text(alphabet="abcXYZ019-_", min_size=1, max_size=40))
def test_the_page_is_byte_identical_to_the_response_model(page: list[QuoteListRow], cursor: str | None) -> None:
    expected = PAGE.dump_json(Page[QuoteOut](items=[QuoteOut.model_validate(as_orm(r)) for r in page],
                                             next_cursor=cursor))
    assert quote_page_json(page, cursor) == expected


def test_a_row_from_the_database_driver_serializes_its_uuid_subclass() -> None:
    # asyncpg hands out its own uuid.UUID subclass, which orjson does not take as a UUID.
    from asyncpg.pgproto.pgproto import UUID as DriverUUID

    row = QuoteListRow(
        id=DriverUUID(str(uuid.UUID(int=1))), number=7, status="draft", error=None,
        customer_id=DriverUUID(str(uuid.UUID(int=2))), title="t", description="", job_type=None,
        line_items="[]", subtotal="1.00", tax_rate="0.0000", tax="0.00", total="1.00", currency="USD",
        notes=None, valid_until=None, estimated_days=None, crew_size=None, confidence="low", questions="[]",
        generated_by="local", created_at=datetime(2026, 1, 1, tzinfo=UTC), updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        delivery_status=None, delivery_to=None, delivery_attempts=None, delivery_updated_at=None,
    )
    body = orjson.loads(quote_page_json([row], None))
    assert body["items"][0]["id"] == "00000000-0000-0000-0000-000000000001"
    assert body["items"][0]["customer_id"] == "00000000-0000-0000-0000-000000000002"
    assert body["items"][0]["tax_rate"] == "0.00" and body["items"][0]["number"] == "Q-0007"
