"""Quote generation with Claude, from text or audio, and its durable fallback (INFRA-006/009).

* No ``ANTHROPIC_API_KEY``: the local estimator prices the job synchronously
  (``quote_service.generate_quote``, ``generated_by: "local"``).
* Claude answers (within its retries): the quote is a ``draft`` at once (201).
* Claude fails — still failing after its retries, an invalid answer, a 4xx,
  or its breaker is open: the quote is saved as ``processing`` together with a
  ``quote.generate`` outbox item, in the request's transaction (202). The
  dispatcher finishes it later and it becomes a ``draft`` without anyone
  doing anything. If the item goes dead, the quote is ``failed`` with a plain
  sentence in ``error``; :func:`retry_generation` queues it again.
* Audio: the recording is stored (``contractors/{id}/audio/…``) *before* it is
  transcribed, so it survives a Whisper outage; the item then transcribes it
  first, and the transcript becomes the quote's ``description``.

Line items from Claude are validated (``claude_service``) and priced here with
``line_items.price_lines``: amounts and totals are always the server's.
No database transaction is held open across a vendor call.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import (
    AppError,
    InvalidState,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    VendorUnavailable,
)
from backend.core.logging import get_logger
from backend.models import Contractor, Customer, Quote
from backend.models.base import utcnow
from backend.services import customer_service, outbox, pricing_service, quota_service, quote_service
from backend.services.billing_plans import QuotaRules
from backend.services.claude_service import ClaudeQuote, QuoteBrief
from backend.services.contractor_cache import ContractorRef
from backend.services.estimator import CategoryRates, estimate
from backend.services.line_items import LineInput, apply_totals, price_lines
from backend.services.outbox import ClaimedItem, Handler, OutboxContext, PermanentFailure
from backend.services.retry import VendorError
from backend.services.storage_service import Storage, contractor_key
from backend.services.transcription_service import MAX_AUDIO_BYTES, AudioFormat, sniff_audio
from backend.services.vendors import Vendors

log = get_logger(__name__)

GENERATE_KIND = "quote.generate"
MAX_DESCRIPTION = 5000
READ_CHUNK = 256 * 1024

GENERATION_FAILED = (
    "We could not generate this quote: the AI service did not give a usable answer after several tries. "
    "Retry it, or write the line items yourself."
)
TRANSCRIPTION_NOT_CONFIGURED = (
    "Audio transcription is not configured on this server, so recordings cannot be turned into quotes; "
    "type the job description instead."
)

ReadChunk = Callable[[int], Awaitable[bytes]]


class TranscriptionNotConfigured(ServiceUnavailable):
    message = TRANSCRIPTION_NOT_CONFIGURED

    def __init__(self) -> None:
        super().__init__(retry_after=3600)


@dataclass(frozen=True)
class Generated:
    """A generated quote before pricing: lines carry quantity and unit price, never amounts."""

    title: str
    lines: Sequence[LineInput]
    estimated_days: int | None
    crew_size: int | None
    confidence: str
    questions: list[str]
    generated_by: str


@dataclass(frozen=True)
class PricingInputs:
    brief: QuoteBrief
    trade: str


# -- building blocks ---------------------------------------------------------------------------


async def _pricing_inputs(session: AsyncSession, contractor: ContractorRef, *, description: str,
                          job_type: str | None, customer_id: uuid.UUID | None) -> PricingInputs:
    rates = await pricing_service.rates_for(session, contractor)
    brain = await pricing_service.get_settings(session, contractor)
    customer_name = None
    if customer_id is not None:
        customer = await session.get(Customer, customer_id)
        if customer is not None and customer.contractor_id == contractor.id:
            customer_name = customer.name
    brief = QuoteBrief(description=description, job_type=job_type, customer_name=customer_name,
                       business_name=contractor.business_name, trade=contractor.trade, currency=contractor.currency,
                       default_labor_rate=brain.default_labor_rate, categories=rates)
    return PricingInputs(brief=brief, trade=contractor.trade)


def _from_claude(draft: ClaudeQuote, categories: Sequence[CategoryRates]) -> Generated:
    # Only keys the contractor has survive: an item key names a stored unit price (pricing_learning).
    items = {c.key: set(c.unit_prices) for c in categories}
    lines = []
    for line in draft.line_items:
        category = line.category if line.category in items else None
        item = line.item if category is not None and line.item in items[category] else None
        lines.append(line.model_copy(update={"category": category, "item": item}))
    return Generated(title=draft.title, lines=lines, estimated_days=draft.estimated_days, crew_size=draft.crew_size,
                     confidence=draft.confidence, questions=list(draft.questions), generated_by="claude")


def _from_estimator(inputs: PricingInputs, description: str) -> Generated:
    brief = inputs.brief
    result = estimate(description, categories=list(brief.categories), trade=inputs.trade,
                      default_labor_rate=brief.default_labor_rate)
    return Generated(title=result.title, lines=list(result.lines),  # type: ignore[arg-type]
                     estimated_days=result.estimated_days,
                     crew_size=result.crew_size, confidence=result.confidence, questions=list(result.questions),
                     generated_by="local")


async def _generate(vendors: Vendors, inputs: PricingInputs, description: str) -> Generated:
    """Claude when configured (may raise VendorError / VendorUnavailable), else the local estimator."""
    if vendors.claude is None:
        return _from_estimator(inputs, description)
    brief = inputs.brief
    if brief.description != description:
        brief = QuoteBrief(**{**brief.__dict__, "description": description})
    draft = await vendors.claude.generate_quote(brief)
    return _from_claude(draft, brief.categories)


def _fill(quote: Quote, generated: Generated) -> None:
    """Write a generated quote onto its row; the server prices every line."""
    apply_totals(quote, price_lines(generated.lines, quote.tax_rate))
    quote.title = generated.title[:200]
    quote.estimated_days = generated.estimated_days
    quote.crew_size = generated.crew_size
    quote.confidence = generated.confidence
    quote.questions = list(generated.questions)
    quote.generated_by = generated.generated_by
    quote.status = "draft"
    quote.error = None


async def _new_quote(session: AsyncSession, contractor: ContractorRef, *, status: str, description: str,
                     customer_id: uuid.UUID | None, job_type: str | None, generated_by: str) -> Quote:
    return Quote(
        id=uuid.uuid4(),
        contractor_id=contractor.id,
        customer_id=customer_id,
        number=await quote_service.next_number(session, contractor, counter="quote_counter"),
        status=status,
        title="",
        description=description,
        job_type=job_type,
        line_items=[],
        tax_rate=contractor.tax_rate,
        currency=contractor.currency,
        valid_until=(datetime.now(UTC) + timedelta(days=contractor.quote_valid_days)).date(),
        confidence="medium",
        questions=[],
        generated_by=generated_by,
    )


async def _release_connection(session: AsyncSession) -> None:
    """End the request's (read-only so far) transaction before a slow vendor call.

    Nothing has been written yet; committing now returns the connection to the
    pool — and on SQLite releases the write lock — for the seconds the vendor
    may take, instead of holding them across the network call.
    """
    await session.commit()


async def _save_processing(session: AsyncSession, contractor: ContractorRef, *, vendors: Vendors,
                           description: str, customer_id: uuid.UUID | None, job_type: str | None,
                           audio: dict[str, str] | None, reason: BaseException, delay_seconds: float,
                           quota: QuotaRules) -> Quote:
    """The quote as ``processing`` and the outbox item that will finish it, in one transaction.

    A deferred quote counts against the plan quota like a finished one (``quota_service``).
    """
    await quota_service.consume_quote(session, contractor.id, quota)
    quote = await _new_quote(session, contractor, status="processing", description=description,
                             customer_id=customer_id, job_type=job_type,
                             generated_by="claude" if vendors.claude is not None else "local")
    session.add(quote)
    payload: dict[str, Any] = {"quote_id": str(quote.id)}
    if audio is not None:
        payload["audio"] = audio
    outbox.enqueue(session, kind=GENERATE_KIND, payload=payload, subject_id=quote.id, contractor_id=contractor.id,
                   delay_seconds=delay_seconds)
    await session.flush()
    await session.refresh(quote)
    log.warning("quote.generation_deferred", quote_id=str(quote.id), vendor=getattr(reason, "vendor", None),
                reason=type(reason).__name__, status=getattr(reason, "status", None), audio=audio is not None)
    return quote


# -- requests --------------------------------------------------------------------------------------


async def generate_quote(session: AsyncSession, contractor: ContractorRef, *, vendors: Vendors,
                         description: str, customer_id: uuid.UUID | None, job_type: str | None,
                         retry_delay_seconds: float, quota: QuotaRules) -> Quote:
    """A ``draft`` quote, or a ``processing`` one (finished by the outbox) when Claude is unavailable.

    402 ``quota_exceeded`` (after the 404 for a foreign customer) when the plan allows no more
    quotes; the quota unit is taken in the transaction that creates the quote.
    """
    await customer_service.ensure_customer(session, contractor, customer_id)
    if vendors.claude is None:
        await quota_service.consume_quote(session, contractor.id, quota)
        return await quote_service.generate_quote(session, contractor, description=description,
                                                  customer_id=customer_id, job_type=job_type)
    # Unlocked pre-check: an over-quota request must not pay for a Claude call first.
    await quota_service.check_quota(session, contractor.id, quota)
    inputs = await _pricing_inputs(session, contractor, description=description, job_type=job_type,
                                   customer_id=customer_id)
    await _release_connection(session)
    try:
        generated = await _generate(vendors, inputs, description)
    except (VendorError, VendorUnavailable) as error:
        return await _save_processing(session, contractor, vendors=vendors, description=description,
                                      customer_id=customer_id, job_type=job_type, audio=None, reason=error,
                                      delay_seconds=retry_delay_seconds, quota=quota)
    await quota_service.consume_quote(session, contractor.id, quota)
    quote = await _new_quote(session, contractor, status="draft", description=description, customer_id=customer_id,
                             job_type=job_type, generated_by="claude")
    _fill(quote, generated)
    session.add(quote)
    await session.flush()
    await session.refresh(quote)
    log.info("quote.generated", quote_id=str(quote.id), generated_by="claude", lines=len(quote.line_items),
             total=str(quote.total))
    return quote


async def read_audio(read: ReadChunk) -> tuple[bytes, AudioFormat]:
    """The upload's bytes (413 past 25 MB, read in chunks) and its format by signature (else 415)."""
    data = bytearray()
    while chunk := await read(READ_CHUNK):
        data += chunk
        if len(data) > MAX_AUDIO_BYTES:
            raise PayloadTooLarge("The recording is larger than 25 MB; record a shorter description.")
    audio = sniff_audio(bytes(data[:16]))
    if audio is None:
        raise UnsupportedMediaType("The recording must be WebM, Ogg, MP3, M4A or WAV audio.")
    return bytes(data), audio


async def generate_from_audio(session: AsyncSession, contractor: ContractorRef, *, vendors: Vendors,
                              storage: Storage, read: ReadChunk, customer_id: uuid.UUID | None,
                              retry_delay_seconds: float, quota: QuotaRules) -> Quote:
    """Store the recording, transcribe it and generate; ``processing`` (202) if Whisper or Claude is down."""
    if vendors.whisper is None:
        raise TranscriptionNotConfigured()
    data, audio_format = await read_audio(read)
    await customer_service.ensure_customer(session, contractor, customer_id)
    # Before the recording is stored and transcribed: an over-quota request costs nothing.
    await quota_service.check_quota(session, contractor.id, quota)
    await _release_connection(session)
    key = contractor_key(contractor.id, "audio", f"{uuid.uuid4().hex}.{audio_format.extension}")
    await storage.upload_bytes(data, key, audio_format.content_type)
    log.info("quote.audio_stored", key=key, bytes=len(data), content_type=audio_format.content_type)
    try:
        transcript = await vendors.whisper.transcribe(data, audio_format)
    except (VendorError, VendorUnavailable) as error:
        audio = {"key": key, "content_type": audio_format.content_type, "extension": audio_format.extension}
        return await _save_processing(session, contractor, vendors=vendors, description="", customer_id=customer_id,
                                      job_type=None, audio=audio, reason=error, delay_seconds=retry_delay_seconds,
                                      quota=quota)
    return await generate_quote(session, contractor, vendors=vendors, description=transcript[:MAX_DESCRIPTION],
                                customer_id=customer_id, job_type=None, retry_delay_seconds=retry_delay_seconds,
                                quota=quota)


async def retry_generation(session: AsyncSession, contractor: ContractorRef, quote_id: uuid.UUID) -> Quote:
    """Queue a ``failed`` quote's generation again (409 for any other status)."""
    quote = await quote_service.get_quote(session, contractor, quote_id, for_update=True)
    if quote.status != "failed":
        raise InvalidState(f"Only a quote whose generation failed can be retried; this one is {quote.status}.")
    quote.status = "processing"
    quote.error = None
    if not await outbox.requeue_dead(session, kind=GENERATE_KIND, subject_id=quote.id):
        outbox.enqueue(session, kind=GENERATE_KIND, payload={"quote_id": str(quote.id)}, subject_id=quote.id,
                       contractor_id=contractor.id)
    await session.flush()
    await session.refresh(quote)
    log.info("quote.generation_retried", quote_id=str(quote.id))
    return quote


# -- the outbox handler ------------------------------------------------------------------------------


async def run_generation(ctx: OutboxContext, item: ClaimedItem) -> None:
    """Finish a ``processing`` quote: transcribe its audio if needed, generate, price, mark ``draft``."""
    quote_id = uuid.UUID(item.payload["quote_id"])
    audio = item.payload.get("audio")
    async with ctx.db.session() as session:
        quote = await session.get(Quote, quote_id)
        if quote is None or quote.status != "processing":
            return  # deleted, or finished by an earlier attempt: nothing to do
        contractor = await session.get(Contractor, quote.contractor_id)
        if contractor is None:
            return
        description = quote.description
        inputs = await _pricing_inputs(session, contractor, description=description, job_type=quote.job_type,
                                       customer_id=quote.customer_id)

    if not description and audio:
        if ctx.vendors.whisper is None:
            raise PermanentFailure(TRANSCRIPTION_NOT_CONFIGURED)
        data = await ctx.storage.download_bytes(audio["key"])
        transcript = await ctx.vendors.whisper.transcribe(data, AudioFormat(audio["content_type"], audio["extension"]))
        description = transcript[:MAX_DESCRIPTION]
        # Kept at once: if Claude fails next, the next attempt does not transcribe again.
        async with ctx.db.session() as session:
            await session.execute(
                update(Quote).where(Quote.id == quote_id, Quote.status == "processing")
                .values(description=description, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    generated = await _generate(ctx.vendors, inputs, description)

    async with ctx.finishing(item) as session:
        quote = await session.get(Quote, quote_id, with_for_update=True)
        if quote is None or quote.status != "processing":
            return
        _fill(quote, generated)
        await session.flush()
        log.info("quote.generated", quote_id=str(quote.id), generated_by=generated.generated_by,
                 lines=len(quote.line_items), total=str(quote.total), deferred=True, attempts=item.attempts)


async def on_generation_dead(session: AsyncSession, item: ClaimedItem, error: BaseException) -> None:
    """The quote gives up: ``failed``, with a sentence the contractor can act on (never the vendor's error)."""
    if isinstance(error, PermanentFailure | AppError) and not isinstance(error, ServiceUnavailable):
        sentence = error.message
    else:
        sentence = GENERATION_FAILED
    await session.execute(
        update(Quote).where(Quote.id == uuid.UUID(item.payload["quote_id"]), Quote.status == "processing")
        .values(status="failed", error=sentence, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    log.warning("quote.generation_failed", quote_id=item.payload["quote_id"], attempts=item.attempts)


GENERATION_HANDLER = Handler(run=run_generation, on_dead=on_generation_dead)
