"""The vendor clients of one process, built from settings in the app lifespan (or the worker).

Each client owns one ``httpx.AsyncClient`` (connection pooling, explicit
timeouts) for the life of the process; :meth:`Vendors.aclose` closes them on
shutdown. A vendor without its API key has no client: ``claude is None``
means the local estimator prices quotes, ``whisper is None`` means audio is
refused with a clear 503, and the email sender logs instead of sending.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.config import Settings
from backend.services.circuit_breaker import BreakerRegistry
from backend.services.claude_service import ClaudeClient
from backend.services.email_service import EmailSender, LoggingEmailSender, ResendClient
from backend.services.transcription_service import WhisperClient


@dataclass
class Vendors:
    breakers: BreakerRegistry
    claude: ClaudeClient | None
    whisper: WhisperClient | None
    email: EmailSender
    public_base_url: str

    @classmethod
    def from_settings(cls, settings: Settings, breakers: BreakerRegistry | None = None) -> Vendors:
        breakers = breakers or BreakerRegistry.from_settings(settings)
        scale = settings.retry_backoff_scale
        claude = None
        if settings.anthropic_api_key is not None:
            claude = ClaudeClient(api_key=settings.anthropic_api_key.get_secret_value(),
                                  base_url=settings.anthropic_base_url, model=settings.anthropic_model,
                                  breaker=breakers["claude"], backoff_scale=scale)
        whisper = None
        if settings.openai_api_key is not None:
            whisper = WhisperClient(api_key=settings.openai_api_key.get_secret_value(),
                                    base_url=settings.openai_base_url, breaker=breakers["openai"],
                                    backoff_scale=scale)
        email: EmailSender = LoggingEmailSender()
        if settings.resend_api_key is not None:
            email = ResendClient(api_key=settings.resend_api_key.get_secret_value(),
                                 base_url=settings.resend_base_url, sender=settings.email_from,
                                 breaker=breakers["resend"], backoff_scale=scale)
        return cls(breakers=breakers, claude=claude, whisper=whisper, email=email,
                   public_base_url=settings.public_base_url)

    async def aclose(self) -> None:
        for client in (self.claude, self.whisper):
            if client is not None:
                await client.aclose()
        await self.email.aclose()
