"""The quantity reader: counts, areas, lengths and volumes in normalised text.

All values are ``Decimal``. Metric input is converted to the US unit the templates price in,
and the conversion is returned as a note so the line can say what was done.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

SQM_TO_SQFT = Decimal("10.7639")
M_TO_FT = Decimal("3.28084")
CUM_TO_CUYD = Decimal("1.30795")
MAX_QUANTITY = Decimal("100000")
WALL_HEIGHT_FT = Decimal("8")

NUM = r"\d+(?:\.\d+)?"
_UNIT_TOKENS = r"(?:sqft|sqm|lf|lm|cuyd|cum|squares?|gal|amp|btu|ton|inch|hours|bedroom|bathroom|story)"
_MEASURE_RE = re.compile(rf"(?<![\w.])({NUM}) (sqft|sqm|lf|lm|cuyd|cum|squares?)\b")
_DIMS_RE = re.compile(rf"(?<![\w./])({NUM})x({NUM})(?![\w/])")
_BEDROOMS_RE = re.compile(rf"(?<![\w.])({NUM}) bedroom")
_GAP_WORD = (
    rf"(?!(?:and|or|with|plus|in|on|at|for|from|to|then|also|but|of|per)\b|{_UNIT_TOKENS}\b)"
    r"[a-z][\w'/-]*"
)

# Floor area (sq ft) of a typical room, used when no size is given; walls follow from it.
_ROOM_AREAS: tuple[tuple[str, Decimal, str], ...] = (
    (r"(?:hall|guest|half|powder|small|master|main|kids?)\s+bath(?:room)?s?|bath(?:room)?s?",
     Decimal("45"), "bathroom"),
    (r"master(?:\s+bed(?:room)?)?|primary\s+bed(?:room)?", Decimal("220"), "master bedroom"),
    (r"bedrooms?|beds?|nursery", Decimal("150"), "bedroom"),
    (r"living\s+room|family\s+room|great\s+room|den|lounge|living\s+area", Decimal("300"),
     "living room"),
    (r"dining\s+room|dining\s+area", Decimal("150"), "dining room"),
    (r"kitchen", Decimal("150"), "kitchen"),
    (r"hallways?|halls?|entry(?:way)?|foyer|landing", Decimal("60"), "hallway"),
    (r"basement", Decimal("800"), "basement"),
    (r"garage", Decimal("400"), "garage"),
    (r"office|study", Decimal("120"), "office"),
    (r"laundry(?:\s+room)?|mud\s*room|utility\s+room", Decimal("50"), "laundry room"),
    (r"closets?", Decimal("25"), "closet"),
    (r"stair(?:way|well|case)s?", Decimal("80"), "stairway"),
)
_ROOM_RE = re.compile(
    rf"(?:(?<![\w.])({NUM})\s+(?:{_GAP_WORD}\s+){{0,2}}?)?\b("
    + "|".join(f"(?:{p})" for p, _, _ in _ROOM_AREAS) + r")\b"
)
_ROOM_PATTERNS = tuple((re.compile(rf"(?:{p})$"), area, label) for p, area, label in _ROOM_AREAS)


@dataclass(frozen=True)
class Reading:
    """A quantity read from text, in the unit the estimator prices in."""

    value: Decimal
    note: str = ""  # e.g. "90 m² converted to 968.8 sq ft"
    assumed: bool = False  # a default or a rule of thumb, not something the customer said
    derived: bool = False  # computed from sizes the customer gave (room dims, bedrooms)


def dec(value: str | int | float | Decimal) -> Decimal:
    """Parse a number the reader found; garbage becomes zero."""
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    if not result.is_finite() or result < 0:
        return Decimal(0)
    return min(result, MAX_QUANTITY)


def q2(value: Decimal, places: str = "0.01") -> Decimal:
    """Round a quantity half-up and drop trailing zeros (``12.50`` -> ``12.5``)."""
    rounded = value.quantize(Decimal(places), rounding=ROUND_HALF_UP)
    return rounded if rounded != rounded.to_integral() else rounded.quantize(Decimal(1))


def fmt(value: Decimal) -> str:
    """Human form of a quantity: ``1,200``, ``968.8``."""
    value = q2(value)
    if value == value.to_integral():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Measure:
    kind: str  # "sqft" | "lf" | "cuyd" | "squares"
    value: Decimal
    start: int
    note: str


def measures(text: str, start: int = 0, end: int | None = None) -> list[Measure]:
    """Explicit measurements in ``text[start:end]``, converted to US units."""
    found: list[Measure] = []
    for m in _MEASURE_RE.finditer(text, start, len(text) if end is None else end):
        raw, unit = dec(m.group(1)), m.group(2)
        if raw <= 0:
            continue
        if unit == "sqm":
            value = q2(raw * SQM_TO_SQFT, "0.1")
            found.append(Measure("sqft", value, m.start(), f"{fmt(raw)} m² converted to {fmt(value)} sq ft"))
        elif unit == "lm":
            value = q2(raw * M_TO_FT, "0.1")
            found.append(Measure("lf", value, m.start(), f"{fmt(raw)} m converted to {fmt(value)} linear ft"))
        elif unit == "cum":
            value = q2(raw * CUM_TO_CUYD, "0.1")
            found.append(Measure("cuyd", value, m.start(), f"{fmt(raw)} m³ converted to {fmt(value)} cu yd"))
        elif unit.startswith("square"):
            found.append(Measure("squares", raw, m.start(), ""))
        else:
            found.append(Measure(unit, raw, m.start(), ""))
    return found


def nearest(items: list[Measure], kind: str, pos: int) -> Measure | None:
    candidates = [m for m in items if m.kind == kind]
    if not candidates:
        return None
    return min(candidates, key=lambda m: (abs(m.start - pos), m.start))


def dims(text: str, start: int = 0, end: int | None = None) -> list[tuple[Decimal, Decimal]]:
    """Room dimensions such as ``12x14`` (feet)."""
    found = []
    for m in _DIMS_RE.finditer(text, start, len(text) if end is None else end):
        a, b = dec(m.group(1)), dec(m.group(2))
        if Decimal(2) < a <= Decimal(200) and Decimal(2) < b <= Decimal(200):
            found.append((a, b))
    return found


def floor_area_from_dims(pairs: list[tuple[Decimal, Decimal]]) -> Reading | None:
    if not pairs:
        return None
    total = sum((a * b for a, b in pairs), Decimal(0))
    sizes = ", ".join(f"{fmt(a)}x{fmt(b)}" for a, b in pairs)
    return Reading(q2(total), f"{sizes} = {fmt(total)} sq ft", derived=True)


def wall_area_from_dims(pairs: list[tuple[Decimal, Decimal]]) -> Reading | None:
    if not pairs:
        return None
    total = sum((2 * (a + b) * WALL_HEIGHT_FT for a, b in pairs), Decimal(0))
    sizes = ", ".join(f"{fmt(a)}x{fmt(b)}" for a, b in pairs)
    return Reading(q2(total), f"{sizes} room, 8 ft walls = {fmt(total)} sq ft of wall", derived=True)


def rooms(text: str, start: int = 0, end: int | None = None) -> list[tuple[Decimal, Decimal, str]]:
    """Rooms named in the text: (count, typical floor area, label)."""
    found: list[tuple[Decimal, Decimal, str]] = []
    seen: set[str] = set()
    for m in _ROOM_RE.finditer(text, start, len(text) if end is None else end):
        word = m.group(2)
        for pattern, area, label in _ROOM_PATTERNS:
            if pattern.match(word):
                count = dec(m.group(1)) if m.group(1) else Decimal(1)
                if count <= 0 or count > 50:
                    count = Decimal(1)
                if label not in seen:
                    seen.add(label)
                    found.append((count, area, label))
                break
    return found


def room_floor_area(found: list[tuple[Decimal, Decimal, str]]) -> Reading | None:
    if not found:
        return None
    total = sum((c * a for c, a, _ in found), Decimal(0))
    labels = " + ".join(f"{fmt(c)} {label}" if c != 1 else label for c, _, label in found)
    return Reading(q2(total), f"typical {labels} ≈ {fmt(total)} sq ft", assumed=True)


def room_wall_area(found: list[tuple[Decimal, Decimal, str]]) -> Reading | None:
    if not found:
        return None
    total = Decimal(0)
    for count, area, label in found:
        side = Decimal(str(math.sqrt(float(area)))).quantize(Decimal("0.1"))
        walls = 4 * side * WALL_HEIGHT_FT
        if label == "kitchen":
            walls = walls * Decimal("0.6")  # cabinets and backsplash cover the rest
        total += count * walls
    total = q2(total, "1")
    labels = " + ".join(f"{fmt(c)} {label}" if c != 1 else label for c, _, label in found)
    return Reading(total, f"typical {labels} ≈ {fmt(total)} sq ft of wall", assumed=True)


def house_area_from_bedrooms(text: str, apartment: bool) -> Reading | None:
    m = _BEDROOMS_RE.search(text)
    if not m:
        return None
    beds = dec(m.group(1))
    if beds <= 0 or beds > 20:
        return None
    base, per = (Decimal(350), Decimal(350)) if apartment else (Decimal(600), Decimal(400))
    total = base + per * beds
    home = "apartment" if apartment else "home"
    return Reading(total, f"{fmt(beds)}-bedroom {home} ≈ {fmt(total)} sq ft", derived=True)


@lru_cache(maxsize=1024)
def _count_patterns(noun: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    before = re.compile(
        rf"(?<![\w.x/])({NUM}) (?!{_UNIT_TOKENS}\b)(?:{_GAP_WORD} ){{0,3}}?(?:{noun})"
    )
    after = re.compile(rf"(?:{noun})\w* x(\d+)\b")
    return before, after


def count_of(noun: str, text: str, start: int = 0, end: int | None = None) -> Decimal | None:
    """How many of ``noun`` (a regex) the text asks for: ``4 kitchen outlets``, ``lines x2``."""
    stop = len(text) if end is None else end
    before, after = _count_patterns(noun)
    m = after.search(text, start, stop)
    if m:
        value = dec(m.group(1))
        if 0 < value <= 1000:
            return value
    m = before.search(text, start, stop)
    if m:
        value = dec(m.group(1))
        if 0 < value <= 1000:
            return value
    return None
