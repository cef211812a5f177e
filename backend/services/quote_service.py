"""Quotes: generation with the local estimator, editing, listing, numbering."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, String, Text, bindparam, cast, select, true, update
from sqlalchemy.dialects import postgresql as postgresql_dialects
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from backend.core.errors import InvalidState
from backend.core.logging import get_logger
from backend.models import Contractor, EmailDelivery, Invoice, Quote
from backend.schemas.quotes import QuoteListRow
from backend.services import customer_service, pricing_learning, pricing_service
from backend.services.cache_service import Cache
from backend.services.contractor_cache import ContractorRef
from backend.services.database import is_database_unavailable
from backend.services.estimator import estimate
from backend.services.line_items import LineInput, apply_totals, price_lines
from backend.services.queries import cut_page, decode_cursor, get_owned, keyset_bound, owned_columns

log = get_logger(__name__)

EDITABLE_STATUSES = frozenset({"draft", "sent", "viewed"})


async def next_number(session: AsyncSession, contractor: ContractorRef, *, counter: str) -> int:
    """Take the contractor's next document number atomically (Q-0001, INV-0001)."""
    column = getattr(Contractor, counter)
    stmt = (
        update(Contractor)
        .where(Contractor.id == contractor.id)
        .values({column: column + 1})
        .returning(column)
        .execution_options(synchronize_session=False)
    )
    return int((await session.execute(stmt)).scalar_one())


async def generate_quote(session: AsyncSession, contractor: ContractorRef, *, description: str,
                         customer_id: uuid.UUID | None, job_type: str | None) -> Quote:
    """Price a job description with the contractor's pricing brain; the quote starts as a draft."""
    await customer_service.ensure_customer(session, contractor, customer_id)
    rates = await pricing_service.rates_for(session, contractor)
    brain = await pricing_service.get_settings(session, contractor)
    result = estimate(description, categories=rates, trade=contractor.trade,
                      default_labor_rate=brain.default_labor_rate)
    priced = price_lines(result.lines, contractor.tax_rate)  # type: ignore[arg-type]
    quote = Quote(
        id=uuid.uuid4(),
        contractor_id=contractor.id,
        customer_id=customer_id,
        number=await next_number(session, contractor, counter="quote_counter"),
        status="draft",
        title=result.title[:200],
        description=description,
        job_type=job_type,
        tax_rate=contractor.tax_rate,
        currency=contractor.currency,
        valid_until=(datetime.now(UTC) + timedelta(days=contractor.quote_valid_days)).date(),
        estimated_days=result.estimated_days,
        crew_size=result.crew_size,
        confidence=result.confidence,
        questions=list(result.questions),
        generated_by="local",
    )
    apply_totals(quote, priced)
    session.add(quote)
    await session.flush()
    await session.refresh(quote)
    log.info("quote.generated", quote_id=str(quote.id), generated_by="local", lines=len(priced.items),
             total=str(quote.total))
    return quote


async def get_quote(session: AsyncSession, contractor: ContractorRef, quote_id: uuid.UUID,
                    *, for_update: bool = False) -> Quote:
    return await get_owned(session, Quote, contractor.id, quote_id, what="quote", for_update=for_update)


@functools.cache
def _list_page_statement(*, lateral: bool, by_status: bool, by_customer: bool, after_cursor: bool) -> Select[Any]:
    """A list page's SELECT, built once per shape; the values are bind parameters.

    The columns come in ``QuoteListRow`` order: the quote and its newest email delivery. Money and JSON are
    read as text (NUMERIC and JSONB on PostgreSQL, text on SQLite), so no Decimal or JSON codec runs per value
    (``quote_page_json`` reads them). The newest delivery joins the same query, one probe of
    ``ix_email_deliveries_quote_id`` per row: LATERAL on PostgreSQL, a correlated subquery on SQLite (which
    has no LATERAL).
    """
    q = Quote.__table__.c
    newest = (select(EmailDelivery.id).where(EmailDelivery.quote_id == q.id)
              .order_by(EmailDelivery.created_at.desc(), EmailDelivery.id.desc()).limit(1))
    delivery: Any
    if lateral:
        delivery = newest.with_only_columns(EmailDelivery.status, EmailDelivery.to_address, EmailDelivery.attempts,
                                            EmailDelivery.updated_at).lateral("last_delivery")
        joined = Quote.__table__.outerjoin(delivery, true())
    else:
        delivery = EmailDelivery.__table__.alias("last_delivery")
        joined = Quote.__table__.outerjoin(delivery, delivery.c.id == newest.scalar_subquery())
    d = delivery.c
    stmt = owned_columns(
        Quote, bindparam("contractor_id", type_=q.contractor_id.type),
        q.id, q.number, q.status, q.error, q.customer_id, q.title, q.description, q.job_type,
        cast(q.line_items, Text).label("line_items"), cast(q.subtotal, String).label("subtotal"),
        cast(q.tax_rate, String).label("tax_rate"), cast(q.tax, String).label("tax"),
        cast(q.total, String).label("total"), q.currency, q.notes, q.valid_until, q.estimated_days, q.crew_size,
        q.confidence, cast(q.questions, Text).label("questions"), q.generated_by, q.created_at, q.updated_at,
        d.status.label("delivery_status"), d.to_address.label("delivery_to"), d.attempts.label("delivery_attempts"),
        d.updated_at.label("delivery_updated_at"),
    ).select_from(joined)
    if by_status:
        stmt = stmt.where(q.status == bindparam("status", type_=q.status.type))
    if by_customer:
        stmt = stmt.where(q.customer_id == bindparam("customer_id", type_=q.customer_id.type))
    after = ((bindparam("after_created_at", type_=q.created_at.type), bindparam("after_id", type_=q.id.type))
             if after_cursor else None)
    return keyset_bound(stmt, q.created_at, q.id, limit=bindparam("limit", type_=Integer), after=after)


async def list_quotes(session: AsyncSession, contractor: ContractorRef, *, limit: int, cursor: str | None,
                      status: str | None = None,
                      customer_id: uuid.UUID | None = None) -> tuple[Sequence[QuoteListRow], str | None]:
    """A page of the contractor's quotes, newest first, as rows for ``quote_page_json``.

    The list page is the hottest read (SPEC §6: under 5 ms at 1,000,000 quotes): one prepared Core query,
    no ORM instances, no second query for the deliveries. On PostgreSQL, when it is the first thing the
    session does, it takes the session's connection in AUTOCOMMIT: meant for a read-only request (the list
    route); writes after it in the same session would each commit on their own.
    """
    after = decode_cursor(cursor) if cursor else None
    shape = {"by_status": status is not None, "by_customer": customer_id is not None, "after_cursor": after is not None}
    values: dict[str, Any] = {"contractor_id": contractor.id, "limit": limit + 1}
    if status is not None:
        values["status"] = status
    if customer_id is not None:
        values["customer_id"] = customer_id
    if after is not None:
        values["after_created_at"], values["after_id"] = after
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    # On PostgreSQL in AUTOCOMMIT: one SELECT needs no transaction, which saves the BEGIN and COMMIT round trips.
    autocommit = postgres and not session.in_transaction()
    connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"} if autocommit else None)
    if autocommit:
        records = await _fetch_page(connection, values, **shape)
        return cut_page(records, limit, by_key=True)  # a Record unpacks like a QuoteListRow
    # Elsewhere (SQLite, or inside a transaction) Core rows: the statement object is reused, so SQLAlchemy
    # computes its cache key once.
    rows = (await connection.execute(_list_page_statement(lateral=postgres, **shape), values)).all()
    return cut_page(rows, limit)  # type: ignore[return-value]  # each Row unpacks like a QuoteListRow


@functools.cache
def _page_sql(*, by_status: bool, by_customer: bool, after_cursor: bool) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """The PostgreSQL text of a list page's SELECT, its parameter names in ``$n`` order, and the values
    SQLAlchemy bound itself (the LATERAL's LIMIT 1)."""
    compiled = _list_page_statement(lateral=True, by_status=by_status, by_customer=by_customer,
                                    after_cursor=after_cursor).compile(dialect=postgresql_dialects.asyncpg.dialect())
    names = tuple(compiled.positiontup or ())
    fixed = {name: bind.effective_value for name, bind in compiled.binds.items() if bind.value is not None}
    return str(compiled), names, fixed


async def _fetch_page(connection: AsyncConnection, values: dict[str, Any], **shape: bool) -> list[Any]:
    """The page's rows through the driver itself (asyncpg ``Record``s, its own prepared statement), without
    SQLAlchemy's cursor and result layers: ~0.4 ms of a ~3 ms page on the bench machine. The connection is
    still the session's, checked out from the pool as usual; a failure is handed back as SQLAlchemy would
    hand it (a ``DBAPIError``, the connection invalidated when the database is unreachable), so the pool and
    the 503 handler treat it the same way."""
    sql, names, fixed = _page_sql(**shape)
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        records: list[Any] = await driver.fetch(sql, *[values[n] if n in values else fixed[n] for n in names])
    except Exception as exc:  # asyncpg's own errors: mapped as SQLAlchemy maps them
        # A closed connection is a disconnect, as SQLAlchemy's asyncpg dialect judges it ("connection is
        # closed" is an InterfaceError without a SQLSTATE); the rest by the usual rules.
        unavailable = driver.is_closed() or is_database_unavailable(exc)
        if unavailable:
            await connection.invalidate(exc)
        raise DBAPIError(sql, None, exc, connection_invalidated=unavailable) from exc
    return records


async def update_quote(session: AsyncSession, contractor: ContractorRef, quote_id: uuid.UUID, *,
                       changes: dict[str, Any], line_items: Sequence[LineInput] | None,
                       cache: Cache) -> Quote:
    """Edit title, notes, customer, dates and line items; totals are recomputed here.

    Unit-price edits of stored lines are learned into the pricing brain (``pricing_learning``).
    """
    quote = await get_quote(session, contractor, quote_id, for_update=True)
    if quote.status not in EDITABLE_STATUSES:
        raise InvalidState(f"A quote that is {quote.status} cannot be edited.")
    if "customer_id" in changes:
        await customer_service.ensure_customer(session, contractor, changes["customer_id"])
    for field, value in changes.items():
        setattr(quote, field, value)
    if line_items is not None:
        priced = price_lines(line_items, quote.tax_rate)
        edits = pricing_learning.carry_item_keys(list(quote.line_items or []), priced.items)
        apply_totals(quote, priced)
        await pricing_learning.learn_from_edits(session, contractor, cache=cache, quote_id=quote.id, edits=edits)
    await session.flush()
    await session.refresh(quote)
    return quote


async def delete_quote(session: AsyncSession, contractor: ContractorRef, quote_id: uuid.UUID) -> None:
    quote = await get_quote(session, contractor, quote_id)
    invoiced = await session.scalar(select(Invoice.id).where(Invoice.quote_id == quote.id))
    if invoiced is not None:
        raise InvalidState("This quote has an invoice; delete the invoice first.")
    await session.delete(quote)
    await session.flush()
