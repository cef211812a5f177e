"""INFRA-001: the storage interface, the same tests over local files and S3 (moto server mode).

Presigned URLs are fetched over HTTP: local links through the app's
``/files/{key}`` route, S3 links straight from the moto server.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backend.config import Settings, load_settings
from backend.services import storage_service
from backend.services.storage_service import (
    InvalidStorageKey,
    LocalStorage,
    Storage,
    StoredFileNotFound,
    contractor_key,
)
from tests.helpers import assert_error
from tests.support import s3 as s3_support
from tests.support.s3 import S3Bucket

JWT_SECRET = "storage-test-secret-" + "y" * 40
PDF_BYTES = b"%PDF-1.4\n" + os.urandom(2048) + b"\n%%EOF\n"

s3_server = s3_support.s3_server  # fixtures: the moto server and a fresh bucket per test
s3_bucket = s3_support.s3_bucket


@dataclass
class StorageUnderTest:
    backend: str
    storage: Storage
    fetch: Callable[[str], Any]  # url -> awaitable httpx.Response
    root: Path | None = None  # local backend only


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        # /files never touches the database; the app only needs a URL it could open.
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        "storage_path": str(tmp_path / "files"),
        "jwt_secret": JWT_SECRET,
        "rate_limit_enabled": False,
        "log_format": "json",
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(params=["local", "s3"])
async def under_test(request: pytest.FixtureRequest, tmp_path: Path,
                     make_client: Callable[..., Any]) -> AsyncIterator[StorageUnderTest]:
    if request.param == "local":
        client: httpx.AsyncClient = await make_client(_settings(tmp_path))
        storage = client.app.state.storage  # type: ignore[attr-defined]

        async def fetch_local(url: str) -> httpx.Response:
            parts = urlsplit(url)  # the app answers the path of the absolute PUBLIC_BASE_URL link
            return await client.get(f"{parts.path}?{parts.query}")

        yield StorageUnderTest("local", storage, fetch_local, root=Path(tmp_path / "files").resolve())
        return

    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    client = await make_client(_settings(tmp_path, **bucket.settings()))
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        yield StorageUnderTest("s3", client.app.state.storage, http.get)  # type: ignore[attr-defined]


def _key(name: str = "quote-1.pdf") -> str:
    return contractor_key(uuid.uuid4(), "pdfs", name)


# -- the interface ---------------------------------------------------------------------------


async def test_upload_download_and_delete(under_test: StorageUnderTest, tmp_path: Path) -> None:
    storage = under_test.storage
    key = _key()
    url = await storage.upload_bytes(PDF_BYTES, key, "application/pdf")
    assert url.startswith("http")
    assert await storage.exists(key) and await storage.size(key) == len(PDF_BYTES)
    assert await storage.download_bytes(key) == PDF_BYTES

    target = tmp_path / "out" / "copy.pdf"
    await storage.download_file(key, target)
    assert target.read_bytes() == PDF_BYTES

    # upload_file from a local path, replacing the object.
    source = tmp_path / "replacement.pdf"
    source.write_bytes(PDF_BYTES[::-1])
    await storage.upload_file(source, key)
    assert await storage.download_bytes(key) == PDF_BYTES[::-1]

    await storage.delete_file(key)
    assert not await storage.exists(key) and await storage.size(key) is None
    await storage.delete_file(key)  # deleting what is gone is not an error
    with pytest.raises(StoredFileNotFound):
        await storage.download_bytes(key)
    with pytest.raises(StoredFileNotFound):
        await storage.download_file(key, tmp_path / "never.pdf")


async def test_presigned_url_serves_the_bytes_over_http(under_test: StorageUnderTest) -> None:
    key = _key()
    await under_test.storage.upload_bytes(PDF_BYTES, key, "application/pdf")
    link = await under_test.storage.presign(key, expires=300)
    assert 290 <= link.expires_at.timestamp() - time.time() <= 310
    response = await under_test.fetch(link.url)
    assert response.status_code == 200, response.text
    assert response.content == PDF_BYTES
    assert response.headers["content-type"].startswith("application/pdf")
    # The interface's plain form gives a working link too.
    assert (await under_test.fetch(await under_test.storage.get_presigned_url(key))).content == PDF_BYTES


async def test_presigned_url_expires(under_test: StorageUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    key = _key()
    await under_test.storage.upload_bytes(PDF_BYTES, key, "application/pdf")
    url = await under_test.storage.get_presigned_url(key, expires=60)
    query = parse_qs(urlsplit(url).query)
    if under_test.backend == "s3":
        # moto does not enforce expiry; the signed SigV4 parameters are what AWS checks.
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query["X-Amz-Expires"] == ["60"]
        assert "Signature" not in query  # no SigV2 form
        return
    assert int(query["expires"][0]) - time.time() <= 60
    assert (await under_test.fetch(url)).status_code == 200
    real_time = time.time
    monkeypatch.setattr(storage_service.time, "time", lambda: real_time() + 61)
    assert_error(await under_test.fetch(url), 403, "forbidden")


async def test_expiry_is_bounded(under_test: StorageUnderTest) -> None:
    for expires in (0, -5, storage_service.MAX_EXPIRES + 1):
        with pytest.raises(ValueError):
            await under_test.storage.get_presigned_url(_key(), expires=expires)


async def test_tampered_signature_is_refused(under_test: StorageUnderTest) -> None:
    if under_test.backend == "s3":
        pytest.skip("moto does not verify SigV4 signatures (AWS does); the local backend's own check is tested here")
    key, other = _key(), _key()
    for name in (key, other):
        await under_test.storage.upload_bytes(PDF_BYTES, name, "application/pdf")
    url = await under_test.storage.get_presigned_url(key)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    signature, expires = query["signature"][0], query["expires"][0]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    tampered = [
        f"{parts.path}?expires={expires}&signature={flipped}",  # one character changed
        f"{parts.path}?expires={int(expires) + 3600}&signature={signature}",  # a later expiry
        f"/files/{other}?expires={expires}&signature={signature}",  # another key, same signature
        f"{parts.path}?expires={expires}",  # no signature
        f"{parts.path}",  # nothing
        f"{parts.path}?expires={expires}&signature={signature.upper()}",
        f"{parts.path}?expires=%C2%B2&signature={signature}",  # a unicode digit
        f"{parts.path}?expires={expires}&signature=%C3%A9{signature[1:]}",  # non-ASCII signature
    ]
    for link in tampered:
        body = assert_error(await under_test.fetch("http://testserver" + link), 403, "forbidden")
        assert "invalid or has expired" in body["detail"]
    assert (await under_test.fetch(url)).status_code == 200


async def test_keys_outside_the_root_are_refused(under_test: StorageUnderTest, tmp_path: Path) -> None:
    storage = under_test.storage
    bad_keys = ["../escape.pdf", "contractors/../../escape.pdf", "/etc/passwd", "a//b.pdf", "./a.pdf",
                "a/./b.pdf", "a\\..\\b.pdf", "", "contractors/x/.hidden", "a/b/", "a\x00b", "ä.pdf"]
    for key in bad_keys:
        with pytest.raises(InvalidStorageKey):
            await storage.upload_bytes(b"x", key, "application/pdf")
        with pytest.raises(InvalidStorageKey):
            await storage.get_presigned_url(key)
        with pytest.raises(InvalidStorageKey):
            await storage.delete_file(key)
    with pytest.raises(InvalidStorageKey):
        contractor_key(uuid.uuid4(), "pdfs", "../../other/logo.png")
    assert not (tmp_path / "escape.pdf").exists()

    if under_test.root is not None:
        # A symlink planted inside the root cannot lead out of it either.
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text("secret")
        under_test.root.mkdir(parents=True, exist_ok=True)
        (under_test.root / "link").symlink_to(outside)
        with pytest.raises(InvalidStorageKey):
            await storage.download_bytes("link/secret.txt")
        # And over HTTP, an encoded ../ is a 403 (the signature cannot match a key we never signed).
        response = await under_test.fetch("http://testserver/files/%2E%2E/%2E%2E/etc/passwd?expires=9999999999"
                                          "&signature=" + "0" * 64)
        assert response.status_code in (403, 404)
        assert b"root:" not in response.content


async def test_missing_object_behind_a_valid_link_is_404(under_test: StorageUnderTest) -> None:
    if under_test.backend == "s3":
        pytest.skip("S3 answers for its own links; only the app's /files route is ours")
    url = await under_test.storage.get_presigned_url(_key("never-uploaded.pdf"))
    assert_error(await under_test.fetch(url), 404, "not_found")


# -- local links: the key and its rotation -----------------------------------------------------


def test_local_links_use_a_key_derived_from_jwt_secret_with_its_own_label(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, public_base_url="http://x", signing_secrets=[JWT_SECRET])
    key, expires = _key(), int(time.time()) + 60
    signature = storage.sign(key, expires)
    naive = hmac.new(JWT_SECRET.encode(), f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()
    assert signature != naive  # the JWT secret itself never signs file links
    assert storage.verify(key, str(expires), signature) == (tmp_path / key).resolve()


def test_links_signed_before_a_secret_rotation_stay_valid_until_they_expire(tmp_path: Path) -> None:
    old = LocalStorage(tmp_path, public_base_url="http://x", signing_secrets=["old-secret-" + "z" * 40])
    key, expires = _key(), int(time.time()) + 60
    signature = old.sign(key, expires)
    rotated = LocalStorage(tmp_path, public_base_url="http://x",
                           signing_secrets=[JWT_SECRET, "old-secret-" + "z" * 40])
    rotated.verify(key, str(expires), signature)
    unrelated = LocalStorage(tmp_path, public_base_url="http://x", signing_secrets=[JWT_SECRET])
    with pytest.raises(storage_service.InvalidFileLink):
        unrelated.verify(key, str(expires), signature)


def test_s3_storage_requires_a_bucket(tmp_path: Path) -> None:
    from backend.config import ConfigError

    with pytest.raises(ConfigError, match="AWS_S3_BUCKET"):
        storage_service.create_storage(_settings(tmp_path, storage_backend="s3"))


async def test_unreachable_s3_is_a_quick_503(tmp_path: Path) -> None:
    """A closed port: the call fails fast with our 503 error, not a hang or a boto exception."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends
    storage = storage_service.create_storage(_settings(
        tmp_path, storage_backend="s3", aws_s3_bucket="nowhere", aws_access_key_id="a", aws_secret_access_key="b",
        s3_endpoint_url=f"http://127.0.0.1:{port}",
    ))
    started = time.monotonic()
    with pytest.raises(storage_service.StorageUnavailable):
        await storage.upload_bytes(b"x", _key(), "application/pdf")
    assert time.monotonic() - started < 10
