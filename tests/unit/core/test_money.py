"""Money invariants of SPEC §4, for any line items (property-based)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from backend.core.money import compute_totals, format_decimal, format_money, format_rate

CENT = Decimal("0.01")
quantities = st.decimals(min_value=0, max_value=10000, places=4, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=0, max_value=100000, places=4, allow_nan=False, allow_infinity=False)
rates = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False)


def half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@given(st.lists(st.tuples(quantities, prices), max_size=40), rates)
def test_totals_obey_the_invariants_for_any_line_items(lines: list[tuple[Decimal, Decimal]], rate: Decimal) -> None:
    totals = compute_totals(lines, rate)
    assert list(totals.amounts) == [half_up(q * p) for q, p in lines]
    assert totals.subtotal == sum(totals.amounts, Decimal(0))
    assert totals.tax == half_up(totals.subtotal * rate)
    assert totals.total == totals.subtotal + totals.tax
    for value in (*totals.amounts, totals.subtotal, totals.tax, totals.total):
        assert value == value.quantize(CENT)


def test_half_up_not_bankers_rounding() -> None:
    # 2 × 1.1625 = 2.325 → 2.33 half-up (banker's rounding and floats give 2.32)
    assert compute_totals([(Decimal("2"), Decimal("1.1625"))], Decimal(0)).subtotal == Decimal("2.33")
    assert compute_totals([(Decimal("1"), Decimal("0.125"))], Decimal(0)).subtotal == Decimal("0.13")


@given(st.decimals(min_value=0, max_value=1000000, places=2, allow_nan=False, allow_infinity=False))
def test_money_is_serialised_as_a_two_place_string(value: Decimal) -> None:
    text = format_money(value)
    assert "E" not in text and text.count(".") == 1 and len(text.split(".")[1]) == 2
    assert Decimal(text) == value


def test_rates_and_quantities_have_no_exponent_or_float_noise() -> None:
    assert format_rate(Decimal("85")) == "85.00"
    assert format_rate(Decimal("2.1250")) == "2.125"
    assert format_rate(Decimal("12.3456")) == "12.3456"
    assert format_decimal(Decimal("1E+1")) == "10"
    assert format_decimal(Decimal("2.500")) == "2.5"
    assert format_decimal(Decimal("0")) == "0"
