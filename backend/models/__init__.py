"""SQLAlchemy models; importing this package registers every table on ``Base.metadata``."""

from backend.models.accounts import Contractor
from backend.models.base import Base
from backend.models.customers import Customer
from backend.models.documents import Invoice, Quote
from backend.models.outbox import EmailDelivery, OutboxItem
from backend.models.pricing import PricingCategory, PricingSettings
from backend.models.tokens import RefreshToken

__all__ = [
    "Base", "Contractor", "Customer", "EmailDelivery", "Invoice", "OutboxItem", "PricingCategory", "PricingSettings",
    "Quote", "RefreshToken",
]
