"""The pricing brain: categories, settings and the starting templates per trade."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import NotFound
from backend.models import Contractor, PricingCategory, PricingSettings
from backend.services.estimator import CategoryRates, all_templates, templates_for_trade
from backend.services.queries import owned

DEFAULT_LABOR_RATE = Decimal("75.00")
DEFAULT_MARKUP_PERCENT = Decimal("20.00")


def _prices_to_json(prices: dict[str, Decimal]) -> dict[str, str]:
    return {item: f"{Decimal(price):f}" for item, price in prices.items()}


def to_rates(category: PricingCategory) -> CategoryRates:
    return CategoryRates(
        key=category.key,
        display_name=category.display_name,
        labor_rate=category.labor_rate,
        markup_percent=category.markup_percent,
        min_charge=category.min_charge,
        unit_prices={item: Decimal(price) for item, price in category.unit_prices.items()},
        notes=category.notes,
    )


async def seed_pricing_brain(session: AsyncSession, contractor: Contractor) -> None:
    """A new contractor starts with the template of their trade."""
    templates = templates_for_trade(contractor.trade)
    for template in templates:
        session.add(PricingCategory(
            contractor_id=contractor.id,
            key=template.key,
            display_name=template.display_name,
            labor_rate=template.labor_rate,
            markup_percent=template.markup_percent,
            min_charge=template.min_charge,
            unit_prices=_prices_to_json(dict(template.unit_prices)),
            notes=template.notes,
        ))
    labor = templates[0].labor_rate if templates else DEFAULT_LABOR_RATE
    session.add(PricingSettings(
        contractor_id=contractor.id,
        default_labor_rate=labor,
        default_markup_percent=DEFAULT_MARKUP_PERCENT,
        learning_enabled=True,
    ))
    await session.flush()


async def list_categories(session: AsyncSession, contractor: Contractor) -> Sequence[PricingCategory]:
    stmt = owned(PricingCategory, contractor.id).order_by(PricingCategory.key)
    return (await session.execute(stmt)).scalars().all()


async def upsert_category(session: AsyncSession, contractor: Contractor, *, key: str, display_name: str,
                          labor_rate: Decimal, markup_percent: Decimal, min_charge: Decimal,
                          unit_prices: dict[str, Decimal], notes: str) -> tuple[PricingCategory, bool]:
    """Create or replace one category; returns (category, created)."""
    stmt = owned(PricingCategory, contractor.id).where(PricingCategory.key == key).with_for_update()
    category = (await session.execute(stmt)).scalar_one_or_none()
    created = category is None
    if category is None:
        category = PricingCategory(id=uuid.uuid4(), contractor_id=contractor.id, key=key)
        session.add(category)
    category.display_name = display_name
    category.labor_rate = labor_rate
    category.markup_percent = markup_percent
    category.min_charge = min_charge
    category.unit_prices = _prices_to_json(unit_prices)
    category.notes = notes
    await session.flush()
    await session.refresh(category)
    return category, created


async def delete_category(session: AsyncSession, contractor: Contractor, *, key: str) -> None:
    result = await session.execute(
        delete(PricingCategory).where(PricingCategory.contractor_id == contractor.id, PricingCategory.key == key)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound("category")


async def get_settings(session: AsyncSession, contractor: Contractor) -> PricingSettings:
    settings = await session.get(PricingSettings, contractor.id)
    if settings is None:  # contractors created before settings existed
        settings = PricingSettings(
            contractor_id=contractor.id,
            default_labor_rate=DEFAULT_LABOR_RATE,
            default_markup_percent=DEFAULT_MARKUP_PERCENT,
            learning_enabled=True,
        )
        session.add(settings)
        await session.flush()
    return settings


async def update_settings(session: AsyncSession, contractor: Contractor, *, default_labor_rate: Decimal,
                          default_markup_percent: Decimal, learning_enabled: bool) -> PricingSettings:
    settings = await get_settings(session, contractor)
    settings.default_labor_rate = default_labor_rate
    settings.default_markup_percent = default_markup_percent
    settings.learning_enabled = learning_enabled
    await session.flush()
    return settings


async def rates_for(session: AsyncSession, contractor: Contractor) -> list[CategoryRates]:
    return [to_rates(c) for c in await list_categories(session, contractor)]


def starting_templates() -> dict[str, list[CategoryRates]]:
    return all_templates()


async def category_keys(session: AsyncSession, contractor: Contractor) -> set[str]:
    stmt = select(PricingCategory.key).where(PricingCategory.contractor_id == contractor.id)
    return set((await session.execute(stmt)).scalars().all())
