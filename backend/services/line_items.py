"""Line items shared by quotes and invoices: the server always computes the money."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from backend.core.money import Totals, compute_totals, format_decimal, format_money


class LineInput(Protocol):
    name: str
    description: str | None
    category: str | None
    quantity: Decimal
    unit: str | None
    unit_price: Decimal


@dataclass(frozen=True)
class PricedLines:
    items: list[dict[str, Any]]  # JSON-ready, money as decimal strings
    totals: Totals


def price_lines(lines: Iterable[LineInput], tax_rate: Decimal) -> PricedLines:
    lines = list(lines)
    totals = compute_totals(((line.quantity, line.unit_price) for line in lines), tax_rate)
    items = [
        {
            "name": line.name.strip(),
            "description": (line.description or "").strip(),
            "category": line.category or None,
            "quantity": format_decimal(line.quantity),
            "unit": (line.unit or "each").strip() or "each",
            "unit_price": format_decimal(line.unit_price),
            "amount": format_money(amount),
            **_item_key(line),
        }
        for line, amount in zip(lines, totals.amounts, strict=True)
    ]
    return PricedLines(items=items, totals=totals)


def _item_key(line: LineInput) -> dict[str, str]:
    """``{"item": key}`` for a line the estimator priced from ``unit_prices[key]``.

    Only generator lines carry one (``EstimateLine.item``); client input never sets it —
    editing carries it over from the stored line (``pricing_learning.carry_item_keys``).
    """
    item = getattr(line, "item", None)
    return {"item": item} if isinstance(item, str) and item else {}


def apply_totals(document: Any, priced: PricedLines) -> None:
    """Write line items and totals onto a quote or invoice row."""
    document.line_items = priced.items
    document.subtotal = priced.totals.subtotal
    document.tax = priced.totals.tax
    document.total = priced.totals.total
