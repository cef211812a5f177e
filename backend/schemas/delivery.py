"""Bodies of the email-sending endpoints (``POST /api/quotes/{id}/send``, ``/api/invoices/{id}/send``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, Field

from backend.schemas.common import StrictModel


class SendEmailIn(StrictModel):
    """Where to send the document; without ``email``, the customer's address."""

    email: Annotated[EmailStr, Field(max_length=320)] | None = None
