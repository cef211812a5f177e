"""Audio: what an upload is (by its bytes) and its transcript (OpenAI Whisper).

This is the only module that knows OpenAI's URL, headers and errors. The
transcription call runs under the INFRA-006 retry policy inside the
``openai`` breaker, with explicit timeouts on one ``httpx.AsyncClient`` per app.

An upload's type is decided by its container signature, never by its file
name or declared content type: WebM (EBML), Ogg, MP3 (ID3 tag or an MPEG
frame sync), M4A (an MP4 ``ftyp`` box) and WAV (RIFF/WAVE).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx

from backend.core.errors import RequestValidationFailed
from backend.core.logging import get_logger
from backend.services.circuit_breaker import VendorBreaker
from backend.services.retry import VendorBadResponse, error_for_status, error_for_transport, with_retries

log = get_logger(__name__)

VENDOR = "openai"
TRANSCRIPTIONS_PATH = "/audio/transcriptions"  # under OPENAI_BASE_URL, which ends in /v1
WHISPER_MODEL = "whisper-1"
MAX_AUDIO_BYTES = 25 * 1024 * 1024  # Whisper's own limit
# Uploading 25 MB and transcribing it takes a while; connecting does not.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=120.0, write=60.0, pool=5.0)


@dataclass(frozen=True)
class AudioFormat:
    content_type: str
    extension: str


WEBM = AudioFormat("audio/webm", "webm")
OGG = AudioFormat("audio/ogg", "ogg")
MP3 = AudioFormat("audio/mpeg", "mp3")
M4A = AudioFormat("audio/mp4", "m4a")
WAV = AudioFormat("audio/wav", "wav")


def sniff_audio(head: bytes) -> AudioFormat | None:
    """The audio container of ``head`` (the first bytes of the upload), else None."""
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: WebM (and Matroska, which Whisper reads as webm)
        return WEBM
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return MP3
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return M4A
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return WAV
    return None


class NothingToTranscribe(RequestValidationFailed):
    message = "We could not hear a job description in the recording; record it again or type the job instead."


class WhisperClient:
    """Speech to text through OpenAI's transcription endpoint."""

    vendor = VENDOR

    def __init__(self, *, api_key: str, base_url: str, breaker: VendorBreaker, backoff_scale: float,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self.breaker = breaker
        self.backoff_scale = backoff_scale
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                       headers={"authorization": f"Bearer {api_key}"})

    async def transcribe(self, data: bytes, audio: AudioFormat) -> str:
        """The transcript; NothingToTranscribe for silence, VendorUnavailable/VendorError when down."""

        async def attempt() -> str:
            started = time.perf_counter()
            try:
                response = await self._http.post(
                    TRANSCRIPTIONS_PATH,
                    files={"file": (f"recording.{audio.extension}", data, audio.content_type)},
                    data={"model": WHISPER_MODEL, "response_format": "json"},
                )
            except httpx.TransportError as error:
                raise error_for_transport(VENDOR, error) from None
            if response.status_code >= 400:
                raise error_for_status(VENDOR, response, message=_error_message(response))
            try:
                text = response.json().get("text")
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                raise VendorBadResponse(VENDOR, "the answer is not JSON", status=response.status_code) from None
            if not isinstance(text, str):
                raise VendorBadResponse(VENDOR, "the answer has no text", status=response.status_code)
            log.info("openai.transcribed", chars=len(text), bytes=len(data),
                     ms=round((time.perf_counter() - started) * 1000))
            return text

        text = await self.breaker.guard(lambda: with_retries(VENDOR, attempt, scale=self.backoff_scale))
        text = text.strip()
        if not text:
            raise NothingToTranscribe()
        return text

    async def aclose(self) -> None:
        await self._http.aclose()


def _error_message(response: httpx.Response) -> str:
    try:
        kind = (response.json().get("error") or {}).get("type")
    except (ValueError, AttributeError):
        kind = None
    return f"HTTP {response.status_code} {kind or ''}".strip()
