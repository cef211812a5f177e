"""The pricing brain: categories, settings and the starting templates per trade."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import NotFound
from backend.models import PricingCategory, PricingSettings
from backend.schemas.pricing import CategoryOut, TemplateCategoryOut, TemplateOut
from backend.services.cache_service import Cache, invalidate_after_commit
from backend.services.contractor_cache import ContractorRef
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


async def seed_pricing_brain(session: AsyncSession, contractor: ContractorRef) -> None:
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


async def list_categories(session: AsyncSession, contractor: ContractorRef) -> Sequence[PricingCategory]:
    stmt = owned(PricingCategory, contractor.id).order_by(PricingCategory.key)
    return (await session.execute(stmt)).scalars().all()


async def upsert_category(session: AsyncSession, contractor: ContractorRef, *, cache: Cache, key: str,
                          display_name: str, labor_rate: Decimal, markup_percent: Decimal, min_charge: Decimal,
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
    await invalidate_categories(cache, contractor.id, session=session)
    return category, created


async def delete_category(session: AsyncSession, contractor: ContractorRef, *, cache: Cache, key: str) -> None:
    result = await session.execute(
        delete(PricingCategory).where(PricingCategory.contractor_id == contractor.id, PricingCategory.key == key)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound("category")
    await invalidate_categories(cache, contractor.id, session=session)


async def get_settings(session: AsyncSession, contractor: ContractorRef) -> PricingSettings:
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


async def update_settings(session: AsyncSession, contractor: ContractorRef, *, default_labor_rate: Decimal,
                          default_markup_percent: Decimal, learning_enabled: bool) -> PricingSettings:
    settings = await get_settings(session, contractor)
    settings.default_labor_rate = default_labor_rate
    settings.default_markup_percent = default_markup_percent
    settings.learning_enabled = learning_enabled
    await session.flush()
    return settings


async def rates_for(session: AsyncSession, contractor: ContractorRef) -> list[CategoryRates]:
    return [to_rates(c) for c in await list_categories(session, contractor)]


def starting_templates() -> dict[str, list[CategoryRates]]:
    return all_templates()


async def category_keys(session: AsyncSession, contractor: ContractorRef) -> set[str]:
    stmt = select(PricingCategory.key).where(PricingCategory.contractor_id == contractor.id)
    return set((await session.execute(stmt)).scalars().all())


# -- cached reads (INFRA-004) ----------------------------------------------------------

CATEGORIES_TTL_SECONDS = 600  # GET /api/pricing-brain/categories: 10 minutes
TEMPLATES_TTL_SECONDS = 3600  # GET /api/pricing-brain/templates: 1 hour
TEMPLATES_KEY = "pricing:templates"


def categories_key(contractor_id: uuid.UUID) -> str:
    return f"pricing:{contractor_id}:categories"


async def list_categories_cached(session: AsyncSession, cache: Cache,
                                 contractor: ContractorRef) -> list[dict[str, Any]]:
    """The contractor's categories as response-ready JSON, from the cache when it has them."""
    key = categories_key(contractor.id)
    cached = await cache.get(key)
    if isinstance(cached, list):
        return cached
    items = [CategoryOut.model_validate(row).model_dump(mode="json")
             for row in await list_categories(session, contractor)]
    await cache.fill(key, items, CATEGORIES_TTL_SECONDS)
    return items


async def starting_templates_cached(cache: Cache) -> list[dict[str, Any]]:
    """Every trade's starting template as response-ready JSON (they change only with a deploy,
    and the cache key's version prefix changes with the shape)."""
    cached = await cache.get(TEMPLATES_KEY)
    if isinstance(cached, list):
        return cached
    items = [
        TemplateOut(trade=trade, categories=[TemplateCategoryOut.model_validate(c) for c in categories])
        .model_dump(mode="json")
        for trade, categories in starting_templates().items()
    ]
    await cache.fill(TEMPLATES_KEY, items, TEMPLATES_TTL_SECONDS)
    return items


async def invalidate_categories(cache: Cache, contractor_id: uuid.UUID, *,
                                session: AsyncSession | None = None) -> None:
    """Drop the cached category list in every worker; call it from any write to the
    contractor's categories (upsert, delete, learning, revert). With ``session`` it is
    repeated right after that session commits."""
    key = categories_key(contractor_id)
    await cache.delete(key)
    if session is not None:
        invalidate_after_commit(session, cache, (key,))
