"""Billing with Stripe (PAY-001): the only module that imports ``stripe``.

* :class:`StripeGateway` — one ``StripeClient`` per process (built in the app
  lifespan) on ``stripe.HTTPXClient`` with explicit timeouts, the SDK's own
  retries off (``max_network_retries=0``) because calls run under our retry
  policy (``retry.with_retries``) inside the ``stripe`` circuit breaker, and
  ``base_addresses={"api": STRIPE_API_BASE}`` so tests talk to a local fake.
  Stripe errors become ``VendorTransientError`` (connection errors, 429, 5xx —
  retried, count against the breaker), ``VendorBadResponse`` (a 2xx that is
  not JSON) or ``VendorRejected`` (other 4xx — our bug). Every outcome that
  reaches a client is a 503 with a sentence and ``Retry-After``.
* :func:`start_checkout` / :func:`open_portal` / :func:`billing_status` — the
  ``/api/billing`` use cases. Customer creation uses the idempotency key
  ``quoted-customer-{contractor id}``, so a checkout that failed after creating
  the customer reuses it when tried again (within Stripe's 24 h key window).
* :func:`verify_webhook` — the ``Stripe-Signature`` check with Stripe's library
  (300 s tolerance) against ``STRIPE_WEBHOOK_SECRET``, then
  ``STRIPE_WEBHOOK_SECRET_PREVIOUS`` during a rotation. Applying the event is
  ``stripe_webhook_service``'s job; it never calls Stripe back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import stripe
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.errors import InvalidPayload, InvalidSignature, InvalidState, ServiceUnavailable
from backend.core.logging import get_logger
from backend.models import Contractor
from backend.services import quota_service
from backend.services.billing_plans import PLANS, QuotaRules, price_ids
from backend.services.circuit_breaker import VendorBreaker
from backend.services.contractor_cache import ContractorRef
from backend.services.retry import (
    VendorBadResponse,
    VendorError,
    VendorRejected,
    VendorTransientError,
    is_transient_status,
    with_retries,
)

log = get_logger(__name__)

T = TypeVar("T")

VENDOR = "stripe"
WEBHOOK_TOLERANCE_SECONDS = 300  # Stripe's default: a replayed delivery older than 5 minutes is refused
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 15.0

BILLING_NOT_CONFIGURED = "Billing is not configured on this server yet, so plans cannot be bought; try again later."
BILLING_FAILED = "Billing is temporarily unavailable; try again in a minute."


class BillingNotConfigured(ServiceUnavailable):
    message = BILLING_NOT_CONFIGURED

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, retry_after=3600)


# -- the Stripe client -------------------------------------------------------------------------------


def _translate(error: stripe.StripeError) -> VendorError:
    status = error.http_status
    message = f"{type(error).__name__}: {error.user_message or error.code or 'no message'}"
    if isinstance(error, stripe.APIConnectionError) or status is None:
        return VendorTransientError(VENDOR, message)
    if is_transient_status(status):
        retry_after = None
        if error.headers and error.headers.get("retry-after"):
            try:
                retry_after = float(error.headers["retry-after"])
            except ValueError:
                retry_after = None
        return VendorTransientError(VENDOR, message, status=status, retry_after=retry_after)
    if 200 <= status < 300:  # the SDK could not read a 2xx body
        return VendorBadResponse(VENDOR, message, status=status)
    return VendorRejected(VENDOR, message, status=status, error_type=error.code)


class StripeGateway:
    """Stripe's REST API for this process: checkout, portal and customers, behind retries and the breaker."""

    def __init__(self, settings: Settings, breaker: VendorBreaker) -> None:
        self.breaker = breaker
        self.backoff_scale = settings.retry_backoff_scale
        self.public_base_url = settings.public_base_url.rstrip("/")
        self._http: stripe.HTTPXClient | None = None
        self._client: stripe.StripeClient | None = None
        if settings.stripe_secret_key is not None:
            self._http = stripe.HTTPXClient(
                timeout=httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS))
            self._client = stripe.StripeClient(
                settings.stripe_secret_key.get_secret_value(), http_client=self._http, max_network_retries=0,
                base_addresses={"api": settings.stripe_api_base},
            )

    @property
    def configured(self) -> bool:
        return self._client is not None

    def client(self) -> stripe.StripeClient:
        if self._client is None:
            raise BillingNotConfigured()
        return self._client

    async def call(self, what: str, request: Callable[[stripe.StripeClient], Awaitable[T]]) -> T:
        """One logical Stripe call: retried, under the breaker; failures become a 503 with a sentence."""
        client = self.client()

        async def attempt() -> T:
            try:
                return await request(client)
            except stripe.StripeError as error:
                raise _translate(error) from error

        try:
            return await self.breaker.guard(lambda: with_retries(VENDOR, attempt, scale=self.backoff_scale))
        except VendorError as error:
            log.warning("stripe.call_failed", call=what, status=error.status, error=error.detail,
                        error_kind=type(error).__name__)
            raise ServiceUnavailable(BILLING_FAILED, retry_after=30) from error

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close_async()


# -- use cases -------------------------------------------------------------------------------------


async def _release_connection(session: AsyncSession) -> None:
    """Commit the (read-only so far) transaction before calling Stripe: no connection or SQLite
    write lock is held across the network."""
    await session.commit()


async def _customer_id(session: AsyncSession, contractor: ContractorRef, gateway: StripeGateway) -> str:
    existing = (await session.execute(
        select(Contractor.stripe_customer_id).where(Contractor.id == contractor.id)
    )).scalar_one_or_none()
    if existing:
        return existing
    await _release_connection(session)
    customer = await gateway.call("customers.create", lambda client: client.v1.customers.create_async(
        params={"email": contractor.email, "name": contractor.business_name,
                "metadata": {"contractor_id": str(contractor.id)}},
        options={"idempotency_key": f"quoted-customer-{contractor.id}"},
    ))
    # Conditional: a concurrent checkout got the same customer (same idempotency key) anyway.
    await session.execute(
        update(Contractor).where(Contractor.id == contractor.id, Contractor.stripe_customer_id.is_(None))
        .values(stripe_customer_id=customer.id).execution_options(synchronize_session=False)
    )
    log.info("billing.customer_created", customer_id=customer.id)
    return str(customer.id)


async def start_checkout(session: AsyncSession, contractor: ContractorRef, *, gateway: StripeGateway,
                         settings: Settings, plan: str) -> str:
    """A Stripe Checkout URL for subscribing to ``plan`` (503 when billing is not configured or down)."""
    price = price_ids(settings).get(plan)
    if not gateway.configured:
        raise BillingNotConfigured()
    if price is None:
        raise BillingNotConfigured(f"The {PLANS[plan].name} plan cannot be bought on this server yet; "
                                   f"try another plan or try again later.")
    customer_id = await _customer_id(session, contractor, gateway)
    await _release_connection(session)
    metadata = {"plan": plan, "contractor_id": str(contractor.id)}
    checkout = await gateway.call("checkout.sessions.create", lambda client: client.v1.checkout.sessions.create_async(
        params={
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": str(contractor.id),
            "line_items": [{"price": price, "quantity": 1}],
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},  # so subscription events name the plan too
            "success_url": f"{gateway.public_base_url}/?billing=success",
            "cancel_url": f"{gateway.public_base_url}/?billing=canceled",
        },
        options={"idempotency_key": f"quoted-checkout-{uuid.uuid4()}"},  # one key across our retries
    ))
    log.info("billing.checkout_started", plan=plan, checkout_id=checkout.id)
    return str(checkout.url)


async def open_portal(session: AsyncSession, contractor: ContractorRef, *, gateway: StripeGateway) -> str:
    """A Stripe billing-portal URL (409 until the contractor has gone through checkout once)."""
    if not gateway.configured:
        raise BillingNotConfigured()
    customer_id = (await session.execute(
        select(Contractor.stripe_customer_id).where(Contractor.id == contractor.id)
    )).scalar_one_or_none()
    if not customer_id:
        raise InvalidState("You have no subscription to manage yet; choose a plan first.")
    await _release_connection(session)
    portal = await gateway.call("billing_portal.sessions.create",
                                lambda client: client.v1.billing_portal.sessions.create_async(
                                    params={"customer": customer_id, "return_url": f"{gateway.public_base_url}/"}))
    return str(portal.url)


@dataclass(frozen=True)
class BillingStatus:
    plan: str
    subscription_status: str
    current_period_end: datetime | None
    quotes_used: int
    quotes_limit: int


async def billing_status(session: AsyncSession, contractor: ContractorRef, *, rules: QuotaRules) -> BillingStatus:
    """Plan, status and this period's quote usage (``quotes_limit`` is 0 when generation is not allowed)."""
    columns, allowed = await quota_service.current_entitlement(session, contractor.id, rules)
    used = await quota_service.quotes_used(session, contractor.id, allowed.period)
    period_end = columns.current_period_end or (columns.trial_ends_at if columns.plan == "trial" else None)
    return BillingStatus(plan=columns.plan, subscription_status=columns.subscription_status,
                         current_period_end=period_end, quotes_used=used, quotes_limit=allowed.limit)


# -- webhooks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedEvent:
    """A webhook event whose signature was checked; ``obj`` is ``data.object``."""

    id: str
    type: str
    created: datetime
    obj: dict[str, Any]


def _webhook_secrets(settings: Settings) -> list[str]:
    return [secret.get_secret_value() for secret in (settings.stripe_webhook_secret,
                                                      settings.stripe_webhook_secret_previous)
            if secret is not None and secret.get_secret_value()]


def verify_webhook(settings: Settings, payload: bytes, signature: str | None) -> VerifiedEvent:
    """Check ``Stripe-Signature`` over the raw body (current secret, then the previous one) and parse it.

    400 ``invalid_signature`` for a missing, malformed, stale (> 300 s) or wrong signature;
    400 ``invalid_payload`` for a signed body that is not a Stripe event.
    """
    secrets = _webhook_secrets(settings)
    if not secrets:
        raise ServiceUnavailable("Stripe webhooks are not configured on this server.", retry_after=3600)
    if not signature:
        raise InvalidSignature("The Stripe-Signature header is missing.")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidPayload("The webhook body is not UTF-8 text.") from error
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, signature, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS)
            break
        except stripe.SignatureVerificationError:
            continue
    else:
        raise InvalidSignature()
    try:
        event = json.loads(text)
    except ValueError as error:
        raise InvalidPayload("The webhook body is not JSON.") from error
    data = event.get("data") if isinstance(event, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if (not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str)
            or not isinstance(event.get("created"), int) or not isinstance(obj, dict)):
        raise InvalidPayload("The webhook body is not a Stripe event (id, type, created, data.object).")
    return VerifiedEvent(id=event["id"][:255], type=event["type"][:100],
                         created=datetime.fromtimestamp(event["created"], UTC), obj=obj)
