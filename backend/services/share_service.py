"""Public share links for quotes and invoices, and the customer's answer to a quote.

A share token is ``secrets.token_urlsafe(32)`` (256 random bits). Only its
SHA-256 is stored — like a password-reset token — so a database leak leaks no
live link; sharing again issues a new token that replaces the old one, and
revoking clears it. Public lookups go by the hash (a unique index), and an
unknown, malformed or revoked token all get the same 404.

The customer's side (view, accept, reject) has no account: the token is the
only credential, and the answer is written with one conditional ``UPDATE``
(``… WHERE status IN (answerable)``), so two simultaneous answers cannot both win.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from backend.core.errors import InvalidState, NotFound
from backend.core.logging import get_logger
from backend.models import Contractor, Customer, Invoice, Quote
from backend.services import invoice_service, quote_service
from backend.services.contractor_cache import ContractorRef

log = get_logger(__name__)

SHARE_TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters; anything far from that shape is not ours.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")

UNSHAREABLE_QUOTE_STATUSES = frozenset({"processing", "failed"})
ANSWERABLE_QUOTE_STATUSES = ("draft", "sent", "viewed")
UNVIEWED_QUOTE_STATUSES = ("draft", "sent")


class ShareLinkNotFound(NotFound):
    """The same answer for a token that never existed and one that was revoked."""

    def __init__(self) -> None:
        super().__init__("share link")
        self.message = "This link does not exist or is no longer valid; ask the sender for a new one."


@dataclass(frozen=True)
class ShareLink:
    token: str
    url: str


@dataclass(frozen=True)
class SharedQuote:
    """What the customer's page shows: the quote with its business and customer."""

    quote: Quote
    contractor: Contractor
    customer: Customer | None


@dataclass(frozen=True)
class SharedInvoice:
    invoice: Invoice
    contractor: Contractor
    customer: Customer | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(SHARE_TOKEN_BYTES)
    return token, hash_token(token)


async def _set_token_hash(session: AsyncSession, document: Quote | Invoice, token_hash: str | None) -> None:
    model = type(document)
    # Sharing is not an edit of the document: leave updated_at alone.
    await session.execute(
        update(model).where(model.id == document.id)
        .values(share_token_hash=token_hash, updated_at=model.updated_at)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(document, "share_token_hash", token_hash)


# -- the contractor's side ------------------------------------------------------------------


async def share_quote(session: AsyncSession, contractor: ContractorRef, *, quote_id: uuid.UUID,
                      public_base_url: str) -> ShareLink:
    """A new public link to the quote (``/q/{token}``); any previous link stops working."""
    quote = await quote_service.get_quote(session, contractor, quote_id, for_update=True)
    if quote.status in UNSHAREABLE_QUOTE_STATUSES:
        raise InvalidState(f"A quote that is {quote.status} cannot be shared yet; wait until it is generated.")
    token, token_hash = _new_token()
    await _set_token_hash(session, quote, token_hash)
    log.info("share.quote_link_issued", quote_id=str(quote.id))
    return ShareLink(token=token, url=f"{public_base_url}/q/{token}")


async def revoke_quote_share(session: AsyncSession, contractor: ContractorRef, *, quote_id: uuid.UUID) -> None:
    """Stop the quote's public link from working (nothing to do if it has none)."""
    quote = await quote_service.get_quote(session, contractor, quote_id, for_update=True)
    await _set_token_hash(session, quote, None)
    log.info("share.quote_link_revoked", quote_id=str(quote.id))


async def share_invoice(session: AsyncSession, contractor: ContractorRef, *, invoice_id: uuid.UUID,
                        public_base_url: str) -> ShareLink:
    """A new public link to the invoice (``/i/{token}``); any previous link stops working."""
    invoice = await invoice_service.get_invoice(session, contractor, invoice_id, for_update=True)
    token, token_hash = _new_token()
    await _set_token_hash(session, invoice, token_hash)
    log.info("share.invoice_link_issued", invoice_id=str(invoice.id))
    return ShareLink(token=token, url=f"{public_base_url}/i/{token}")


async def revoke_invoice_share(session: AsyncSession, contractor: ContractorRef, *, invoice_id: uuid.UUID) -> None:
    """Stop the invoice's public link from working (nothing to do if it has none)."""
    invoice = await invoice_service.get_invoice(session, contractor, invoice_id, for_update=True)
    await _set_token_hash(session, invoice, None)
    log.info("share.invoice_link_revoked", invoice_id=str(invoice.id))


# -- the customer's side (no account: the token is the credential) ---------------------------


async def _by_token(session: AsyncSession, model: Any, token: str) -> Any:
    if not _TOKEN_RE.match(token):
        raise ShareLinkNotFound()
    row = (await session.execute(select(model).where(model.share_token_hash == hash_token(token)))).scalar_one_or_none()
    if row is None:
        raise ShareLinkNotFound()
    return row


async def _parties(session: AsyncSession, contractor_id: uuid.UUID,
                   customer_id: uuid.UUID | None) -> tuple[Contractor, Customer | None]:
    contractor = await session.get(Contractor, contractor_id)
    if contractor is None or not contractor.is_active:  # a closed account's links die with it
        raise ShareLinkNotFound()
    customer = None
    if customer_id is not None:
        customer = (await session.execute(
            select(Customer).where(Customer.id == customer_id, Customer.contractor_id == contractor_id)
        )).scalar_one_or_none()
    return contractor, customer


async def _shared_quote(session: AsyncSession, quote: Quote) -> SharedQuote:
    contractor, customer = await _parties(session, quote.contractor_id, quote.customer_id)
    return SharedQuote(quote=quote, contractor=contractor, customer=customer)


async def view_shared_quote(session: AsyncSession, *, token: str) -> SharedQuote:
    """The customer opens the link: a draft or sent quote becomes ``viewed``."""
    quote: Quote = await _by_token(session, Quote, token)
    contractor, customer = await _parties(session, quote.contractor_id, quote.customer_id)
    if quote.status in UNVIEWED_QUOTE_STATUSES:
        # Conditional, so a view racing an accept can never turn "accepted" back into "viewed".
        await session.execute(
            update(Quote).where(Quote.id == quote.id, Quote.status.in_(UNVIEWED_QUOTE_STATUSES))
            .values(status="viewed", viewed_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
        await session.refresh(quote)
        log.info("share.quote_viewed", quote_id=str(quote.id))
    return SharedQuote(quote=quote, contractor=contractor, customer=customer)


def _refuse_answer(quote: Quote, action: str) -> None:
    """409 with a sentence the customer can act on, when the quote cannot take this answer."""
    if quote.status == "accepted":
        raise InvalidState(f"This quote was already accepted; it cannot be {action} again."
                           if action == "accepted" else
                           "This quote was already accepted; contact the business to change it.")
    if quote.status == "rejected":
        raise InvalidState("This quote was already declined; ask the business for a new quote."
                           if action == "accepted" else "This quote was already declined.")
    if quote.status not in ANSWERABLE_QUOTE_STATUSES:
        raise InvalidState("This quote cannot be answered right now; contact the business.")
    if action == "accepted" and quote.valid_until is not None and quote.valid_until < datetime.now(UTC).date():
        raise InvalidState(f"This quote expired on {quote.valid_until.isoformat()}; ask the business for a new one.")


async def _answer(session: AsyncSession, token: str, *, action: str, values: dict[str, Any]) -> SharedQuote:
    quote: Quote = await _by_token(session, Quote, token)
    _refuse_answer(quote, action)
    result = await session.execute(
        update(Quote).where(Quote.id == quote.id, Quote.status.in_(ANSWERABLE_QUOTE_STATUSES))
        .values(**values).execution_options(synchronize_session=False)
    )
    await session.refresh(quote)
    if getattr(result, "rowcount", 1) == 0:  # another answer won the race a moment ago
        _refuse_answer(quote, action)
    log.info(f"share.quote_{action}", quote_id=str(quote.id))
    return await _shared_quote(session, quote)


async def accept_shared_quote(session: AsyncSession, *, token: str, name: str) -> SharedQuote:
    """The customer accepts, signing with their name; 409 if already answered or expired."""
    now = datetime.now(UTC)
    return await _answer(session, token, action="accepted", values={
        "status": "accepted", "accepted_at": now, "accepted_by_name": name.strip(),
        "viewed_at": func.coalesce(Quote.viewed_at, now),
    })


async def reject_shared_quote(session: AsyncSession, *, token: str, reason: str | None) -> SharedQuote:
    """The customer declines, optionally saying why; 409 if already answered."""
    return await _answer(session, token, action="rejected", values={
        "status": "rejected", "rejected_at": datetime.now(UTC),
        "rejection_reason": (reason or "").strip() or None,
    })


async def view_shared_invoice(session: AsyncSession, *, token: str) -> SharedInvoice:
    """The customer opens an invoice link (view only)."""
    invoice: Invoice = await _by_token(session, Invoice, token)
    contractor, customer = await _parties(session, invoice.contractor_id, invoice.customer_id)
    return SharedInvoice(invoice=invoice, contractor=contractor, customer=customer)
