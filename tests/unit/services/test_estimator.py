"""Unit and property tests of the local quote estimator (pure, no database)."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.services.estimator import (
    TRADES,
    CategoryRates,
    Estimate,
    EstimateLine,
    all_templates,
    estimate,
    templates_for_trade,
)
from backend.services.estimator.catalogue import all_kinds
from backend.services.estimator.normalize import normalize
from backend.services.estimator.templates import template_category
from backend.services.line_items import price_lines


def _run(description: str, trade: str = "general", categories: list[CategoryRates] | None = None) -> Estimate:
    return estimate(description, categories=templates_for_trade(trade) if categories is None else categories,
                    trade=trade)


def _line(result: Estimate, *words: str) -> EstimateLine:
    for line in result.lines:
        text = f"{line.name} {line.description}".lower()
        if all(word in text for word in words):
            return line
    raise AssertionError(f"no line with {words}: {[x.name for x in result.lines]}")


def _total(result: Estimate) -> Decimal:
    return sum(((x.quantity * x.unit_price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                for x in result.lines), Decimal(0))


# --- templates -----------------------------------------------------------------------------

def test_every_trade_has_a_template_with_valid_categories() -> None:
    templates = all_templates()
    assert tuple(templates) == TRADES
    keys: set[str] = set()
    for trade in TRADES:
        categories = templates_for_trade(trade)
        assert categories, trade
        for category in categories:
            assert category.key not in keys, f"duplicate category key {category.key}"
            keys.add(category.key)
            assert category.key.replace("_", "").isalnum() and len(category.key) <= 64
            assert category.labor_rate > 0 and category.min_charge >= 0
            for price in category.unit_prices.values():
                assert Decimal(0) <= price <= Decimal(1_000_000)
                assert -price.as_tuple().exponent <= 4  # type: ignore[operator]


def test_unknown_trade_falls_back_to_general_template() -> None:
    assert templates_for_trade("astronaut") == templates_for_trade("general")


def test_every_catalogue_item_has_a_template_price() -> None:
    for job_kind in all_kinds():
        category = template_category(job_kind.category)
        assert category is not None, f"{job_kind.key}: unknown category {job_kind.category}"
        for spec in job_kind.lines:
            if spec.item is not None and not job_kind.addon:
                assert spec.item in category.unit_prices, f"{job_kind.key}: {spec.item} not in {category.key}"


# --- reading the description ---------------------------------------------------------------

def test_numbers_as_words_are_read() -> None:
    result = _run("patch a couple holes in the drywall and rehang three closet doors")
    assert _line(result, "drywall").quantity == 2
    assert _line(result, "door").quantity == 3


def test_multiplier_x2_sets_the_count() -> None:
    result = _run("replace the kitchen faucet, new supply lines x2", "plumbing")
    assert _line(result, "supply").quantity == 2


def test_square_feet_spellings_are_all_understood() -> None:
    for spelling in ("1,200 sq ft", "1200 sqft", "1200 square feet", "1200 sq. ft. of", "1200 sf"):
        result = _run(f"install {spelling} lvp", "flooring")
        assert _line(result, "lvp installation").quantity == 1200, spelling
        assert _line(result, "lvp installation").unit == "sq ft"


def test_metric_area_is_converted_and_the_conversion_is_said() -> None:
    result = _run("lay new sod on 40 m² of lawn", "landscaping")
    sod = _line(result, "sod")
    assert sod.unit == "sq ft"
    assert sod.quantity == Decimal("430.6")
    assert "40 m² converted to 430.6 sq ft" in sod.description


def test_linear_feet_are_read_for_trim() -> None:
    result = _run("install 85 linear feet of baseboard", "carpentry")
    line = _line(result, "install baseboard")
    assert (line.quantity, line.unit) == (Decimal(85), "lf")


def test_room_dimensions_give_floor_area() -> None:
    result = _run("new carpet in two bedrooms 12x12 and 10x11", "flooring")
    assert _line(result, "carpet installation").quantity == 254


def test_normalize_never_raises_and_is_lower_case() -> None:
    assert normalize("  ") == ""
    assert normalize("Ｐａｉｎｔ 40 m²") == "paint 40 sqm"
    assert normalize("\x00\u202e\ud800") == ""


# --- splitting and matching ----------------------------------------------------------------

def test_several_tasks_in_one_sentence_each_get_lines() -> None:
    result = _run("honey do list - patch 2 holes in the drywall, swap the bathroom exhaust fan cover "
                  "and recaulk the tub")
    names = " ".join(line.name.lower() for line in result.lines)
    assert "drywall" in names and "grille" in names and "caulk" in names


def test_two_trade_job_prices_each_trade_in_its_own_category() -> None:
    result = _run("replace the kitchen faucet and paint the laundry room walls", "plumbing")
    faucet = _line(result, "faucet")
    paint = _line(result, "paint")
    assert faucet.category == "plumbing_fixtures"
    assert paint.category == "interior_painting"  # plumber has no painting category: template fallback
    painting = template_category("interior_painting")
    assert painting is not None and paint.unit_price == painting.unit_prices["wall_paint_sqft"]


def test_specific_job_claims_its_words_from_generic_ones() -> None:
    result = _run("spray paint kitchen cabinets white - 18 doors and 6 drawer fronts", "painting")
    assert not any("walls" in line.name.lower() for line in result.lines)
    assert _line(result, "cabinet doors").quantity == 18
    assert _line(result, "drawer").quantity == 6


def test_customer_supplied_fixture_is_not_charged() -> None:
    result = _run("install ceiling fan in the bedroom, customer already bought the fan", "electrical")
    assert not any(line.name.lower().startswith("ceiling fan") for line in result.lines)
    assert "customer-supplied" in _line(result, "labour").description


def test_hedged_item_raises_a_question() -> None:
    result = _run("replace the thermostat with a nest, maybe need a c wire", "hvac")
    assert any("c-wire" in q.lower() for q in result.questions)
    assert result.confidence != "high"


def test_line_names_never_copy_the_customer_sentence() -> None:
    description = "replace the kitchen faucet, new supply lines x2, haul away the old one"
    for line in _run(description, "plumbing").lines:
        assert description.lower() not in line.name.lower()
        assert description.lower() not in line.description.lower()


# --- pricing rules -------------------------------------------------------------------------

def test_lines_carry_the_stored_rates_exactly() -> None:
    result = _run("Replace 4 kitchen counter outlets with GFCI", "electrical")
    devices = template_category("electrical_devices")
    assert devices is not None
    assert _line(result, "gfci receptacle").unit_price == devices.unit_prices["gfci_receptacle"]
    labour = _line(result, "labour")
    assert (labour.unit, labour.unit_price) == ("hour", devices.labor_rate)


def test_contractor_prices_win_over_template() -> None:
    own = [replace(c, labor_rate=Decimal("140.00"),
                   unit_prices={**c.unit_prices, "faucet_kitchen": Decimal("310.5")})
           if c.key == "plumbing_fixtures" else c for c in templates_for_trade("plumbing")]
    result = _run("replace the kitchen faucet", "plumbing", own)
    assert _line(result, "kitchen faucet, mid").unit_price == Decimal("310.5")
    assert _line(result, "labour").unit_price == Decimal("140.00")


def test_missing_item_in_present_category_falls_back_to_template_price() -> None:
    own = [replace(c, unit_prices={k: v for k, v in c.unit_prices.items() if k != "supply_line"})
           if c.key == "plumbing_fixtures" else c for c in templates_for_trade("plumbing")]
    result = _run("new supply lines x2", "plumbing", own)
    assert _line(result, "supply").unit_price == Decimal("18.00")


def test_minimum_charge_tops_the_category_up() -> None:
    result = _run("replace the toilet flapper", "plumbing")
    top_up = _line(result, "minimum")
    assert top_up.category == "plumbing_fixtures" and top_up.unit == "job"
    assert _total(result) == template_category("plumbing_fixtures").min_charge  # type: ignore[union-attr]


def test_zero_labour_rate_uses_the_default_labour_rate() -> None:
    own = [replace(c, labor_rate=Decimal(0)) for c in templates_for_trade("hvac")]
    result = estimate("replace the igniter", categories=own, trade="hvac", default_labor_rate=Decimal("99.5"))
    assert _line(result, "labour").unit_price == Decimal("99.5")


def test_big_job_grows_the_crew_and_the_days() -> None:
    small = _run("replace the kitchen faucet", "plumbing")
    big = _run("Tear off and reroof 30 squares with architectural shingles", "roofing")
    assert (small.estimated_days, small.crew_size) == (1, 1)
    assert big.crew_size >= 3 and big.estimated_days >= 2


# --- not a job, and questions --------------------------------------------------------------

def test_not_a_job_gives_no_lines_low_confidence_and_a_question() -> None:
    for text in ("hi can you call me back when you get a chance thanks", "", "   ", "👍👍", "thanks!"):
        result = _run(text)
        assert result.lines == ()
        assert result.confidence == "low"
        assert result.questions


def test_vague_size_raises_a_question_but_a_clear_job_does_not() -> None:
    assert _run("paint the living room", "painting").questions
    assert not _run("Replace 4 kitchen counter outlets with GFCI", "electrical").questions


def test_structural_unknown_is_asked_and_confidence_low() -> None:
    result = _run("want to open up the wall between the kitchen and dining room", "remodeling")
    assert any("load-bearing" in q for q in result.questions)
    assert result.confidence == "low"


# --- robustness and speed ------------------------------------------------------------------

def test_huge_and_odd_input_does_not_raise() -> None:
    for text in ("paint " * 2000, "x" * 10_000, "\u0000\u202e" * 500, "9" * 5000, "12x" * 3000):
        result = _run(text)
        assert result.confidence in ("low", "medium", "high")


def _check_estimate(result: Estimate) -> None:
    assert result.confidence in ("low", "medium", "high")
    assert result.estimated_days >= 0 and result.crew_size >= 1
    assert isinstance(result.title, str) and result.title
    if not result.lines:
        assert result.questions
    for line in result.lines:
        assert line.quantity > 0
        assert Decimal(0) <= line.unit_price <= Decimal(1_000_000)
        assert -line.unit_price.as_tuple().exponent <= 4  # type: ignore[operator]
        assert line.name and line.unit and line.category


_JOB_WORDS = st.sampled_from([
    "replace", "faucet", "toilet", "paint", "walls", "12x14", "sq ft", "m2", "x2", "a couple", "three",
    "outlets", "gfci", "roof", "leak", "shingles", "squares", "mulch", "yards", "sod", "clean", "deep",
    "carpet", "tile", "backsplash", "door", "doors", "haul", "permit", "maybe", "customer has", ",", ".",
    "1,200", "40", "0", "999999999", "lf", "cabinets", "deck", "stairs", "tv", "mount", "demo", "-",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), st.sampled_from(TRADES))
def test_any_text_gives_a_valid_estimate(text: str, trade: str) -> None:
    _check_estimate(_run(text, trade))


@settings(max_examples=200, deadline=None)
@given(st.lists(_JOB_WORDS, max_size=25).map(" ".join), st.sampled_from(TRADES))
def test_job_like_text_gives_valid_deterministic_estimates(text: str, trade: str) -> None:
    first = _run(text, trade)
    _check_estimate(first)
    assert _run(text, trade) == first


_TAX_RATES = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(_JOB_WORDS, max_size=25).map(" ".join), st.sampled_from(TRADES), _TAX_RATES)
def test_money_invariants_hold_for_any_description(text: str, trade: str, tax_rate: Decimal) -> None:
    """SPEC §4 invariants on what the API would store for this description (speed: bench/estimator_speed.py)."""
    priced = price_lines(_run(text, trade).lines, tax_rate)
    cent = Decimal("0.01")
    amounts = [Decimal(item["amount"]) for item in priced.items]
    for item, amount in zip(priced.items, amounts, strict=True):
        assert amount == (Decimal(item["quantity"]) * Decimal(item["unit_price"])).quantize(cent, ROUND_HALF_UP)
    assert priced.totals.subtotal == sum(amounts, Decimal(0))
    assert priced.totals.tax == (priced.totals.subtotal * tax_rate).quantize(cent, ROUND_HALF_UP)
    assert priced.totals.total == priced.totals.subtotal + priced.totals.tax
