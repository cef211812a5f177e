"""The plans and the rule that decides whether a contractor may generate a quote (PAY-001).

Pure: no database, no Stripe. ``PLANS`` is the one place plan names, prices and
quotas live; ``entitlement`` turns a contractor's billing columns into "may
generate up to N quotes in period P" or a sentence saying why not.

* ``trial`` (every new account): ``TRIAL_QUOTES`` quotes in total until
  ``trial_ends_at`` — the whole trial is one period (``"trial"``).
* ``starter``/``pro``/``team`` while ``active`` or ``trialing``: the plan's
  quota per calendar month (UTC, period ``"YYYY-MM"``).
* ``past_due``: still allowed for ``PAST_DUE_GRACE_DAYS`` after it began.
* ``canceled``, an ended trial, or any other status (``unpaid``,
  ``incomplete``, ``paused`` …): reading only, no generation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from backend.config import Settings

TRIAL_PLAN = "trial"
TRIAL_PERIOD = "trial"
UPGRADE_HINT = "choose a plan under Billing (Starter, Pro or Team)"


@dataclass(frozen=True)
class Plan:
    key: str
    name: str
    monthly_price: Decimal
    quotes_per_month: int


PLANS: dict[str, Plan] = {
    plan.key: plan
    for plan in (
        Plan("starter", "Starter", Decimal("29.00"), 50),
        Plan("pro", "Pro", Decimal("79.00"), 200),
        Plan("team", "Team", Decimal("199.00"), 1000),
    )
}


def price_ids(settings: Settings) -> dict[str, str]:
    """``{plan key: Stripe price id}`` for the plans whose ``STRIPE_PRICE_*`` is set."""
    configured = {"starter": settings.stripe_price_starter, "pro": settings.stripe_price_pro,
                  "team": settings.stripe_price_team}
    return {plan: price for plan, price in configured.items() if price}


def plan_for_price(settings: Settings, price_id: str | None) -> str | None:
    if not price_id:
        return None
    return next((plan for plan, price in price_ids(settings).items() if price == price_id), None)


@dataclass(frozen=True)
class QuotaRules:
    trial_quotes: int
    past_due_grace_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> QuotaRules:
        return cls(trial_quotes=settings.trial_quotes, past_due_grace_days=settings.past_due_grace_days)


class BillingState(Protocol):
    """The contractor columns the rule reads (the ORM row satisfies it)."""

    @property
    def plan(self) -> str: ...
    @property
    def subscription_status(self) -> str: ...
    @property
    def trial_ends_at(self) -> datetime | None: ...
    @property
    def past_due_since(self) -> datetime | None: ...


@dataclass(frozen=True)
class Entitlement:
    """``limit`` quotes in ``period``; ``refusal`` is the 402 sentence when nothing may be generated."""

    plan_name: str
    period: str
    limit: int
    refusal: str | None = None

    def exhausted_sentence(self) -> str:
        if self.period == TRIAL_PERIOD:
            return (f"You have used all {self.limit} quotes of your free trial; {UPGRADE_HINT} "
                    f"to keep generating quotes.")
        return (f"You have used all {self.limit} quotes of your {self.plan_name} plan this month; "
                f"upgrade to a larger plan under Billing, or wait for next month.")


def month_period(now: datetime) -> str:
    return f"{now.year:04d}-{now.month:02d}"


def entitlement(state: BillingState, rules: QuotaRules, now: datetime) -> Entitlement:
    """What ``state`` allows at ``now`` (see the module docstring)."""
    status = state.subscription_status
    if state.plan == TRIAL_PLAN:
        ended = state.trial_ends_at is not None and now >= state.trial_ends_at
        if status == "trialing" and not ended:
            return Entitlement("free trial", TRIAL_PERIOD, rules.trial_quotes)
        return Entitlement("free trial", TRIAL_PERIOD, 0,
                           f"Your free trial has ended; {UPGRADE_HINT} to keep generating quotes.")
    plan = PLANS.get(state.plan)
    if plan is None:
        return Entitlement(state.plan, month_period(now), 0,
                           f"Your account has no active plan; {UPGRADE_HINT} to generate quotes.")
    allowed = Entitlement(plan.name, month_period(now), plan.quotes_per_month)
    if status in ("active", "trialing"):
        return allowed
    if status == "past_due":
        since = state.past_due_since or now
        if now - since <= timedelta(days=rules.past_due_grace_days):
            return allowed
        return Entitlement(plan.name, allowed.period, 0,
                           f"Your {plan.name} plan is past due: the last payment failed over "
                           f"{rules.past_due_grace_days} days ago. Update your card in the billing portal "
                           f"(Billing → Manage) to generate quotes again.")
    if status == "canceled":
        return Entitlement(plan.name, allowed.period, 0,
                           f"Your {plan.name} subscription is canceled; {UPGRADE_HINT} to generate quotes again.")
    return Entitlement(plan.name, allowed.period, 0,
                       f"Your {plan.name} subscription is {status.replace('_', ' ')}; complete the payment "
                       f"in the billing portal (Billing → Manage) to generate quotes.")
