"""Persistent file storage (INFRA-001): one interface, two implementations.

``STORAGE_BACKEND=s3`` stores objects in an S3 bucket (AWS, or any
S3-compatible server through ``S3_ENDPOINT_URL``); ``local`` (the embedded
default) stores them under ``STORAGE_PATH``. Callers never know which:

    url = await storage.upload_bytes(data, key, "application/pdf")
    url = await storage.get_presigned_url(key, expires=3600)

Keys are relative, ``/``-separated paths of safe characters; everything the
app stores is namespaced by contractor (``contractors/{id}/pdfs/…``) and the
keys are built only from the authenticated contractor (``contractor_key``),
so no request can name another contractor's object.

Presigned URLs: S3 signs them with SigV4 (boto3 would use SigV2 unless told);
the local backend signs ``/files/{key}?expires=…&signature=…`` links with
HMAC-SHA256 under a key derived from ``JWT_SECRET`` with its own label, which
the app verifies in constant time before serving the file.

This is the only module that imports boto3. Every boto3 call blocks, so each
runs in a worker thread, with short timeouts and no long retry loops: a dead
storage endpoint costs a request seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from backend.config import ConfigError, Settings
from backend.core.errors import Forbidden, NotFound, ServiceUnavailable
from backend.core.logging import get_logger

log = get_logger(__name__)

DEFAULT_EXPIRES = 3600
MAX_EXPIRES = 7 * 24 * 3600  # SigV4's own ceiling; local links follow the same rule
MAX_KEY_LENGTH = 500  # fits Contractor.logo_key / *.pdf_key

# Each segment: letters, digits, dot, dash, underscore; no empty, "." or ".." segments.
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_EXPIRES_RE = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")

# Distinct label: a signature for a file link can never double as any other HMAC made from JWT_SECRET.
_URL_SIGNING_LABEL = b"quoted/storage/local-file-url/v1"

# Served content types, by extension; anything else is served as an opaque download.
_SERVED_TYPES = {
    ".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".webm": "audio/webm", ".ogg": "audio/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".wav": "audio/wav",
}

# Short timeouts and at most one retry: callers answer 503 rather than hang.
S3_CONNECT_TIMEOUT = 3.0
S3_READ_TIMEOUT = 15.0
S3_MAX_ATTEMPTS = 2

ObjectKind = Literal["pdfs", "logos", "audio"]


class InvalidStorageKey(ValueError):
    """A key that is absolute, contains ``..`` or unsafe characters: refused, never resolved."""


class StorageUnavailable(ServiceUnavailable):
    message = "File storage is unavailable right now; try again in a few seconds."


class StoredFileNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("file")


class InvalidFileLink(Forbidden):
    message = "This file link is invalid or has expired; ask for a new one."


@dataclass(frozen=True)
class PresignedUrl:
    url: str
    expires_at: datetime


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object key, else raise InvalidStorageKey."""
    if not key or len(key) > MAX_KEY_LENGTH or key.startswith("/") or "\\" in key:
        raise InvalidStorageKey(f"not a relative storage key: {key!r}")
    for segment in key.split("/"):
        if not _SEGMENT_RE.match(segment) or segment in (".", ".."):
            raise InvalidStorageKey(f"unsafe segment in storage key: {key!r}")
    return key


def contractor_key(contractor_id: uuid.UUID, kind: ObjectKind, filename: str) -> str:
    """``contractors/{id}/{kind}/{filename}``: the only shape of key the app writes."""
    return validate_key(f"contractors/{contractor_id}/{kind}/{filename}")


def contractor_prefix(contractor_id: uuid.UUID) -> str:
    return f"contractors/{contractor_id}/"


def content_type_for(key: str) -> str:
    return _SERVED_TYPES.get(Path(key).suffix.lower(), "application/octet-stream")


def _check_expires(expires: int) -> int:
    if not 1 <= expires <= MAX_EXPIRES:
        raise ValueError(f"expires must be between 1 and {MAX_EXPIRES} seconds")
    return expires


class Storage(ABC):
    """The storage interface every caller uses (PDFs, logos, stored audio)."""

    backend: str

    @abstractmethod
    async def upload_bytes(self, data: bytes, key: str, content_type: str) -> str:
        """Store ``data`` under ``key`` (replacing it) and return a presigned URL for it."""

    @abstractmethod
    async def upload_file(self, local_path: str | Path, key: str) -> str:
        """Copy a local file to ``key`` and return a presigned URL for it."""

    @abstractmethod
    async def download_file(self, key: str, local_path: str | Path) -> None:
        """Copy the object to a local file; StoredFileNotFound if there is none."""

    @abstractmethod
    async def download_bytes(self, key: str) -> bytes:
        """The object's bytes; StoredFileNotFound if there is none. For small objects (logos)."""

    @abstractmethod
    async def delete_file(self, key: str) -> None:
        """Remove the object; deleting a missing object is not an error."""

    @abstractmethod
    async def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when it does not exist."""

    @abstractmethod
    async def presign(self, key: str, expires: int = DEFAULT_EXPIRES) -> PresignedUrl:
        """A time-limited GET link to the object, with its expiry time."""

    async def get_presigned_url(self, key: str, expires: int = DEFAULT_EXPIRES) -> str:
        """A time-limited GET link to the object."""
        return (await self.presign(key, expires)).url

    async def exists(self, key: str) -> bool:
        return await self.size(key) is not None

    @abstractmethod
    async def check(self) -> None:
        """Raise StorageUnavailable when the backend cannot be reached (readiness)."""


# -- local files ----------------------------------------------------------------------


def derive_url_signing_key(secret: str) -> bytes:
    """The HMAC key for local file links, derived from a JWT secret under its own label."""
    return hmac.new(secret.encode(), _URL_SIGNING_LABEL, hashlib.sha256).digest()


class LocalStorage(Storage):
    """Files under a root directory; presigned URLs are HMAC-signed links to ``/files/{key}``."""

    backend = "local"

    def __init__(self, root: str | Path, *, public_base_url: str, signing_secrets: list[str]) -> None:
        self.root = Path(root).resolve()
        self.public_base_url = public_base_url.rstrip("/")
        # First key signs; all verify, so links made before a JWT_SECRET rotation stay valid until they expire.
        self._keys = [derive_url_signing_key(secret) for secret in signing_secrets]

    # The path of a key, guaranteed inside the root (a symlink cannot lead out either).
    def path_for(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidStorageKey(f"storage key leaves the storage root: {key!r}")
        return path

    def _write(self, data: bytes, key: str) -> None:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, and a crash leaves no torn object.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _copy_in(self, local_path: Path, key: str) -> None:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out, local_path.open("rb") as src:
                while chunk := src.read(1024 * 1024):
                    out.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _read(self, key: str) -> bytes:
        try:
            return self.path_for(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise StoredFileNotFound() from None

    def _copy_out(self, key: str, local_path: Path) -> None:
        source = self.path_for(key)
        if not source.is_file():
            raise StoredFileNotFound()
        local_path.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as src, local_path.open("wb") as out:
            while chunk := src.read(1024 * 1024):
                out.write(chunk)

    def _size(self, key: str) -> int | None:
        path = self.path_for(key)
        return path.stat().st_size if path.is_file() else None

    async def upload_bytes(self, data: bytes, key: str, content_type: str) -> str:
        await asyncio.to_thread(self._write, data, key)
        return await self.get_presigned_url(key)

    async def upload_file(self, local_path: str | Path, key: str) -> str:
        await asyncio.to_thread(self._copy_in, Path(local_path), key)
        return await self.get_presigned_url(key)

    async def download_file(self, key: str, local_path: str | Path) -> None:
        await asyncio.to_thread(self._copy_out, key, Path(local_path))

    async def download_bytes(self, key: str) -> bytes:
        return await asyncio.to_thread(self._read, key)

    def _delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    async def delete_file(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def size(self, key: str) -> int | None:
        return await asyncio.to_thread(self._size, key)

    def sign(self, key: str, expires_at: int) -> str:
        message = f"{validate_key(key)}\n{expires_at}".encode()
        return hmac.new(self._keys[0], message, hashlib.sha256).hexdigest()

    async def presign(self, key: str, expires: int = DEFAULT_EXPIRES) -> PresignedUrl:
        expires_at = int(time.time()) + _check_expires(expires)
        signature = self.sign(key, expires_at)
        url = f"{self.public_base_url}/files/{quote(key)}?expires={expires_at}&signature={signature}"
        return PresignedUrl(url=url, expires_at=datetime.fromtimestamp(expires_at, UTC))

    def verify(self, key: str, expires: str | None, signature: str | None) -> Path:
        """The file behind a signed link, or InvalidFileLink (403) for a bad, tampered or expired one.

        The signature is checked before the key is even resolved, and compared
        in constant time; a link naming a key outside the root is refused the same way.
        """
        if not expires or not _EXPIRES_RE.match(expires) or not signature or not _SIGNATURE_RE.match(signature):
            raise InvalidFileLink()
        try:
            message = f"{validate_key(key)}\n{expires}".encode()
        except InvalidStorageKey:
            raise InvalidFileLink() from None
        valid = False
        for signing_key in self._keys:
            expected = hmac.new(signing_key, message, hashlib.sha256).hexdigest()
            # Evaluate every candidate: the time taken does not depend on which key matched.
            valid |= hmac.compare_digest(expected, signature)
        if not valid or int(expires) < time.time():
            raise InvalidFileLink()
        return self.path_for(key)

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise OSError("storage root is not writable")

        try:
            await asyncio.to_thread(probe)
        except OSError:
            raise StorageUnavailable() from None


# -- S3 ------------------------------------------------------------------------------


class S3Storage(Storage):
    """An S3 bucket through boto3 (SigV4), every call in a worker thread."""

    backend = "s3"

    def __init__(self, *, bucket: str, region: str, endpoint_url: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None) -> None:
        self.bucket = bucket
        config = Config(
            signature_version="s3v4",
            region_name=region,
            connect_timeout=S3_CONNECT_TIMEOUT,
            read_timeout=S3_READ_TIMEOUT,
            retries={"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
            # MinIO, R2 and local test servers want path-style addressing.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        kwargs: dict[str, Any] = {"config": config, "region_name": region}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        if access_key_id and secret_access_key:
            kwargs["aws_access_key_id"] = access_key_id
            kwargs["aws_secret_access_key"] = secret_access_key
        # boto3 clients are thread-safe, so one client serves every worker thread.
        self.client = boto3.session.Session().client("s3", **kwargs)

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self.client, operation), Bucket=self.bucket, **kwargs)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise StoredFileNotFound() from None
            log.warning("storage.s3_error", operation=operation, code=code)
            raise StorageUnavailable() from None
        except BotoCoreError as error:
            log.warning("storage.s3_unreachable", operation=operation, error_type=type(error).__name__)
            raise StorageUnavailable() from None

    async def upload_bytes(self, data: bytes, key: str, content_type: str) -> str:
        await self._call("put_object", Key=validate_key(key), Body=data, ContentType=content_type)
        return await self.get_presigned_url(key)

    async def upload_file(self, local_path: str | Path, key: str) -> str:
        validate_key(key)
        try:
            await asyncio.to_thread(self.client.upload_file, str(local_path), self.bucket, key,
                                    ExtraArgs={"ContentType": content_type_for(key)})
        except (ClientError, BotoCoreError, S3UploadFailedError) as error:
            log.warning("storage.s3_upload_failed", error_type=type(error).__name__)
            raise StorageUnavailable() from None
        return await self.get_presigned_url(key)

    async def download_file(self, key: str, local_path: str | Path) -> None:
        data = await self.download_bytes(key)
        path = Path(local_path)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, data)

    async def download_bytes(self, key: str) -> bytes:
        response = await self._call("get_object", Key=validate_key(key))
        return await asyncio.to_thread(response["Body"].read)  # type: ignore[no-any-return]

    async def delete_file(self, key: str) -> None:
        await self._call("delete_object", Key=validate_key(key))

    async def size(self, key: str) -> int | None:
        try:
            head = await self._call("head_object", Key=validate_key(key))
        except StoredFileNotFound:
            return None
        return int(head["ContentLength"])

    async def presign(self, key: str, expires: int = DEFAULT_EXPIRES) -> PresignedUrl:
        validate_key(key)
        _check_expires(expires)
        expires_at = datetime.fromtimestamp(int(time.time()) + expires, UTC)
        try:
            # No network call, but resolving credentials may read files or the instance metadata.
            url = await asyncio.to_thread(
                self.client.generate_presigned_url, "get_object",
                Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires,
            )
        except BotoCoreError as error:
            log.warning("storage.s3_presign_failed", error_type=type(error).__name__)
            raise StorageUnavailable() from None
        return PresignedUrl(url=str(url), expires_at=expires_at)

    async def check(self) -> None:
        await self._call("head_bucket")


async def open_signed_file(storage: Storage, *, key: str, expires: str | None, signature: str | None) -> Path:
    """The local file behind a signed ``/files/`` link: 403 for a bad or expired link,
    404 when the file is gone (or the app stores files in S3, whose links go there)."""
    if not isinstance(storage, LocalStorage):
        raise StoredFileNotFound()
    path = storage.verify(key, expires, signature)
    if not await asyncio.to_thread(path.is_file):
        raise StoredFileNotFound()
    return path


def create_s3_storage(settings: Settings) -> S3Storage:
    """The S3 backend from settings, whatever STORAGE_BACKEND says (the migration script uses it)."""
    if not settings.aws_s3_bucket:
        raise ConfigError("invalid configuration: AWS_S3_BUCKET: must name the bucket for S3 storage")
    return S3Storage(
        bucket=settings.aws_s3_bucket,
        region=settings.aws_region,
        endpoint_url=settings.s3_endpoint_url or None,
        access_key_id=settings.aws_access_key_id.get_secret_value() if settings.aws_access_key_id else None,
        secret_access_key=(settings.aws_secret_access_key.get_secret_value()
                           if settings.aws_secret_access_key else None),
    )


def create_storage(settings: Settings) -> Storage:
    """The storage backend STORAGE_BACKEND names, configured from settings."""
    if settings.storage_backend == "s3":
        return create_s3_storage(settings)
    return LocalStorage(settings.storage_path, public_base_url=settings.public_base_url,
                        signing_secrets=settings.jwt_verification_keys)
