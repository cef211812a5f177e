"""Public value types of the estimator: the rates it prices with and the estimate it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class CategoryRates:
    """One pricing-brain category: sell prices the contractor quotes with."""

    key: str  # slug, e.g. "plumbing_fixtures", [a-z0-9_]+, <= 64 chars
    display_name: str
    labor_rate: Decimal  # per hour, customer-facing
    markup_percent: Decimal  # informational materials margin, e.g. Decimal("20.00")
    min_charge: Decimal  # minimum for the category's lines in one quote
    unit_prices: Mapping[str, Decimal]  # item key -> customer-facing price per unit
    notes: str = ""


@dataclass(frozen=True)
class EstimateLine:
    """A draft quote line; the caller computes amount = quantity x unit_price (half-up, cents)."""

    name: str
    description: str
    category: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    # The ``unit_prices`` key the line was priced from (None for labour and minimum-charge lines),
    # so an edit of the line's price can be learned into exactly that stored price.
    item: str | None = None


@dataclass(frozen=True)
class Estimate:
    """A draft quote produced from a job description."""

    title: str
    lines: tuple[EstimateLine, ...]
    estimated_days: int
    crew_size: int
    confidence: str  # "low" | "medium" | "high"
    questions: tuple[str, ...]
