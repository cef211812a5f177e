"""Pricing brain learning: a contractor's price edits on generated quotes move their stored prices.

The rule (one place: :func:`learned_value`, weight :data:`ALPHA`)
-----------------------------------------------------------------
An exponentially weighted average towards the edited price::

    stored_after = round_half_up(stored_before + ALPHA × (edited − stored_before), 4 places)

with ``ALPHA = 0.5``: one edit moves the stored price half way to what the
contractor typed; repeated edits to the same price converge on it. It is
applied to the value stored *now* (read under the category's row lock), not
to the price the quote was generated with.

What is learned
---------------
A PATCH of a quote's line items is compared with the stored lines: each new
line is paired with the first unpaired stored line of the same name, category
and unit. A paired line whose ``unit_price`` changed, in a category the
contractor has, and with ``learning_enabled`` on, teaches:

* its ``item`` (the ``unit_prices`` key the estimator priced it from, carried
  on the line) → that ``unit_prices[item]``, when the category still has it;
* no item, unit ``hour`` and the old price equal to the category's
  ``labor_rate`` → ``labor_rate``;
* no item otherwise → the one ``unit_prices`` entry equal to the old price
  (none or several equal: nothing is learned — it would be a guess).

"Minimum service charge" lines are computed, never learned from. Lines in a
category the contractor does not have, new lines and deleted lines teach
nothing.

Concurrency
-----------
Each category row is locked (``SELECT … FOR UPDATE``; on SQLite the
transaction's ``BEGIN IMMEDIATE`` already serialises writers) before its
stored value is read, the rule applied, the category updated and the
adjustment inserted — all in the request's transaction. ``seq`` (1, 2, … per
category) is taken under that lock, so replaying the rule over a category's
adjustments in ``seq`` order reproduces its stored value; no update is lost.
Categories are locked in key order, so two edits touching several categories
cannot deadlock.

Revert
------
Under the same lock: if the stored value is still the adjustment's
``stored_after``, ``stored_before`` is restored; otherwise later changes
happened on top of it, so only its own delta is taken off
(``current − (stored_after − stored_before)``, kept within 0 … 1,000,000).
A second revert is 409 ``invalid_state``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import InvalidState
from backend.core.logging import get_logger
from backend.core.money import format_rate
from backend.models import PricingAdjustment, PricingCategory
from backend.models.base import utcnow
from backend.services import pricing_service
from backend.services.cache_service import Cache
from backend.services.contractor_cache import ContractorRef
from backend.services.queries import get_owned, keyset_page, owned

log = get_logger(__name__)

ALPHA = Decimal("0.5")  # the weight of one edit: the only place it is set
PLACES = Decimal("0.0001")  # stored prices keep four places
MAX_PRICE = Decimal("1000000")
MINIMUM_CHARGE_LINE = "Minimum service charge"  # estimator.pricing.minimum_charges: computed, never learned

UNIT_PRICE = "unit_price"
LABOR_RATE = "labor_rate"


def learned_value(stored: Decimal, edited: Decimal) -> Decimal:
    """THE rule: move the stored price ALPHA of the way towards the edited one (half-up, 4 places)."""
    return (stored + ALPHA * (edited - stored)).quantize(PLACES, rounding=ROUND_HALF_UP)


def reverted_value(current: Decimal, *, before: Decimal, after: Decimal) -> Decimal:
    """The stored value once one adjustment is undone (see the module docstring)."""
    if current == after:
        return before
    value = (current - (after - before)).quantize(PLACES, rounding=ROUND_HALF_UP)
    return min(max(value, Decimal(0)), MAX_PRICE)


@dataclass(frozen=True)
class PriceEdit:
    """A stored line whose unit price the contractor changed."""

    category: str
    item: str | None
    name: str
    unit: str
    old_price: Decimal
    new_price: Decimal


def _pair_key(line: dict[str, Any]) -> tuple[str, str | None, str]:
    return (str(line.get("name", "")).strip(), line.get("category"), str(line.get("unit") or "each"))


def carry_item_keys(old_lines: Sequence[dict[str, Any]], new_lines: list[dict[str, Any]]) -> list[PriceEdit]:
    """Pair edited lines with the stored ones, carry each stored ``item`` key over, return the price edits.

    ``new_lines`` are priced line dicts (``line_items.price_lines``); they are updated in place.
    """
    unpaired = list(old_lines)
    edits: list[PriceEdit] = []
    for new in new_lines:
        new.pop("item", None)  # only the stored line knows its item
        key = _pair_key(new)
        old = next((line for line in unpaired if _pair_key(line) == key), None)
        if old is None:
            continue
        unpaired.remove(old)
        if old.get("item"):
            new["item"] = old["item"]
        old_price, new_price = Decimal(str(old["unit_price"])), Decimal(str(new["unit_price"]))
        if old_price != new_price and key[1]:
            edits.append(PriceEdit(category=str(key[1]), item=old.get("item") or None, name=key[0], unit=key[2],
                                   old_price=old_price, new_price=new_price))
    return edits


def _target(category: PricingCategory, edit: PriceEdit) -> tuple[str, str | None] | None:
    """(field, item) the edit teaches in this category, or None when nothing can be learned from it."""
    prices = {item: Decimal(str(price)) for item, price in category.unit_prices.items()}
    if edit.item is not None:
        return (UNIT_PRICE, edit.item) if edit.item in prices else None
    if edit.name == MINIMUM_CHARGE_LINE:
        return None
    if edit.unit == "hour" and edit.old_price == Decimal(category.labor_rate):
        return LABOR_RATE, None
    matches = [item for item, price in prices.items() if price == edit.old_price]
    return (UNIT_PRICE, matches[0]) if len(matches) == 1 else None


def _stored(category: PricingCategory, field: str, item: str | None) -> Decimal:
    if field == LABOR_RATE:
        return Decimal(category.labor_rate)
    return Decimal(str(category.unit_prices[item or ""]))


def _store(category: PricingCategory, field: str, item: str | None, value: Decimal) -> None:
    if field == LABOR_RATE:
        category.labor_rate = value
    else:  # a new dict: the JSON column tracks assignment, not mutation
        category.unit_prices = {**category.unit_prices, item or "": format_rate(value)}
    category.updated_at = utcnow()


async def _lock_category(session: AsyncSession, contractor_id: uuid.UUID, key: str) -> PricingCategory | None:
    # populate_existing: re-read the row after the lock, even if this session loaded it before.
    stmt = (owned(PricingCategory, contractor_id).where(PricingCategory.key == key).with_for_update()
            .execution_options(populate_existing=True))
    return (await session.execute(stmt)).scalar_one_or_none()


async def _next_seq(session: AsyncSession, contractor_id: uuid.UUID, key: str) -> int:
    last = await session.scalar(select(func.max(PricingAdjustment.seq)).where(
        PricingAdjustment.contractor_id == contractor_id, PricingAdjustment.category_key == key))
    return int(last or 0) + 1


async def learn_from_edits(session: AsyncSession, contractor: ContractorRef, *, cache: Cache,
                           quote_id: uuid.UUID, edits: Sequence[PriceEdit]) -> list[PricingAdjustment]:
    """Fold the quote's price edits into the contractor's categories (when learning is on)."""
    if not edits:
        return []
    settings = await pricing_service.get_settings(session, contractor)
    if not settings.learning_enabled:
        return []
    learned: list[PricingAdjustment] = []
    for key in sorted({edit.category for edit in edits}):  # key order: no lock-order deadlocks
        category = await _lock_category(session, contractor.id, key)
        if category is None:
            continue  # not one of the contractor's categories: nothing to learn
        for edit in (e for e in edits if e.category == key):
            target = _target(category, edit)
            if target is None:
                continue
            field, item = target
            before = _stored(category, field, item)
            after = learned_value(before, edit.new_price)
            _store(category, field, item, after)
            adjustment = PricingAdjustment(
                id=uuid.uuid4(), contractor_id=contractor.id, quote_id=quote_id, category_key=key, item=item,
                field=field, seq=await _next_seq(session, contractor.id, key), old_price=edit.old_price,
                new_price=edit.new_price, applied_value_before=before, applied_value_after=after,
                created_at=utcnow(),
            )
            session.add(adjustment)
            await session.flush()
            learned.append(adjustment)
            log.info("pricing.learned", quote_id=str(quote_id), category=key, item=item, field=field,
                     old_price=str(edit.old_price), new_price=str(edit.new_price), stored_before=str(before),
                     stored_after=str(after))
    if learned:
        await pricing_service.invalidate_categories(cache, contractor.id, session=session)
    return learned


async def list_adjustments(session: AsyncSession, contractor: ContractorRef, *, limit: int,
                           cursor: str | None) -> tuple[Sequence[PricingAdjustment], str | None]:
    """What was learned, newest first (keyset pages)."""
    return await keyset_page(session, owned(PricingAdjustment, contractor.id), PricingAdjustment,
                             limit=limit, cursor=cursor)


async def revert_adjustment(session: AsyncSession, contractor: ContractorRef, adjustment_id: uuid.UUID, *,
                            cache: Cache) -> PricingAdjustment:
    """Undo one adjustment's effect on its category (404 for another contractor's, 409 if already undone)."""
    adjustment = await get_owned(session, PricingAdjustment, contractor.id, adjustment_id,
                                 what="adjustment", for_update=True)
    if adjustment.reverted_at is not None:
        raise InvalidState("This adjustment has already been reverted.")
    category = await _lock_category(session, contractor.id, adjustment.category_key)
    if category is None:
        raise InvalidState("The category this adjustment changed no longer exists, so there is nothing to revert.")
    if adjustment.field == UNIT_PRICE and adjustment.item not in category.unit_prices:
        raise InvalidState("The item this adjustment changed is no longer in its category.")
    current = _stored(category, adjustment.field, adjustment.item)
    restored = reverted_value(current, before=adjustment.applied_value_before, after=adjustment.applied_value_after)
    _store(category, adjustment.field, adjustment.item, restored)
    adjustment.reverted_at = utcnow()
    await session.flush()
    await pricing_service.invalidate_categories(cache, contractor.id, session=session)
    log.info("pricing.adjustment_reverted", adjustment_id=str(adjustment.id), category=adjustment.category_key,
             item=adjustment.item, stored_before=str(current), stored_after=str(restored))
    return adjustment
