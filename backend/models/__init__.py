"""SQLAlchemy models; importing this package registers every table on ``Base.metadata``."""

from backend.models.accounts import Contractor
from backend.models.base import Base
from backend.models.billing import QuoteUsage, StripeEvent
from backend.models.customers import Customer
from backend.models.documents import Invoice, Quote
from backend.models.outbox import EmailDelivery, OutboxItem
from backend.models.pricing import PricingAdjustment, PricingCategory, PricingSettings
from backend.models.tokens import RefreshToken

__all__ = [
    "Base", "Contractor", "Customer", "EmailDelivery", "Invoice", "OutboxItem", "PricingAdjustment",
    "PricingCategory", "PricingSettings", "Quote", "QuoteUsage", "RefreshToken", "StripeEvent",
]
