"""A local S3 endpoint for tests: moto's server mode on 127.0.0.1, on a free port.

One server per test session (it starts in about a second); each test gets its
own bucket, so tests never see each other's objects:

    def test_x(s3_bucket: S3Bucket) -> None:
        settings = make_settings(**s3_bucket.settings())

Register the fixtures in a test module under their own names:

    from tests.support import s3 as s3_support
    s3_server = s3_support.s3_server
    s3_bucket = s3_support.s3_bucket
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

ACCESS_KEY = "testing"
SECRET_KEY = "testing-secret"  # moto accepts any pair
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Bucket:
    endpoint_url: str
    name: str

    def settings(self) -> dict[str, Any]:
        """Settings overrides that point the app's S3 backend at this bucket."""
        return {
            "storage_backend": "s3",
            "aws_s3_bucket": self.name,
            "aws_region": REGION,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "s3_endpoint_url": self.endpoint_url,
        }

    def env(self) -> dict[str, str]:
        """The same, as environment variables (for subprocesses)."""
        return {key.upper(): str(value) for key, value in self.settings().items()}

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def keys(self) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server on 127.0.0.1 (a free port), for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: str) -> S3Bucket:
    """A fresh, empty bucket on the session's moto server."""
    bucket = S3Bucket(endpoint_url=s3_server, name=f"quoted-test-{uuid.uuid4().hex[:12]}")
    bucket.client().create_bucket(Bucket=bucket.name)
    return bucket
