"""The catalogue of job kinds: what a phrase means to a tradesperson and how it is priced.

A ``JobKind`` says which words trigger it, which category prices it, how its size is read
(``measure``), how many hours it takes, and which lines it produces. Lines either use a
stored item price (``item``) or are hourly labour (``item=None``) at the category's rate.
Kinds are declared in ``kinds_*.py`` and collected here in priority order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)

# A word that may sit between a verb and its object ("replace the old kitchen faucet").
GAP = r"(?:[a-z0-9][\w'/-]*)"
INSTALL = (
    r"install\w*|replac\w*|swap\w*|chang\w*|put(?:ting)?\s+(?:in|up)|new|hang\w*|mount\w*|fit\w*"
    r"|add\w*|upgrad\w*|set\s+up|supply\s+and\s+install|lay\w*|build\w*"
)
REMOVE = r"remov\w*|tear\w*\s*(?:out|off|up)|rip\w*\s+(?:out|up)|pull\w*\s+(?:out|up)|demo\w*|take\s+(?:out|up)"
REPAIR = r"repair\w*|fix\w*|patch\w*|mend\w*|sort\s+out"

# each: a count; sqft/house/local/wall/ceiling: areas; perimeter/lf: lengths; cuyd; squares; job.
MEASURES = ("each", "sqft", "house", "local", "wall", "ceiling", "perimeter", "lf", "cuyd", "squares", "job")


def near(first: str, second: str, gap: int = 3) -> str:
    """``first`` then up to ``gap`` words then ``second``, inside one clause."""
    return rf"\b(?:{first})\s+(?:{GAP}\s+){{0,{gap}}}?(?:{second})"


def either(first: str, second: str, gap: int = 3) -> str:
    """``first`` near ``second`` in either order."""
    return f"{near(first, second, gap)}|{near(second, first, gap)}"


@dataclass(frozen=True)
class LineSpec:
    """One line a job kind produces."""

    name: str
    item: str | None = None  # None: hourly labour at the category's rate
    unit: str = "each"
    per: Decimal = ONE  # quantity per unit of the kind's measure
    fixed: Decimal = ZERO  # added to per x measure
    count: str | None = None  # own count noun (regex), e.g. drawer fronts in a cabinet job
    count_default: Decimal = ZERO  # when the count noun is absent; 0 drops the line
    measure: str | None = None  # own measured size ("lf", "ton", ...) read near the job
    times: str | None = None  # multiplier noun (regex), e.g. "3 coats"
    times_default: Decimal = ONE
    material: bool = False  # dropped when the customer supplies it
    when: str | None = None  # only if this regex occurs in the job's sentence
    unless: str | None = None  # not if this regex occurs in the job's sentence
    hours_per: Decimal = ZERO  # scheduling hours per unit of this line
    description: str = ""  # may use {q} (job quantity) and {note} (how it was measured)


@dataclass(frozen=True)
class JobKind:
    """A kind of job a contractor quotes, with how to recognise, size and price it."""

    key: str
    title: str
    category: str
    noun_label: str
    triggers: tuple[re.Pattern[str], ...]
    lines: tuple[LineSpec, ...]
    measure: str = "each"
    noun: str | None = None  # count noun for measure "each"
    default: Decimal = ONE
    hours: tuple[Decimal, Decimal] = (ZERO, ZERO)  # fixed, per unit of measure
    context: re.Pattern[str] | None = None  # must occur in the sentence
    text_context: re.Pattern[str] | None = None  # must occur somewhere in the description
    exclude: re.Pattern[str] | None = None  # must not occur in the sentence
    trades: frozenset[str] | None = None  # only for contractors of these trades
    suppressed_by: tuple[str, ...] = ()  # dropped when one of these kinds is present
    size_question: str | None = None  # asked when the size had to be assumed
    always_question: str | None = None  # asked whenever this kind is quoted
    hedge_question: str | None = None  # asked when the customer hedges ("maybe need ...")
    priority: int = 50  # lower matches first and claims its words
    addon: bool = False  # haul-away, permit: priced in the main job's category
    umbrella: bool = False  # "bathroom remodel": only priced when nothing specific is listed
    crew_min: int = 1
    cure_days: int = 0
    scope_text: bool = False  # read line conditions and counts from the whole description
    alt_categories: tuple[str, ...] = field(default=())


def line(name: str, item: str | None = None, unit: str = "each", per: str | int = 1,
         fixed: str | int = 0, **kw: object) -> LineSpec:
    """Compact LineSpec constructor: numbers as strings, converted to Decimal."""
    values: dict[str, object] = dict(kw)
    for key in ("count_default", "times_default", "hours_per"):
        if key in values:
            values[key] = Decimal(str(values[key]))
    return LineSpec(name=name, item=item, unit=unit, per=Decimal(str(per)),
                    fixed=Decimal(str(fixed)), **values)  # type: ignore[arg-type]


def labour(name: str, **kw: object) -> LineSpec:
    """An hourly labour line; its hours are the job's hours."""
    return line(name, None, "hour", **kw)  # type: ignore[arg-type]


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


def kind(key: str, title: str, category: str, noun_label: str, triggers: str | tuple[str, ...],
         lines: tuple[LineSpec, ...], *, hours: tuple[str, str] = ("0", "0"), default: str = "1",
         context: str | None = None, text_context: str | None = None, exclude: str | None = None,
         trades: tuple[str, ...] | None = None, **kw: object) -> JobKind:
    """Compact JobKind constructor used by the ``kinds_*`` modules."""
    patterns = (triggers,) if isinstance(triggers, str) else triggers
    return JobKind(
        key=key, title=title, category=category, noun_label=noun_label,
        triggers=tuple(re.compile(p) for p in patterns), lines=lines,
        hours=(Decimal(hours[0]), Decimal(hours[1])), default=Decimal(default),
        context=_compile(context), text_context=_compile(text_context), exclude=_compile(exclude),
        trades=frozenset(trades) if trades else None, **kw,  # type: ignore[arg-type]
    )


def all_kinds() -> tuple[JobKind, ...]:
    """Every job kind, most specific first (stable within a priority)."""
    from backend.services.estimator import kinds_finish, kinds_hvac, kinds_outdoor, kinds_service

    kinds = (*kinds_service.KINDS, *kinds_hvac.KINDS, *kinds_finish.KINDS, *kinds_outdoor.KINDS)
    return tuple(sorted(kinds, key=lambda k: k.priority))
