"""Email: the templates, and Resend — the only module that knows its URL, headers and errors.

Bodies are rendered from ``string.Template`` templates; every value that
reaches the HTML is passed through ``html.escape`` first (a customer called
``<script>`` stays text). Each email has an HTML and a plain-text body.

Sending goes through the outbox (``outbox.py``): a request queues the email
in its own transaction and the dispatcher calls :meth:`EmailSender.send`,
under the INFRA-006 retry policy inside the ``resend`` breaker. The outbox
item id is sent as Resend's ``Idempotency-Key``, so an email whose send
succeeded but whose bookkeeping did not is not sent twice when retried.

With no ``RESEND_API_KEY`` the email is logged instead of sent (and counts as sent).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from string import Template
from typing import Protocol

import httpx

from backend.core.logging import get_logger
from backend.services.circuit_breaker import VendorBreaker
from backend.services.retry import VendorBadResponse, error_for_status, error_for_transport, with_retries

log = get_logger(__name__)

VENDOR = "resend"
EMAILS_PATH = "/emails"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)


@dataclass(frozen=True)
class EmailMessage:
    to: str
    subject: str
    html: str
    text: str
    reply_to: str | None = None


class EmailSender(Protocol):
    async def send(self, message: EmailMessage, *, idempotency_key: str) -> str:
        """Send (or log) the email; returns the provider's id for it."""

    async def aclose(self) -> None: ...


def mask_email(address: str) -> str:
    """``d***@example.com``: enough to debug a delivery, not a list of customer addresses in the logs."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


class ResendClient:
    """Transactional email through Resend's REST API."""

    vendor = VENDOR

    def __init__(self, *, api_key: str, base_url: str, sender: str, breaker: VendorBreaker, backoff_scale: float,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self.sender = sender
        self.breaker = breaker
        self.backoff_scale = backoff_scale
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                       headers={"authorization": f"Bearer {api_key}"})

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> str:
        payload: dict[str, object] = {"from": self.sender, "to": [message.to], "subject": message.subject,
                                      "html": message.html, "text": message.text}
        if message.reply_to:
            payload["reply_to"] = message.reply_to

        async def attempt() -> str:
            try:
                response = await self._http.post(EMAILS_PATH, json=payload,
                                                 headers={"idempotency-key": idempotency_key})
            except httpx.TransportError as error:
                raise error_for_transport(VENDOR, error) from None
            if response.status_code >= 400:
                raise error_for_status(VENDOR, response, message=_error_message(response))
            try:
                email_id = response.json().get("id")
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                email_id = None
            if not isinstance(email_id, str) or not email_id:
                raise VendorBadResponse(VENDOR, "the answer has no email id", status=response.status_code)
            return email_id

        email_id = await self.breaker.guard(lambda: with_retries(VENDOR, attempt, scale=self.backoff_scale))
        log.info("email.sent", provider="resend", to=mask_email(message.to), email_id=email_id)
        return email_id

    async def aclose(self) -> None:
        await self._http.aclose()


class LoggingEmailSender:
    """The embedded default (no RESEND_API_KEY): the email is written to the log, not sent."""

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> str:
        log.info("email.logged", to=mask_email(message.to), subject=message.subject, text=message.text,
                 hint="set RESEND_API_KEY to send emails")
        return f"logged-{idempotency_key}"

    async def aclose(self) -> None:
        return None


def _error_message(response: httpx.Response) -> str:
    try:
        name = response.json().get("name")
    except (ValueError, AttributeError):
        name = None
    return f"HTTP {response.status_code} {name or ''}".strip()


# -- templates -----------------------------------------------------------------------------

_HTML = Template("""<!doctype html>
<html><body style="font-family: -apple-system, Segoe UI, Roboto, sans-serif; color: #1f2937; max-width: 560px;">
<p>Hello $customer_name,</p>
<p>$business_name sent you $kind_article $kind_name <strong>$number</strong>$title_part.</p>
<table style="border-collapse: collapse; width: 100%; margin: 16px 0;">$rows
<tr><td style="padding: 8px 0; border-top: 1px solid #e5e7eb;"><strong>Total</strong></td>
<td style="padding: 8px 0; border-top: 1px solid #e5e7eb; text-align: right;"><strong>$total</strong></td></tr>
</table>
$link_part
<p>Thank you,<br>$business_name</p>
</body></html>
""")

_HTML_ROW = Template("""
<tr><td style="padding: 4px 0;">$name</td><td style="padding: 4px 0; text-align: right;">$amount</td></tr>""")

_HTML_LINK = Template("""<p><a href="$url" style="background: #2563eb; color: #fff; padding: 10px 16px; \
border-radius: 6px; text-decoration: none;">View the $kind_name online</a></p>
<p style="font-size: 12px; color: #6b7280;">Or open this address: $url</p>""")

_TEXT = Template("""Hello $customer_name,

$business_name sent you $kind_article $kind_name $number$title_part.

$rows
Total: $total
$link_part
Thank you,
$business_name
""")


@dataclass(frozen=True)
class DocumentEmail:
    """What a quote or invoice email says; every field is untrusted text."""

    kind: str  # "quote" | "invoice"
    number: str
    title: str
    business_name: str
    customer_name: str | None
    currency: str
    total: str
    lines: list[tuple[str, str]]  # (name, amount)
    link: str | None


def render_document_email(doc: DocumentEmail) -> tuple[str, str, str]:
    """(subject, html, text) for a quote or invoice email; HTML values are escaped."""
    e = html.escape
    total = f"{doc.total} {doc.currency}"
    kind_article = "an" if doc.kind == "invoice" else "a"
    customer = doc.customer_name or "there"
    title_part = f" ({doc.title})" if doc.title else ""
    html_body = _HTML.substitute(
        customer_name=e(customer), business_name=e(doc.business_name), kind_article=kind_article,
        kind_name=doc.kind, number=e(doc.number), title_part=e(title_part),
        rows="".join(_HTML_ROW.substitute(name=e(name), amount=e(amount)) for name, amount in doc.lines),
        total=e(total),
        link_part=_HTML_LINK.substitute(url=e(doc.link, quote=True), kind_name=doc.kind) if doc.link else "",
    )
    text_body = _TEXT.substitute(
        customer_name=customer, business_name=doc.business_name, kind_article=kind_article, kind_name=doc.kind,
        number=doc.number, title_part=title_part,
        rows="\n".join(f"- {name}: {amount}" for name, amount in doc.lines), total=total,
        link_part=f"\nView it online: {doc.link}\n" if doc.link else "",
    )
    # A subject is a header: no line breaks, whatever the business name holds.
    subject = " ".join(f"{doc.kind.capitalize()} {doc.number} from {doc.business_name}".split())[:200]
    return subject, html_body, text_body
