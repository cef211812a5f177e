"""Sizing and pricing matched jobs with the contractor's categories (templates as fallback)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from backend.services.estimator import quantities as qty
from backend.services.estimator.catalogue import JobKind, LineSpec
from backend.services.estimator.matching import Match, Span
from backend.services.estimator.templates import template_category, template_trade
from backend.services.estimator.types import CategoryRates, EstimateLine

MAX_PRICE = Decimal("1000000")
PRICE_PLACES = Decimal("0.0001")
CENTS = Decimal("0.01")
HAUL_ITEMS = frozenset({"haul_away", "dumpster", "debris_haul"})
_APARTMENT_RE = re.compile(r"\b(?:apartment|apt|condo|flat|unit)\b")
_UNIT_VALUE_RE = {
    "ton": re.compile(rf"({qty.NUM}) ton\b"),
    "gal": re.compile(rf"({qty.NUM}) gal\b"),
    "inch": re.compile(rf"({qty.NUM}) inch\b"),
}
_DEFAULT_SIZE = {"sqft": "400", "local": "100", "wall": "400", "ceiling": "150", "lf": "100",
                 "perimeter": "120", "cuyd": "3", "squares": "20", "house": "1800"}
_UNIT_LABEL = {"sqft": "sq ft", "local": "sq ft", "wall": "sq ft of wall", "ceiling": "sq ft",
               "lf": "linear ft", "perimeter": "linear ft", "cuyd": "cu yd", "squares": "squares",
               "house": "sq ft"}


@dataclass(frozen=True)
class PricedJob:
    """A matched job with its size, lines and hours."""

    match: Match
    size: qty.Reading
    lines: tuple[EstimateLine, ...]
    hours: Decimal
    items: frozenset[str] = frozenset()

    @property
    def total(self) -> Decimal:
        return sum((line_amount(x) for x in self.lines), Decimal(0))


def line_amount(line: EstimateLine) -> Decimal:
    return (line.quantity * line.unit_price).quantize(CENTS, rounding=ROUND_HALF_UP)


def _explicit(text: str, match: Match, unit: str, scopes: tuple[str, ...]) -> qty.Reading | None:
    for scope in scopes:
        span = {"clause": match.clause, "sentence": match.sentence}.get(scope, Span(0, len(text)))
        found = qty.nearest(qty.measures(text, span.start, span.end), unit, match.start)
        if found is not None:
            return qty.Reading(found.value, found.note)
    return None


def _dims(text: str, match: Match) -> list[tuple[Decimal, Decimal]]:
    return qty.dims(text, match.sentence.start, match.sentence.end) or qty.dims(text)


def _rooms(text: str, match: Match) -> list[tuple[Decimal, Decimal, str]]:
    return qty.rooms(text, match.sentence.start, match.sentence.end) or qty.rooms(text)


def _default(job: JobKind) -> qty.Reading:
    value = job.default
    if job.measure not in ("each", "job") and value <= 1:
        value = Decimal(_DEFAULT_SIZE.get(job.measure, "1"))
    unit = _UNIT_LABEL.get(job.measure, "")
    return qty.Reading(value, f"assumed {qty.fmt(value)} {unit}".strip(), assumed=True)


def size_of(text: str, match: Match) -> qty.Reading:
    """How big the job is, in the kind's measure."""
    job = match.kind
    everywhere = ("clause", "sentence", "text")
    reading: qty.Reading | None = None
    if job.measure == "job":
        return qty.Reading(Decimal(1), assumed=job.size_question is not None)
    if job.measure == "each":
        count = _count(text, match, job.noun) if job.noun else None
        if count is not None:
            return qty.Reading(count)
        return qty.Reading(job.default, assumed=job.size_question is not None)
    if job.measure == "sqft":
        reading = (_explicit(text, match, "sqft", everywhere) or qty.floor_area_from_dims(_dims(text, match))
                   or qty.room_floor_area(_rooms(text, match)))
    elif job.measure == "house":
        reading = (_explicit(text, match, "sqft", everywhere)
                   or qty.house_area_from_bedrooms(text, bool(_APARTMENT_RE.search(text))))
    elif job.measure == "local":
        reading = _explicit(text, match, "sqft", ("clause",))
    elif job.measure == "perimeter":
        reading = _explicit(text, match, "lf", everywhere) or _perimeter(text, match)
    elif job.measure == "wall":
        reading = (_explicit(text, match, "sqft", ("clause",)) or qty.wall_area_from_dims(_dims(text, match))
                   or qty.room_wall_area(_rooms(text, match)))
    elif job.measure == "ceiling":
        reading = (_explicit(text, match, "sqft", ("clause",)) or qty.floor_area_from_dims(_dims(text, match))
                   or qty.room_floor_area(_rooms(text, match)))
    elif job.measure == "lf":
        reading = _explicit(text, match, "lf", everywhere)
    elif job.measure == "cuyd":
        reading = _explicit(text, match, "cuyd", everywhere)
        area = None if reading else _explicit(text, match, "sqft", everywhere)
        if area is not None:
            value = qty.q2(area.value / Decimal(108), "0.5")  # 3 in deep
            reading = qty.Reading(max(value, Decimal("0.5")),
                                  f"{qty.fmt(area.value)} sq ft at 3 in deep ≈ {qty.fmt(value)} cu yd",
                                  derived=True)
    elif job.measure == "squares":
        reading = _explicit(text, match, "squares", everywhere)
        area = None if reading else _explicit(text, match, "sqft", everywhere)
        if area is not None:
            value = qty.q2(area.value / Decimal(100), "0.1")
            reading = qty.Reading(value, f"{qty.fmt(area.value)} sq ft = {qty.fmt(value)} squares",
                                  derived=True)
    if reading is None or reading.value <= 0:
        return _default(job)
    return reading


def _perimeter(text: str, match: Match) -> qty.Reading | None:
    pairs = _dims(text, match)
    if pairs:
        total = sum((2 * (a + b) for a, b in pairs), Decimal(0))
        return qty.Reading(qty.q2(total), f"room perimeter ≈ {qty.fmt(total)} linear ft", derived=True)
    found = _rooms(text, match)
    if not found:
        return None
    walls = qty.room_wall_area(found)
    if walls is None:
        return None
    total = qty.q2(walls.value / qty.WALL_HEIGHT_FT, "1")
    return qty.Reading(total, f"typical room perimeter ≈ {qty.fmt(total)} linear ft", assumed=True)


def _count(text: str, match: Match, noun: str) -> Decimal | None:
    found = qty.count_of(noun, text, match.clause.start, match.clause.end)
    if found is not None:
        return found
    # In the wider sentence, only a number that counts this very match ("6 recessed lights").
    window_start = max(match.sentence.start, match.start - 40)
    return qty.count_of(noun, text, window_start, min(match.sentence.end, match.end + 12))


def _line_measure(text: str, match: Match, unit: str) -> Decimal | None:
    if unit in _UNIT_VALUE_RE:
        found = _UNIT_VALUE_RE[unit].search(text)
        return qty.dec(found.group(1)) if found else None
    reading = _explicit(text, match, unit, ("clause", "sentence", "text"))
    return reading.value if reading else None


def _round_hours(hours: Decimal) -> Decimal:
    if hours <= 0:
        return Decimal(0)
    quarters = (hours * 4).to_integral_value(rounding=ROUND_CEILING)
    return qty.q2(max(quarters, Decimal(1)) / 4)


def clean_price(price: Decimal) -> Decimal:
    """A unit price the API accepts: 0 <= price <= 1,000,000 with at most 4 places."""
    try:
        value = Decimal(price)
    except (TypeError, ValueError, ArithmeticError):
        return Decimal(0)
    if not value.is_finite() or value < 0:
        return Decimal(0)
    value = min(value, MAX_PRICE)
    if value.as_tuple().exponent < -4:  # type: ignore[operator]
        value = value.quantize(PRICE_PLACES, rounding=ROUND_HALF_UP)
    return value


class RateBook:
    """The contractor's categories first, the trade templates behind them."""

    def __init__(self, categories: Mapping[str, CategoryRates], default_labor_rate: Decimal) -> None:
        self.own = categories
        self.default_labor_rate = clean_price(default_labor_rate)

    def category(self, key: str, alternatives: tuple[str, ...] = (), items: tuple[str, ...] = ()) -> CategoryRates:
        if key in self.own:
            return self.own[key]
        for alt in alternatives:
            own = self.own.get(alt)
            if own is not None and all(item in own.unit_prices for item in items):
                return own
        found = template_category(key)
        if found is None:  # a catalogue bug; keep the estimate usable
            return CategoryRates(key, key.replace("_", " ").title(), self.default_labor_rate,
                                 Decimal(0), Decimal(0), {})
        return found

    def item_price(self, category: CategoryRates, item: str) -> Decimal | None:
        if item in category.unit_prices:
            return clean_price(category.unit_prices[item])
        template = template_category(category.key)
        if template is not None and item in template.unit_prices:
            return clean_price(template.unit_prices[item])
        return None

    def labour_rate(self, category: CategoryRates) -> Decimal:
        rate = clean_price(category.labor_rate)
        return rate if rate > 0 else self.default_labor_rate

    def host_for(self, item: str, preferred: CategoryRates) -> CategoryRates | None:
        """The category that prices ``item`` for an add-on, staying in the main job's trade."""
        if self.item_price(preferred, item) is not None:
            return preferred
        trade = template_trade(preferred.key)
        for own in self.own.values():
            if template_trade(own.key) == trade and self.item_price(own, item) is not None:
                return own
        from backend.services.estimator.templates import templates_for_trade

        for template in templates_for_trade(trade or "general"):
            if item in template.unit_prices:
                return self.category(template.key)
        return None


def _describe(spec: LineSpec, size: qty.Reading, measured: Decimal | None, uses_size: bool,
              supplied: bool, noun: str) -> str:
    parts: list[str] = []
    if spec.description:
        text = spec.description.format(q=qty.fmt(size.value), note=size.note,
                                       mq=qty.fmt(measured) if measured is not None else "")
        if text.strip():
            parts.append(text.strip())
    if uses_size and size.note and size.note not in parts:
        parts.append(size.note)
    if supplied and spec.item is None:
        parts.append(f"customer-supplied {noun}")
    return "; ".join(parts)[:240]


def price_job(text: str, match: Match, book: RateBook, main: CategoryRates | None,
              taken: frozenset[str]) -> PricedJob | None:
    """Lines for one matched job, or None when an add-on is already covered by its main job."""
    job = match.kind
    size = size_of(text, match)
    items = tuple(spec.item for spec in job.lines if spec.item)
    if job.addon and any(item in taken or (item in HAUL_ITEMS and taken & HAUL_ITEMS) for item in items):
        return None  # the job already prices its own haul-away or permit
    if job.addon and main is not None:
        host = book.host_for(items[0], main) if items else main
        category = host or book.category(job.category)
    else:
        category = book.category(job.category, job.alt_categories, items)
    labour_hours = job.hours[0] + job.hours[1] * size.value
    schedule_hours = labour_hours
    scope = (0, len(text)) if job.scope_text else (match.sentence.start, match.sentence.end)
    sentence = text[scope[0]:scope[1]]
    lines: list[EstimateLine] = []
    used: set[str] = set()
    for spec in job.lines:
        if spec.when and not re.search(spec.when, sentence):
            continue
        if spec.unless and re.search(spec.unless, sentence):
            continue
        if spec.material and match.supplied:
            continue
        measured: Decimal | None = None
        uses_size = False
        if spec.item is None:
            quantity = _round_hours(labour_hours)
        elif spec.measure:
            measured = _line_measure(text, match, spec.measure) or spec.count_default
            quantity = measured
        elif spec.count:
            found = qty.count_of(spec.count, text, scope[0], scope[1])
            if found is None:
                found = qty.count_of(spec.count, text)
            base = found if found is not None else spec.count_default
            quantity = base * spec.per + spec.fixed if base > 0 else Decimal(0)
        elif spec.unit in ("each", "job", "load") and job.measure not in ("job", "each") and spec.fixed == 0:
            quantity = Decimal(1)  # a one-off part or fee inside a job sized in sq ft or feet
        else:
            quantity = spec.fixed + spec.per * size.value
            uses_size = spec.per != 0 and job.measure not in ("job", "each")
        if spec.times:
            quantity *= qty.count_of(spec.times, text, scope[0], scope[1]) or spec.times_default
        quantity = qty.q2(min(quantity, qty.MAX_QUANTITY))
        if quantity <= 0:
            continue
        if spec.item is None:
            price = book.labour_rate(category)
        else:
            found_price = book.item_price(category, spec.item)
            if found_price is None:
                home = book.category(job.category)
                found_price = book.item_price(home, spec.item)
                category_for_line = home
            else:
                category_for_line = category
            if found_price is None:
                continue
            schedule_hours += spec.hours_per * quantity
            used.add(spec.item)
            lines.append(EstimateLine(spec.name, _describe(spec, size, measured, uses_size, match.supplied,
                                                           job.noun_label),
                                      category_for_line.key, quantity, spec.unit, found_price, spec.item))
            continue
        lines.append(EstimateLine(spec.name, _describe(spec, size, measured, uses_size, match.supplied,
                                                       job.noun_label),
                                  category.key, quantity, "hour", price))
    if not lines:
        return None
    return PricedJob(match, size, tuple(lines), schedule_hours, frozenset(used))


def minimum_charges(lines: list[EstimateLine], book: RateBook) -> list[EstimateLine]:
    """One top-up line per category whose lines sum below its minimum charge."""
    totals: dict[str, Decimal] = {}
    for line in lines:
        totals[line.category] = totals.get(line.category, Decimal(0)) + line_amount(line)
    extra: list[EstimateLine] = []
    for key, total in totals.items():
        category = book.category(key)
        minimum = clean_price(category.min_charge).quantize(CENTS, rounding=ROUND_HALF_UP)
        if Decimal(0) < total < minimum:
            extra.append(EstimateLine(
                "Minimum service charge", f"Brings {category.display_name} up to the "
                f"${minimum:,.2f} minimum", key, Decimal(1), "job", minimum - total))
    return extra


def merge_lines(lines: list[EstimateLine]) -> list[EstimateLine]:
    """Identical lines (same name, description, category, unit, price) become one, quantities summed."""
    merged: dict[tuple[str, str, str, str, Decimal], EstimateLine] = {}
    for line in lines:
        key = (line.name, line.description, line.category, line.unit, line.unit_price)
        if key in merged:
            old = merged[key]
            merged[key] = EstimateLine(old.name, old.description, old.category,
                                       qty.q2(old.quantity + line.quantity), old.unit, old.unit_price, old.item)
        else:
            merged[key] = line
    return list(merged.values())


def schedule(hours: Decimal, crew_min: int, cure_days: int) -> tuple[int, int]:
    """(estimated_days, crew_size) from labour hours, 8-hour days and a crew that grows with size."""
    if hours <= 0:
        return 0, max(1, crew_min)
    thresholds = ((16, 1), (64, 2), (160, 3), (320, 4), (640, 5))
    crew = next((size for limit, size in thresholds if hours <= limit), 6)
    crew = max(crew, crew_min, 1)
    days = math.ceil(hours / (8 * crew)) + min(max(cure_days, 0), 5)
    return max(days, 1), crew
