"""``GET /api/quotes`` writes, byte for byte, the JSON ``Page[QuoteOut]`` made from ORM rows before.

The list page no longer goes through the ORM and ``QuoteOut`` (SPEC §6: under 5 ms at 1,000,000 quotes;
``backend/schemas/quotes.py``). The reference here is the previous route, line for line: ORM rows from
``keyset_page`` with their ``selectin`` deliveries, ``QuoteOut.model_validate`` for each, serialized by the
``TypeAdapter`` FastAPI uses for ``response_model``. Any key dropped, renamed, reordered or formatted
differently fails the byte comparison. Runs on SQLite and on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from pydantic import TypeAdapter
from sqlalchemy import event

from backend.models import EmailDelivery, Quote
from backend.schemas.common import Page
from backend.schemas.documents import QuoteOut
from backend.services.database import Database
from backend.services.queries import keyset_page, owned
from tests.helpers import Account, make_customer, make_quote, register

STATUSES = ("processing", "failed", "draft", "sent", "viewed", "accepted", "rejected")
PAGE = TypeAdapter(Page[QuoteOut])
BASE = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ODD_TEXT = 'Kitchen "deluxe" \\ back\nslash\ttab \x01\x1f\x7f café ✓ 🚿 \u2028</script>'

# Line items as they may sit in the database: canonical money strings, non-canonical ones (trailing zeros,
# no places, leading zeros, exponents, spaces), JSON numbers, lines with and without the pricing-brain
# item key, a discount line (negative amount), negative zero.
LINE_SETS: list[list[dict[str, Any]]] = [
    [],
    [{"name": "Faucet", "description": "", "category": "fixtures", "quantity": "1", "unit": "each",
      "unit_price": "189.00", "amount": "189.00", "item": "faucet_single_handle"},
     {"name": "Labor", "description": "install", "category": None, "quantity": "1.5", "unit": "hr",
      "unit_price": "85", "amount": "127.5"}],
    [{"name": "Supply line", "description": "braided", "category": "parts", "quantity": "2.000", "unit": "each",
      "unit_price": "12.3456", "amount": "24.69"},
     {"name": "Rate edge", "description": "", "category": "parts", "quantity": "0.25", "unit": "ft",
      "unit_price": "2.125", "amount": "0.53125"},
     {"name": "Discount", "description": "repeat customer", "category": None, "quantity": "1", "unit": "each",
      "unit_price": "-25.00", "amount": "-25.00"}],
    [{"name": ODD_TEXT, "description": ODD_TEXT, "category": "misc", "quantity": 3, "unit": "bag",
      "unit_price": 7.5, "amount": 22.5, "item": None},
     {"name": "Odd text", "description": "", "category": "misc", "quantity": "007.50", "unit": "sq ft",
      "unit_price": "1E+1", "amount": " 75.00 ", "extra": "ignored"},
     {"name": "Zero", "description": "", "category": "misc", "quantity": "-0", "unit": "each",
      "unit_price": "0.10000", "amount": "-0.00"}],
]


def reference(db_rows: Any, next_cursor: str | None) -> bytes:
    """What the previous route returned: model_validate per ORM row, then response_model's serializer."""
    return PAGE.dump_json(Page[QuoteOut](items=[QuoteOut.model_validate(r) for r in db_rows],
                                         next_cursor=next_cursor))


async def old_listing(db: Database, contractor_id: uuid.UUID, params: dict[str, Any]) -> bytes:
    """The previous ``quote_service.list_quotes``, verbatim, read in a fresh session."""
    async with db.session() as session:
        stmt = owned(Quote, contractor_id)
        if params.get("status") is not None:
            stmt = stmt.where(Quote.status == params["status"])
        if params.get("customer_id") is not None:
            stmt = stmt.where(Quote.customer_id == uuid.UUID(params["customer_id"]))
        rows, next_cursor = await keyset_page(session, stmt, Quote, limit=int(params.get("limit", 50)),
                                              cursor=params.get("cursor"))
        return reference(rows, next_cursor)


async def seed_quotes(db: Database, contractor_id: uuid.UUID, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """Quotes in every status with every kind of line item, delivery history and optional field."""
    ids = []
    async with db.session() as session:
        for n in range(21):
            quote_id = uuid.uuid4()
            ids.append(quote_id)
            # Every fourth quote shares its created_at with the one before (keyset ties on id); some
            # timestamps have no microseconds, which the JSON then omits.
            hour = n - (n % 4 == 3)
            created = BASE + timedelta(hours=hour, microseconds=123457 * hour if hour % 3 else 0)
            status = STATUSES[n % len(STATUSES)]
            session.add(Quote(
                id=quote_id, contractor_id=contractor_id, customer_id=customer_id if n % 2 else None,
                number=100 + n, status=status,
                error="The pricing assistant did not answer in time; try again." if status == "failed" else None,
                title=ODD_TEXT if n == 5 else f"Job {n}", description="" if n % 5 else ODD_TEXT,
                job_type=None if n % 3 else "plumbing", line_items=LINE_SETS[n % len(LINE_SETS)],
                subtotal=[Decimal("10"), Decimal("316.50"), Decimal("1.005"), Decimal("0")][n % 4],
                tax_rate=[Decimal("0.0825"), Decimal("0"), Decimal("0.10"), Decimal("0.0650")][n % 4],
                tax=[Decimal("0.83"), Decimal("0.00"), Decimal("0.1"), Decimal("0")][n % 4],
                total=[Decimal("10.83"), Decimal("316.50"), Decimal("1.11"), Decimal("0.00")][n % 4],
                currency="USD" if n % 4 else "CAD", notes=None if n % 2 else f"notes {n}\n{ODD_TEXT}",
                valid_until=None if n % 5 == 0 else date(2026, 4, 1) + timedelta(days=n),
                estimated_days=None if n % 3 == 0 else n, crew_size=None if n % 4 == 0 else 1 + n % 3,
                confidence=("low", "medium", "high")[n % 3],
                questions=[] if n % 2 else ["Is the shut-off valve accessible?", ODD_TEXT],
                generated_by="claude" if n % 3 else "local", created_at=created,
                updated_at=created + timedelta(minutes=n, microseconds=n * 1001),
            ))
        await session.flush()
        for n, quote_id in enumerate(ids):
            # None, one, or several deliveries; every fourth quote's all on one created_at (newest = highest id).
            for k in range(n % 4):
                sent = BASE + timedelta(days=1, hours=n, minutes=0 if (n % 4 == 3 and k) else k)
                session.add(EmailDelivery(
                    contractor_id=contractor_id, quote_id=quote_id, to_address=f"customer{n}.{k}@example.com",
                    subject=f"Quote {n}", status=("queued", "sent", "failed")[(n + k) % 3], attempts=k + n % 2,
                    created_at=sent, updated_at=sent + timedelta(seconds=k, microseconds=(n * 7919) % 1000000)))
    return ids


async def assert_same_listing(client: httpx.AsyncClient, db: Database, account: Account,
                              params: dict[str, Any]) -> dict[str, Any]:
    response = await client.get("/api/quotes", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    expected = await old_listing(db, uuid.UUID(account.id), params)
    assert response.content == expected, (params, response.content[:2000], expected[:2000])
    return orjson.loads(response.content)  # type: ignore[no-any-return]


async def test_quote_listing_is_byte_identical_to_the_orm_serialization(client: httpx.AsyncClient) -> None:
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    account, intruder = await register(client), await register(client)
    customer = await make_customer(client, account, "Dana")
    ids = await seed_quotes(db, uuid.UUID(account.id), uuid.UUID(customer["id"]))
    generated = await make_quote(client, account, customer_id=customer["id"])  # the estimator's own lines
    await make_quote(client, intruder)

    everything = await assert_same_listing(client, db, account, {})
    assert len(everything["items"]) == len(ids) + 1 and everything["next_cursor"] is None
    assert everything["items"][0]["id"] == generated["id"]
    assert {q["status"] for q in everything["items"]} == set(STATUSES)

    # Walk the pages, alone and with each filter, through the cursors the API hands out.
    for filters in ({}, {"customer_id": customer["id"]}, *({"status": s} for s in STATUSES),
                    {"status": "draft", "customer_id": customer["id"]}):
        params: dict[str, Any] = {**filters, "limit": 4}
        seen: list[str] = []
        while True:
            page = await assert_same_listing(client, db, account, params)
            seen += [q["id"] for q in page["items"]]
            if not page["next_cursor"]:
                break
            params["cursor"] = page["next_cursor"]
        assert len(seen) == len(set(seen)), filters
        assert seen == [q["id"] for q in everything["items"] if all(q[k] == v for k, v in filters.items())]

    for params in ({"limit": 1}, {"limit": 100}, {"status": "failed", "limit": 2}):
        await assert_same_listing(client, db, account, params)
    theirs = (await client.get("/api/quotes", headers=intruder.headers)).json()
    assert len(theirs["items"]) == 1 and not set(ids) & {uuid.UUID(q["id"]) for q in theirs["items"]}


async def test_quote_listing_values_are_formatted_as_the_api_documents(client: httpx.AsyncClient) -> None:
    """A few values spelled out, so a change that moved both paths the same way would show here too."""
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    account = await register(client)
    customer = await make_customer(client, account, "Dana")
    ids = await seed_quotes(db, uuid.UUID(account.id), uuid.UUID(customer["id"]))
    by_id = {q["id"]: q for q in (await assert_same_listing(client, db, account, {"limit": 100}))["items"]}

    discounted = by_id[str(ids[2])]
    assert list(discounted) == list(QuoteOut.model_fields)
    assert discounted["number"] == "Q-0102" and discounted["status"] == "draft"
    assert [(i["quantity"], i["unit_price"], i["amount"]) for i in discounted["line_items"]] == [
        ("2", "12.3456", "24.69"), ("0.25", "2.125", "0.53"), ("1", "-25.00", "-25.00")]
    assert list(discounted["line_items"][0]) == ["name", "description", "category", "quantity", "unit",
                                                 "unit_price", "amount", "item"]
    assert (discounted["subtotal"], discounted["tax_rate"], discounted["tax"], discounted["total"]) == (
        "1.01", "0.10", "0.10", "1.11")
    assert discounted["customer_id"] is None and discounted["valid_until"] == "2026-04-03"
    assert discounted["created_at"] == "2026-03-01T11:30:00.246914Z"
    assert discounted["last_delivery"] == {"status": "queued", "to": "customer2.1@example.com", "attempts": 1,
                                           "updated_at": "2026-03-02T11:31:01.015838Z"}

    odd = by_id[str(ids[3])]
    assert [(i["quantity"], i["unit_price"], i["amount"], i["item"]) for i in odd["line_items"]] == [
        ("3", "7.50", "22.50", None), ("7.5", "10.00", "75.00", None), ("-0", "0.10", "-0.00", None)]
    assert odd["line_items"][0]["name"] == ODD_TEXT and odd["created_at"] == discounted["created_at"]
    # Two deliveries share the newest created_at: the one with the higher id is the last.
    async with db.session() as session:
        tied = sorted((d for d in (await session.get(Quote, ids[3])).deliveries), key=lambda d: d.id)
    assert odd["last_delivery"]["to"] == tied[-1].to_address

    plain = by_id[str(ids[0])]
    assert plain["line_items"] == [] and plain["last_delivery"] is None and plain["status"] == "processing"
    assert plain["created_at"] == "2026-03-01T09:30:00Z" and plain["updated_at"] == "2026-03-01T09:30:00Z"
    assert (plain["subtotal"], plain["tax_rate"], plain["total"]) == ("10.00", "0.0825", "10.83")
    assert plain["notes"] == f"notes 0\n{ODD_TEXT}" and plain["questions"][1] == ODD_TEXT


async def test_quote_listing_is_one_select_with_the_deliveries_joined(client: httpx.AsyncClient,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    account = await register(client)
    customer = await make_customer(client, account, "Dana")
    await seed_quotes(db, uuid.UUID(account.id), uuid.UUID(customer["id"]))
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    # On PostgreSQL the page is read through asyncpg itself (quote_service._fetch_page), past SQLAlchemy's
    # events: record what the driver is asked to run as well.
    driver_fetch = asyncpg.Connection.fetch

    async def fetch(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        statements.append(query)
        return await driver_fetch(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetch", fetch)
    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        page = await assert_same_listing(client, db, account, {"limit": 5})
        statements.clear()
        await client.get("/api/quotes", params={"limit": 5, "cursor": page["next_cursor"]}, headers=account.headers)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    # The contractor may come from the database too (a cache miss); the listing itself is one statement.
    listing = [s for s in statements if "email_deliveries" in s or "FROM quotes" in s]
    assert len(listing) == 1 and "FROM quotes" in listing[0] and "email_deliveries" in listing[0], statements
