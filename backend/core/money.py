"""Money arithmetic: pure functions over Decimal, half-up to cents (SPEC §4).

amount = quantity × unit_price, subtotal = Σ amount, tax = subtotal × tax_rate,
total = subtotal + tax — each rounded half-up to cents. Never floats.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MAX_MONEY = Decimal("1000000.00")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return cents(quantity * unit_price)


@dataclass(frozen=True)
class Totals:
    amounts: tuple[Decimal, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def compute_totals(lines: Iterable[tuple[Decimal, Decimal]], tax_rate: Decimal) -> Totals:
    """Totals for (quantity, unit_price) pairs at a fractional tax rate."""
    amounts = tuple(line_amount(q, p) for q, p in lines)
    subtotal = cents(sum(amounts, Decimal("0")))
    tax = cents(subtotal * tax_rate)
    return Totals(amounts=amounts, subtotal=subtotal, tax=tax, total=subtotal + tax)


def format_money(value: Decimal) -> str:
    """'184.03': two places, no exponent."""
    return f"{cents(value):f}"


def format_rate(value: Decimal, *, min_places: int = 2, max_places: int = 4) -> str:
    """Unit prices and rates: up to four places, at least two ('85.00', '2.125')."""
    text = f"{value.quantize(Decimal(1).scaleb(-max_places), rounding=ROUND_HALF_UP):f}"
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(min_places, "0")
    return f"{whole}.{frac}" if frac else whole


def format_decimal(value: Decimal) -> str:
    """Quantities and fractions: plain decimal text without exponent or trailing zeros."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
