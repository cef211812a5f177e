"""The estimator pipeline: normalise -> split and match -> size -> price -> questions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from backend.services.estimator.matching import Match, find_matches
from backend.services.estimator.normalize import normalize
from backend.services.estimator.pricing import (
    PricedJob,
    RateBook,
    clean_price,
    line_amount,
    merge_lines,
    minimum_charges,
    price_job,
    schedule,
)
from backend.services.estimator.templates import TRADES, template_trade, templates_for_trade
from backend.services.estimator.types import CategoryRates, Estimate, EstimateLine

NOT_A_JOB_QUESTION = ("What work would you like quoted? A short description of the job, where it is "
                      "and rough sizes is enough.")
VAGUE_JOB_QUESTION = ("Can you describe the work in more detail: what needs doing, where, and rough "
                      "sizes or quantities?")
_WORK_RE = re.compile(
    r"\b(?:install\w*|replac\w*|repair\w*|fix\w*|build\w*|paint\w*|remov\w*|clean\w*|mount\w*|hang\w*"
    r"|patch\w*|upgrad\w*|swap\w*|renovat\w*|remodel\w*|demo\w*|tear\w*|haul\w*|leak\w*|broken|rotted"
    r"|refinish\w*|re-?do|redo)\b"
)
_SIZE_SHARE = Decimal("0.4")  # ask about an assumed size when that job is >= 40 % of the price
_TITLE_SHARE = Decimal("0.2")


def _contractor_book(categories: Sequence[CategoryRates], default_labor_rate: Decimal) -> RateBook:
    own: dict[str, CategoryRates] = {}
    for category in categories or ():
        if isinstance(category, CategoryRates) and category.key not in own:
            own[category.key] = category
    return RateBook(own, default_labor_rate)


def _main_category(priced: list[PricedJob], match: Match) -> PricedJob | None:
    """The job an add-on (haul-away, permit) belongs to: the nearest one before it, else after."""
    before = [p for p in priced if not p.match.kind.addon and p.match.start < match.start]
    after = [p for p in priced if not p.match.kind.addon and p.match.start > match.start]
    if before:
        return before[-1]
    return after[0] if after else None


def _dedupe(matches: list[Match]) -> list[Match]:
    """Sized jobs are quoted once; counted jobs may repeat in separate sentences."""
    seen: set[str] = set()
    kept: list[Match] = []
    for match in matches:
        repeatable = match.kind.measure == "each" and not match.kind.addon
        if match.kind.key in seen and not repeatable:
            continue
        seen.add(match.kind.key)
        kept.append(match)
    return kept


def _title(priced: list[PricedJob], matches: list[Match], total: Decimal) -> str:
    umbrella = next((m.kind.title for m in matches if m.kind.umbrella), None)
    if umbrella:
        return umbrella
    main = [p for p in priced if not p.match.kind.addon]
    if not main:
        return "Job estimate"
    ranked = sorted(main, key=lambda p: -p.total)
    big = [p for p in main if total <= 0 or p.total >= total * _TITLE_SHARE] or ranked[:1]
    titles: list[str] = []
    for p in big:
        if p.match.kind.title not in titles:
            titles.append(p.match.kind.title)
    if len(titles) == 1:
        return titles[0]
    if len(titles) == 2:
        joined = f"{titles[0]} and {titles[1][0].lower()}{titles[1][1:]}"
        if len(joined) <= 80:
            return joined
    return f"{ranked[0].match.kind.title} and more"


def _questions(priced: list[PricedJob], total: Decimal) -> tuple[list[str], bool, bool]:
    """(questions, any size assumed, any structural unknown)."""
    questions: list[str] = []
    assumed = False
    structural = False
    for p in priced:
        job = p.match.kind
        if job.always_question and job.always_question not in questions:
            questions.append(job.always_question)
            structural = True
        if p.size.assumed:
            assumed = True
            share = p.total / total if total > 0 else Decimal(1)
            if job.size_question and share >= _SIZE_SHARE and job.size_question not in questions:
                questions.append(job.size_question)
        if p.match.hedged:
            question = job.hedge_question or (
                f"Is the {job.noun_label} definitely needed? It is included in this price.")
            if question not in questions:
                questions.append(question)
    return questions, assumed, structural


def _fallback(text: str, trade: str, book: RateBook) -> Estimate:
    """Text with work words but no known job: an hour-priced assessment and a question."""
    own = [c for c in book.own.values() if template_trade(c.key) == trade] or list(book.own.values())
    category = own[0] if own else templates_for_trade(trade)[0]
    labour = EstimateLine("Labour — site visit and assessment", "Scope to confirm on site",
                          category.key, Decimal(2), "hour", book.labour_rate(category))
    return Estimate("Job to be scoped", (labour,), 1, 1, "low", (VAGUE_JOB_QUESTION,))


def estimate(description: str, *, categories: Sequence[CategoryRates], trade: str = "general",
             default_labor_rate: Decimal = Decimal("75.00")) -> Estimate:
    """Turn a contractor's casual job description into a draft quote.

    Pure and deterministic: the same description and rates always give the same estimate.
    Never raises on odd input; text that is not a job gives no lines, low confidence and a
    question.
    """
    trade = trade if trade in TRADES else "general"
    book = _contractor_book(categories, clean_price(default_labor_rate) or Decimal("75.00"))
    text = normalize(description if isinstance(description, str) else "")
    matches = _dedupe(find_matches(text, trade)) if text else []
    if not matches:
        if text and _WORK_RE.search(text):
            return _fallback(text, trade, book)
        return Estimate("Job details needed", (), 0, 1, "low", (NOT_A_JOB_QUESTION,))

    # An umbrella ("bathroom remodel") names the job; it is priced only when nothing specific is.
    specific = any(not m.kind.umbrella and not m.kind.addon for m in matches)
    priced: list[PricedJob] = []
    for match in (m for m in matches if not m.kind.addon and not (m.kind.umbrella and specific)):
        job = price_job(text, match, book, None, frozenset())
        if job is not None:
            priced.append(job)
    for match in (m for m in matches if m.kind.addon):
        owner = _main_category(priced, match)
        main_category = book.category(owner.lines[0].category) if owner else None
        taken = frozenset(item for p in priced for item in p.items)
        job = price_job(text, match, book, main_category, taken)
        if job is not None:
            priced.append(job)
    priced.sort(key=lambda p: p.match.start)

    lines = merge_lines([line for p in priced for line in p.lines])
    lines += minimum_charges(lines, book)
    if not lines:
        return Estimate("Job details needed", (), 0, 1, "low", (VAGUE_JOB_QUESTION,))
    total = sum((line_amount(line) for line in lines), Decimal(0))
    questions, assumed, structural = _questions(priced, total)
    hours = sum((p.hours for p in priced), Decimal(0))
    crew_min = max((p.match.kind.crew_min for p in priced), default=1)
    cure = sum(p.match.kind.cure_days for p in priced)
    days, crew = schedule(hours, crew_min, cure)
    confidence = "low" if structural else "medium" if (questions or assumed) else "high"
    return Estimate(_title(priced, matches, total)[:120], tuple(lines), days, crew, confidence,
                    tuple(questions))
