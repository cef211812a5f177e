"""Quotes from a recording: stored before transcription, kept through a Whisper outage, checked by its bytes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.anthropic import VALID_SUBTOTAL, FakeAnthropic
from tests.fakes.openai import TRANSCRIPT, FakeOpenAI
from tests.fakes.server import Reply
from tests.helpers import assert_error, register
from tests.support.vendor_helpers import vendor_settings, wait_quote

pytestmark = pytest.mark.slow

WEBM = b"\x1a\x45\xdf\xa3" + b"\x9f\x42\x86\x81\x01" + b"\x00" * 4096
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt " + b"\x00" * 2048
M4A = b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 2048


def _audio_files(root: Path, contractor_id: str) -> list[Path]:
    folder = root / "contractors" / contractor_id / "audio"
    return sorted(folder.glob("*")) if folder.is_dir() else []


async def test_recording_becomes_a_quote_with_the_transcript(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_claude: FakeAnthropic,
        fake_openai: FakeOpenAI) -> None:
    settings = vendor_settings(make_settings, claude=fake_claude, whisper=fake_openai)
    client = await make_client(settings)
    account = await register(client)
    customer = (await client.post("/api/customers", json={"name": "Ana"}, headers=account.headers)).json()
    response = await client.post("/api/quotes/generate-from-audio", headers=account.headers,
                                 files={"audio": ("voice.bin", WAV, "application/octet-stream")},
                                 data={"customer_id": customer["id"]})
    assert response.status_code == 201, response.text
    quote = response.json()
    assert quote["description"] == TRANSCRIPT and quote["generated_by"] == "claude"
    assert quote["customer_id"] == customer["id"] and quote["subtotal"] == VALID_SUBTOTAL
    (call,) = fake_openai.transcription_calls()
    assert call.form is not None and call.form["model"] == "whisper-1" and call.form["head"] == WAV[:16]
    assert call.form["content_type"] == "audio/wav"
    assert TRANSCRIPT in fake_claude.message_calls()[0].json["messages"][0]["content"]
    assert len(_audio_files(Path(settings.storage_path), account.id)) == 1


async def test_whisper_down_keeps_the_audio_and_finishes_later(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_claude: FakeAnthropic,
        fake_openai: FakeOpenAI) -> None:
    settings = vendor_settings(make_settings, claude=fake_claude, whisper=fake_openai, outbox_backoff_seconds=0.3)
    client = await make_client(settings)
    account = await register(client)
    fake_openai.always(Reply.error(503))
    response = await client.post("/api/quotes/generate-from-audio", headers=account.headers,
                                 files={"audio": ("memo.webm", WEBM, "audio/webm")})
    assert response.status_code == 202, response.text
    quote = response.json()
    assert quote["status"] == "processing" and quote["description"] == ""
    assert re.search(r"\b503\b", response.text) is None  # as a word: a timestamp's digits may hold "503"
    assert fake_claude.message_calls() == []
    stored = _audio_files(Path(settings.storage_path), account.id)
    assert len(stored) == 1 and stored[0].read_bytes() == WEBM  # kept before transcription was even tried

    fake_openai.always(Reply.ok())
    done = await wait_quote(client, account, quote["id"], "draft")
    assert done["description"] == TRANSCRIPT
    assert done["subtotal"] == VALID_SUBTOTAL and len(done["line_items"]) == 2
    assert fake_openai.transcription_calls()[-1].form["head"] == WEBM[:16]  # type: ignore[index]


async def test_claude_down_after_transcription_keeps_the_transcript(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_claude: FakeAnthropic,
        fake_openai: FakeOpenAI) -> None:
    settings = vendor_settings(make_settings, claude=fake_claude, whisper=fake_openai, outbox_backoff_seconds=0.3)
    client = await make_client(settings)
    account = await register(client)
    fake_claude.always(Reply.error(529))
    response = await client.post("/api/quotes/generate-from-audio", headers=account.headers,
                                 files={"audio": ("memo.m4a", M4A, "audio/mp4")})
    assert response.status_code == 202, response.text
    assert response.json()["description"] == TRANSCRIPT
    fake_claude.always(Reply.ok())
    await wait_quote(client, account, response.json()["id"], "draft")
    assert len(fake_openai.transcription_calls()) == 1  # not transcribed twice


async def test_without_an_openai_key_audio_is_503_with_a_sentence(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.post("/api/quotes/generate-from-audio", headers=account.headers,
                                 files={"audio": ("memo.webm", WEBM, "audio/webm")})
    body = assert_error(response, 503, "service_unavailable")
    assert "not configured" in body["detail"] and response.headers.get("retry-after")


async def test_audio_type_is_read_from_the_bytes(make_client: Callable[..., Any], make_settings: Callable[..., Any],
                                                 fake_openai: FakeOpenAI) -> None:
    client = await make_client(vendor_settings(make_settings, whisper=fake_openai))
    account = await register(client)
    fake = b"<html><script>alert(1)</script></html>"
    response = await client.post("/api/quotes/generate-from-audio", headers=account.headers,
                                 files={"audio": ("memo.webm", fake, "audio/webm")})
    assert_error(response, 415, "unsupported_media_type")
    assert fake_openai.transcription_calls() == []


async def test_audio_over_25_mb_is_413(make_client: Callable[..., Any], make_settings: Callable[..., Any],
                                       fake_openai: FakeOpenAI) -> None:
    client = await make_client(vendor_settings(make_settings, whisper=fake_openai))
    account = await register(client)
    big = WEBM + b"\x00" * (25 * 1024 * 1024)
    response = await client.post("/api/quotes/generate-from-audio", headers=account.headers,
                                 files={"audio": ("memo.webm", big, "audio/webm")})
    assert response.status_code == 413, response.text
    assert fake_openai.transcription_calls() == []
