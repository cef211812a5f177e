"""Quote and invoice PDFs (reportlab), stored through the storage service.

Rendering is split in two:

* ``quote_content`` / ``invoice_content`` gather everything printed into a
  plain, frozen ``PdfContent``; its hash decides whether the stored PDF is
  still current, so a PDF is rendered again only when something on it changed
  (the document, the customer, the business details, the terms or the logo).
* ``render_pdf`` turns that content into bytes. It is pure CPU work, so the
  async callers run it in a worker thread.

Every user string goes through ``xml.sax.saxutils.escape`` before it reaches a
reportlab ``Paragraph`` (which parses a mini-markup): a customer named
``<script>alert(1)</script>`` or ``<font size=90>`` prints literally (SEC-001).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

# bandit flags the xml package wholesale; escape() only escapes text, it parses nothing.
from xml.sax.saxutils import escape  # nosec B406

from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from backend.core.errors import AppError, InvalidState
from backend.core.logging import get_logger
from backend.core.money import cents
from backend.models import Contractor, Customer, Invoice, Quote
from backend.services import invoice_service, quote_service
from backend.services.contractor_cache import ContractorRef
from backend.services.queries import owned
from backend.services.storage_service import PresignedUrl, Storage, contractor_key

log = get_logger(__name__)

# Bump when the layout changes, so every stored PDF is rendered again on its next request.
RENDERER_VERSION = "1"
PDF_LINK_SECONDS = 3600
# A logo is drawn at most this big; larger images are refused before they are decoded.
LOGO_BOX = (1.8 * inch, 0.9 * inch)
LOGO_MAX_PIXELS = 40_000_000
LOGO_THUMBNAIL = (600, 300)

UNRENDERABLE_QUOTE_STATUSES = frozenset({"processing", "failed"})


@dataclass(frozen=True)
class PdfLine:
    name: str
    description: str
    quantity: str
    unit: str
    unit_price: str
    amount: str


@dataclass(frozen=True)
class PdfContent:
    """Everything printed on a document, as text; its hash identifies the rendering."""

    kind: Literal["quote", "invoice"]
    number: str
    title: str
    issued_on: str
    dates: tuple[tuple[str, str], ...]
    business_name: str
    business_phone: str
    business_address: str
    customer_name: str
    customer_email: str
    customer_phone: str
    customer_address: str
    currency: str
    lines: tuple[PdfLine, ...]
    totals: tuple[tuple[str, str], ...]
    terms_text: str
    deposit_percent: str
    deposit_amount: str
    logo_key: str | None

    def digest(self) -> str:
        payload = json.dumps({"v": RENDERER_VERSION, **asdict(self)}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


def money_text(value: Decimal | str, currency: str) -> str:
    """``USD 1,234.50``: the currency code, thousands separators, two places."""
    return f"{currency} {cents(Decimal(value)):,.2f}"


def _percent_text(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return f"{text}%"


def _lines(items: list[dict[str, Any]], currency: str) -> tuple[PdfLine, ...]:
    return tuple(
        PdfLine(
            name=str(item.get("name", "")),
            description=str(item.get("description") or ""),
            quantity=str(item.get("quantity", "")),
            unit=str(item.get("unit") or ""),
            unit_price=money_text(item.get("unit_price", "0"), currency),
            amount=money_text(item.get("amount", "0"), currency),
        )
        for item in items
    )


def _deposit(contractor: ContractorRef, total: Decimal, currency: str) -> tuple[str, str]:
    """The deposit the contractor's terms ask for: (percent, amount), or blanks when none."""
    percent = contractor.deposit_percent or Decimal("0")
    if percent <= 0:
        return "", ""
    return _percent_text(percent), money_text(total * percent / Decimal(100), currency)


def _customer_fields(customer: Customer | None) -> dict[str, str]:
    if customer is None:
        return {"customer_name": "", "customer_email": "", "customer_phone": "", "customer_address": ""}
    return {
        "customer_name": customer.name,
        "customer_email": customer.email or "",
        "customer_phone": customer.phone or "",
        "customer_address": customer.address or "",
    }


def _business_fields(contractor: ContractorRef, logo_key: str | None) -> dict[str, Any]:
    return {
        "business_name": contractor.business_name,
        "business_phone": contractor.phone or "",
        "business_address": contractor.address or "",
        "terms_text": contractor.terms_text or "",
        "logo_key": logo_key,
    }


def _day(value: date | datetime | None) -> str:
    return f"{value:%B} {value.day}, {value.year}" if value else ""


def quote_content(contractor: ContractorRef, quote: Quote, customer: Customer | None, *,
                  logo_key: str | None = None) -> PdfContent:
    """What a quote's PDF shows (internal notes and the dictated description are not on it)."""
    deposit_percent, deposit_amount = _deposit(contractor, quote.total, quote.currency)
    dates = (("Valid until", _day(quote.valid_until)),) if quote.valid_until else ()
    return PdfContent(
        kind="quote",
        number=quote.display_number,
        title=quote.title,
        issued_on=_day(quote.created_at),
        dates=dates,
        currency=quote.currency,
        lines=_lines(quote.line_items, quote.currency),
        totals=(
            ("Subtotal", money_text(quote.subtotal, quote.currency)),
            (f"Tax ({_percent_text(quote.tax_rate * 100)})", money_text(quote.tax, quote.currency)),
            ("Total", money_text(quote.total, quote.currency)),
        ),
        deposit_percent=deposit_percent,
        deposit_amount=deposit_amount,
        **_business_fields(contractor, logo_key),
        **_customer_fields(customer),
    )


def invoice_content(contractor: ContractorRef, invoice: Invoice, customer: Customer | None, *,
                    logo_key: str | None = None) -> PdfContent:
    """What an invoice's PDF shows: line items, totals, payments and the balance due."""
    dates: tuple[tuple[str, str], ...] = (("Due date", _day(invoice.due_date)),) if invoice.due_date else ()
    if invoice.paid_at:
        dates += (("Paid on", _day(invoice.paid_at)),)
    return PdfContent(
        kind="invoice",
        number=invoice.display_number,
        title="",
        issued_on=_day(invoice.created_at),
        dates=dates,
        currency=invoice.currency,
        lines=_lines(invoice.line_items, invoice.currency),
        totals=(
            ("Subtotal", money_text(invoice.subtotal, invoice.currency)),
            (f"Tax ({_percent_text(invoice.tax_rate * 100)})", money_text(invoice.tax, invoice.currency)),
            ("Total", money_text(invoice.total, invoice.currency)),
            ("Paid", money_text(invoice.amount_paid, invoice.currency)),
            ("Balance due", money_text(invoice.total - invoice.amount_paid, invoice.currency)),
        ),
        deposit_percent="",
        deposit_amount="",
        **_business_fields(contractor, logo_key),
        **_customer_fields(customer),
    )


# -- rendering (pure, CPU-bound: call it in a thread) ------------------------------------------


def _text(value: str) -> str:
    """User text made safe for a Paragraph: escaped markup, newlines kept as line breaks."""
    return escape(value).replace("\r\n", "\n").replace("\n", "<br/>")


def _logo_flowable(logo: bytes) -> Image | None:
    """The logo scaled into its box, or None when it cannot be read (the PDF is still made)."""
    try:
        with PILImage.open(io.BytesIO(logo)) as image:
            width, height = image.size
            if width * height > LOGO_MAX_PIXELS:
                log.warning("pdf.logo_too_large", width=width, height=height)
                return None
            image.draft("RGB", LOGO_THUMBNAIL)  # JPEG: decode at reduced size
            image.thumbnail(LOGO_THUMBNAIL)
            width, height = image.size
            buffer = io.BytesIO()
            image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(buffer, "PNG")
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as error:
        log.warning("pdf.logo_unreadable", error_type=type(error).__name__)
        return None
    scale = min(LOGO_BOX[0] / width, LOGO_BOX[1] / height)
    buffer.seek(0)
    return Image(buffer, width=width * scale, height=height * scale)


def render_pdf(content: PdfContent, logo: bytes | None = None) -> bytes:
    """The PDF for ``content``, as bytes."""
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=9.5, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=10.5, textColor=colors.HexColor("#444444"))
    heading = ParagraphStyle("heading", parent=styles["Heading1"], fontSize=18, leading=22, spaceAfter=2)
    label = ParagraphStyle("label", parent=body, fontName="Helvetica-Bold")
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    right_bold = ParagraphStyle("right_bold", parent=right, fontName="Helvetica-Bold")

    buffer = io.BytesIO()
    kind = "Quote" if content.kind == "quote" else "Invoice"
    doc = SimpleDocTemplate(
        buffer, pagesize=LETTER, leftMargin=0.75 * inch, rightMargin=0.75 * inch,
        topMargin=0.7 * inch, bottomMargin=0.7 * inch,
        title=f"{kind} {content.number}", author=content.business_name, creator="Quoted",
    )
    story: list[Any] = []

    # Header: business (and logo) on the left, document number and dates on the right.
    business = [Paragraph(_text(content.business_name), heading)]
    for line in (content.business_phone, content.business_address):
        if line:
            business.append(Paragraph(_text(line), small))
    facts = [Paragraph(f"{kind} {escape(content.number)}", right_bold),
             Paragraph(f"Issued {escape(content.issued_on)}", right)]
    facts += [Paragraph(f"{escape(name)}: {escape(value)}", right) for name, value in content.dates]
    logo_cell = _logo_flowable(logo) if logo else None
    left: list[Any] = [logo_cell, *business] if logo_cell else business
    header = Table([[left, facts]], colWidths=[4.2 * inch, 2.8 * inch])
    header.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [header, Spacer(1, 0.25 * inch)]

    # Customer.
    if content.customer_name:
        story.append(Paragraph("Prepared for" if content.kind == "quote" else "Bill to", label))
        for line in (content.customer_name, content.customer_email, content.customer_phone,
                     content.customer_address):
            if line:
                story.append(Paragraph(_text(line), body))
        story.append(Spacer(1, 0.2 * inch))
    if content.title:
        story += [Paragraph(_text(content.title), styles["Heading3"]), Spacer(1, 0.08 * inch)]

    # Line items.
    rows: list[list[Any]] = [[Paragraph("Item", label), Paragraph("Qty", label), Paragraph("Unit", label),
                              Paragraph("Unit price", right_bold), Paragraph("Amount", right_bold)]]
    for item in content.lines:
        name = _text(item.name)
        if item.description:
            name += f"<br/><font size=8 color='#555555'>{_text(item.description)}</font>"
        rows.append([Paragraph(name, body), Paragraph(escape(item.quantity), body), Paragraph(_text(item.unit), body),
                     Paragraph(escape(item.unit_price), right), Paragraph(escape(item.amount), right)])
    items = Table(rows, colWidths=[3.2 * inch, 0.6 * inch, 0.8 * inch, 1.2 * inch, 1.2 * inch], repeatRows=1)
    items.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#cccccc")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f2f2f2")),
    ]))
    story += [items, Spacer(1, 0.15 * inch)]

    # Totals, right-aligned; the last total-like row in bold.
    total_rows = [[Paragraph(escape(name), right), Paragraph(escape(value), right)] for name, value in content.totals]
    emphasis = next(i for i, (name, _) in enumerate(content.totals) if name == "Total")
    total_rows[emphasis] = [Paragraph(escape(content.totals[emphasis][0]), right_bold),
                            Paragraph(escape(content.totals[emphasis][1]), right_bold)]
    totals = Table(total_rows, colWidths=[1.6 * inch, 1.4 * inch], hAlign="RIGHT")
    totals.setStyle(TableStyle([("LINEABOVE", (0, emphasis), (-1, emphasis), 0.8, colors.black)]))
    story += [totals, Spacer(1, 0.3 * inch)]

    # Terms.
    if content.deposit_percent:
        story.append(Paragraph(
            f"Deposit: {escape(content.deposit_percent)} ({escape(content.deposit_amount)}) due on acceptance.", body,
        ))
    if content.terms_text:
        story += [Spacer(1, 0.1 * inch), Paragraph("Terms", label), Paragraph(_text(content.terms_text), small)]

    doc.build(story)
    return buffer.getvalue()


# -- stored PDFs ----------------------------------------------------------------------------------


async def _customer(session: AsyncSession, contractor: ContractorRef,
                    customer_id: uuid.UUID | None) -> Customer | None:
    if customer_id is None:
        return None
    stmt = owned(Customer, contractor.id).where(Customer.id == customer_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def current_logo_key(session: AsyncSession, contractor: ContractorRef) -> str | None:
    """The logo key from the row itself: the contractor may be a cached snapshot, and the
    logo must never lag behind an upload."""
    return await session.scalar(select(Contractor.logo_key).where(Contractor.id == contractor.id))


async def _logo_bytes(storage: Storage, logo_key: str | None) -> bytes | None:
    if not logo_key:
        return None
    try:
        return await storage.download_bytes(logo_key)
    except AppError:  # a missing or unreachable logo must not cost the contractor their PDF
        log.warning("pdf.logo_unavailable", key=logo_key)
        return None


async def _stored_pdf(session: AsyncSession, contractor: ContractorRef, storage: Storage,
                      document: Quote | Invoice, content: PdfContent) -> PresignedUrl:
    digest = content.digest()
    if document.pdf_key and document.pdf_hash == digest and await storage.exists(document.pdf_key):
        return await storage.presign(document.pdf_key, PDF_LINK_SECONDS)

    logo = await _logo_bytes(storage, content.logo_key)
    data = await asyncio.to_thread(render_pdf, content, logo)
    # The hash is in the key: a link to an older rendering never shows newer content.
    key = contractor_key(contractor.id, "pdfs", f"{content.kind}-{document.id}-{digest[:16]}.pdf")
    await storage.upload_bytes(data, key, "application/pdf")

    previous = document.pdf_key
    model = type(document)
    # A rendering is not an edit: write the columns without bumping updated_at.
    await session.execute(
        update(model).where(model.id == document.id)
        .values(pdf_key=key, pdf_hash=digest, updated_at=model.updated_at)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(document, "pdf_key", key)
    set_committed_value(document, "pdf_hash", digest)
    if previous and previous != key:
        try:
            await storage.delete_file(previous)
        except AppError:  # an orphaned old rendering costs bytes, not correctness
            log.warning("pdf.old_rendering_not_deleted", key=previous)
    log.info("pdf.rendered", kind=content.kind, document_id=str(document.id), size=len(data))
    return await storage.presign(key, PDF_LINK_SECONDS)


async def quote_pdf(session: AsyncSession, contractor: ContractorRef, *, storage: Storage,
                    quote_id: uuid.UUID) -> PresignedUrl:
    """A time-limited link to the quote's PDF, rendered again only if what it shows changed."""
    quote = await quote_service.get_quote(session, contractor, quote_id)
    if quote.status in UNRENDERABLE_QUOTE_STATUSES:
        raise InvalidState(f"A quote that is {quote.status} has no PDF yet; wait until it is generated.")
    customer = await _customer(session, contractor, quote.customer_id)
    content = quote_content(contractor, quote, customer, logo_key=await current_logo_key(session, contractor))
    return await _stored_pdf(session, contractor, storage, quote, content)


async def invoice_pdf(session: AsyncSession, contractor: ContractorRef, *, storage: Storage,
                      invoice_id: uuid.UUID) -> PresignedUrl:
    """A time-limited link to the invoice's PDF, rendered again only if what it shows changed."""
    invoice = await invoice_service.get_invoice(session, contractor, invoice_id)
    customer = await _customer(session, contractor, invoice.customer_id)
    content = invoice_content(contractor, invoice, customer, logo_key=await current_logo_key(session, contractor))
    return await _stored_pdf(session, contractor, storage, invoice, content)
