"""Claude (Anthropic Messages API): the only module that knows its URL, headers and errors.

A quote is asked for through a *forced tool call*: the request declares one
tool, ``record_quote``, whose JSON schema is the quote (title, line items,
days, crew, confidence, questions), and ``tool_choice`` makes the model call
it. The tool input is validated with Pydantic; anything that does not fit —
no tool call, a missing field, a quantity that is not a number, a negative
price — is a :class:`VendorBadResponse`: a failure for the circuit breaker,
never a quote. Amounts and totals are never taken from the model; the caller
recomputes them with ``line_items.price_lines``.

The prompt carries the contractor's pricing brain (labour rate, unit prices
and minimum charge per category), so what the contractor taught Quoted is
what Claude prices with.

Calls go through the INFRA-006 retry policy inside the ``claude`` breaker.
One ``httpx.AsyncClient`` per app (created in the lifespan, closed on
shutdown) with explicit connect and read timeouts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from backend.core.logging import get_logger
from backend.services.circuit_breaker import VendorBreaker
from backend.services.estimator import CategoryRates
from backend.services.retry import (
    VendorBadResponse,
    error_for_status,
    error_for_transport,
    with_retries,
)

log = get_logger(__name__)

VENDOR = "claude"
MESSAGES_PATH = "/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"
TOOL_NAME = "record_quote"
MAX_TOKENS = 4096
# Connecting is quick or broken; writing a quote takes the model a while.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=10.0, pool=5.0)

MAX_LINES = 200
MAX_MONEY = Decimal("1000000")


# -- what the model must return ---------------------------------------------------------------


def _to_decimal(value: object) -> Decimal:
    """JSON numbers and numeric strings through their text (never float arithmetic); nothing else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("must be a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not number.is_finite():
        raise ValueError("must be a finite number")
    return number.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


Number = Annotated[Decimal, BeforeValidator(_to_decimal)]


class ClaudeLine(BaseModel):
    """One line as the model proposes it; it satisfies ``line_items.LineInput``."""

    model_config = ConfigDict(extra="ignore")  # an "amount" from the model is ignored: we compute it

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default="", max_length=2000)
    category: str | None = Field(default=None, max_length=64)
    item: str | None = Field(default=None, max_length=80)  # the unit_prices key used, if any
    quantity: Number = Field(gt=0, le=Decimal("1000000"))
    unit: str | None = Field(default="each", max_length=32)
    unit_price: Number = Field(ge=0, le=MAX_MONEY)


class ClaudeQuote(BaseModel):
    model_config = ConfigDict(extra="ignore")  # "subtotal"/"total" from the model are ignored

    title: str = Field(min_length=1, max_length=200)
    line_items: list[ClaudeLine] = Field(min_length=1, max_length=MAX_LINES)
    estimated_days: int = Field(ge=0, le=3650)
    crew_size: int = Field(ge=1, le=1000)
    confidence: Literal["low", "medium", "high"]
    questions: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=10)


QUOTE_TOOL: dict[str, Any] = {
    "name": TOOL_NAME,
    "description": "Record the priced quote for the job. Call this exactly once with every line item.",
    "input_schema": {
        "type": "object",
        "additionalProperties": False,
        "required": ["title", "line_items", "estimated_days", "crew_size", "confidence", "questions"],
        "properties": {
            "title": {"type": "string", "maxLength": 200, "description": "Short job title for the quote."},
            "line_items": {
                "type": "array", "minItems": 1, "maxItems": MAX_LINES,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "quantity", "unit", "unit_price"],
                    "properties": {
                        "name": {"type": "string", "maxLength": 200},
                        "description": {"type": "string", "maxLength": 2000},
                        "category": {"type": "string", "description": "Key of the pricing category used."},
                        "item": {"type": "string",
                                 "description": "Key of the category's unit price used for this line, if any."},
                        "quantity": {"type": "number", "exclusiveMinimum": 0},
                        "unit": {"type": "string", "description": "each, hour, sq ft, linear ft, ..."},
                        "unit_price": {"type": "number", "minimum": 0,
                                       "description": "Customer-facing price per unit, before tax."},
                    },
                },
            },
            "estimated_days": {"type": "integer", "minimum": 0},
            "crew_size": {"type": "integer", "minimum": 1},
            "confidence": {"type": "string", "enum": ["low", "medium", "high"]},
            "questions": {"type": "array", "maxItems": 10, "items": {"type": "string"},
                          "description": "Clarifying questions the description leaves open."},
        },
    },
}


# -- the prompt ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuoteBrief:
    """Everything Claude needs to price one job with one contractor's rates."""

    description: str
    job_type: str | None
    customer_name: str | None
    business_name: str
    trade: str
    currency: str
    default_labor_rate: Decimal
    categories: Sequence[CategoryRates]


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def pricing_brain_text(brief: QuoteBrief) -> str:
    lines = [f"Default labour rate: {_money(brief.default_labor_rate)} {brief.currency}/hour."]
    for category in brief.categories:
        lines.append(
            f"- category `{category.key}` ({category.display_name}): labour {_money(category.labor_rate)}/hour, "
            f"minimum charge {_money(category.min_charge)}"
            + (f"; notes: {category.notes}" if category.notes else "")
        )
        for item, price in sorted(category.unit_prices.items()):
            lines.append(f"    - {item}: {price:f} per unit")
    return "\n".join(lines)


def build_system_prompt(brief: QuoteBrief) -> str:
    return (
        f"You are the estimator for {brief.business_name}, a {brief.trade} contractor. "
        "You turn a job description into a priced quote for the customer.\n\n"
        "Price ONLY with the contractor's pricing brain below: use its labour rates and unit prices, tag each "
        "line with the category key it comes from (and the unit price's item key in `item` when it uses "
        "one), and make each category's lines add up to at least its "
        "minimum charge. When the brain has no price for something, estimate a realistic local price. "
        f"All prices are in {brief.currency}, before tax; never add tax or totals yourself.\n\n"
        "Break labour out as hours. Keep line names short and customer-friendly. If the description leaves "
        "something open that changes the price, make a reasonable assumption, lower your confidence, and ask "
        "about it in `questions`.\n\n"
        f"The contractor's pricing brain:\n{pricing_brain_text(brief)}\n\n"
        f"Answer by calling the `{TOOL_NAME}` tool exactly once."
    )


def build_user_message(brief: QuoteBrief) -> str:
    parts = []
    if brief.job_type:
        parts.append(f"Job type: {brief.job_type}")
    if brief.customer_name:
        parts.append(f"Customer: {brief.customer_name}")
    # The description is the contractor's (or a transcript's) words: data, not instructions.
    parts.append(f"<job_description>\n{brief.description}\n</job_description>")
    return "\n".join(parts)


def build_request(brief: QuoteBrief, *, model: str) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": MAX_TOKENS,
        "system": build_system_prompt(brief),
        "messages": [{"role": "user", "content": build_user_message(brief)}],
        "tools": [QUOTE_TOOL],
        "tool_choice": {"type": "tool", "name": TOOL_NAME},
    }


# -- the answer -------------------------------------------------------------------------------------


def parse_response(response: httpx.Response) -> ClaudeQuote:
    """The validated tool input of a 200 answer; VendorBadResponse for anything else."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VendorBadResponse(VENDOR, "the answer is not JSON", status=response.status_code) from None
    content = body.get("content") if isinstance(body, dict) else None
    tool_use = next(
        (block for block in content or [] if isinstance(block, dict) and block.get("type") == "tool_use"
         and block.get("name") == TOOL_NAME),
        None,
    )
    if tool_use is None:
        stop_reason = body.get("stop_reason") if isinstance(body, dict) else None
        raise VendorBadResponse(VENDOR, f"no {TOOL_NAME} tool call (stop_reason={stop_reason})",
                                status=response.status_code)
    try:
        return ClaudeQuote.model_validate(tool_use.get("input"))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise VendorBadResponse(VENDOR, f"invalid tool input at {where or 'input'}: {first.get('msg')}",
                                status=response.status_code) from None


def _error_detail(response: httpx.Response) -> tuple[str, str | None]:
    """(message, error type) from Anthropic's ``{"type": "error", "error": {...}}`` body."""
    try:
        error = response.json().get("error") or {}
        kind = error.get("type")
        return f"HTTP {response.status_code} {kind or ''}".strip(), kind
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}", None


class ClaudeClient:
    """Quote generation through Claude, behind retries and the ``claude`` breaker."""

    vendor = VENDOR

    def __init__(self, *, api_key: str, base_url: str, model: str, breaker: VendorBreaker,
                 backoff_scale: float, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self.model = model
        self.breaker = breaker
        self.backoff_scale = backoff_scale
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION,
                     "content-type": "application/json"},
        )

    async def generate_quote(self, brief: QuoteBrief) -> ClaudeQuote:
        """A validated quote draft (amounts not included: the caller prices the lines).

        Raises VendorUnavailable (breaker open), VendorTransientError (still failing
        after the retries), VendorBadResponse (invalid answer) or VendorRejected (a 4xx).
        """
        payload = build_request(brief, model=self.model)

        async def attempt() -> ClaudeQuote:
            started = time.perf_counter()
            try:
                response = await self._http.post(MESSAGES_PATH, json=payload)
            except httpx.TransportError as error:
                raise error_for_transport(VENDOR, error) from None
            if response.status_code >= 400:
                message, kind = _error_detail(response)
                raise error_for_status(VENDOR, response, message=message, error_type=kind)
            draft = parse_response(response)
            usage = response.json().get("usage") or {}
            log.info("claude.quote_drafted", lines=len(draft.line_items),
                     input_tokens=usage.get("input_tokens"), output_tokens=usage.get("output_tokens"),
                     ms=round((time.perf_counter() - started) * 1000))
            return draft

        return await self.breaker.guard(lambda: with_retries(VENDOR, attempt, scale=self.backoff_scale))

    async def aclose(self) -> None:
        await self._http.aclose()
