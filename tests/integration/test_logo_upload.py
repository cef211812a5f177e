"""The contractor's logo: PNG/JPEG by content, 2 MB limit, link, delete, and keys that stay
in the contractor's own namespace."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import httpx
from PIL import Image

from tests.helpers import assert_error, register

LOGO = "/api/contractors/me/logo"


def png_bytes(size: tuple[int, int] = (64, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), (200, 120, 10)).save(buffer, "JPEG")
    return buffer.getvalue()


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    parts = urlsplit(url)
    return await client.get(f"{parts.path}?{parts.query}")


async def test_png_and_jpeg_are_accepted_and_served(client: httpx.AsyncClient) -> None:
    account = await register(client)
    png = png_bytes()
    created = await client.post(LOGO, headers=account.headers, files={"file": ("logo.png", png, "image/png")})
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"url", "expires_at"}
    png_url = created.json()["url"]
    assert urlsplit(png_url).path.startswith(f"/files/contractors/{account.id}/logos/")
    served = await fetch(client, png_url)
    assert served.status_code == 200 and served.content == png
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"

    got = await client.get(LOGO, headers=account.headers)
    assert got.status_code == 200 and (await fetch(client, got.json()["url"])).content == png

    # A JPEG replaces it, whatever the declared name and type say.
    jpeg = jpeg_bytes()
    replaced = await client.post(LOGO, headers=account.headers,
                                 files={"file": ("logo.bin", jpeg, "application/octet-stream")})
    assert replaced.status_code == 201, replaced.text
    served = await fetch(client, replaced.json()["url"])
    assert served.content == jpeg and served.headers["content-type"] == "image/jpeg"
    assert (await fetch(client, png_url)).status_code == 404  # the old file is gone


async def test_a_minimal_header_is_enough_to_be_recognised(client: httpx.AsyncClient) -> None:
    account = await register(client)
    for data in (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, b"\xff\xd8\xff\xe0" + b"\x00" * 32):
        response = await client.post(LOGO, headers=account.headers, files={"file": ("x", data, "text/plain")})
        assert response.status_code == 201, response.text


async def test_an_upload_over_2_mb_is_413(client: httpx.AsyncClient) -> None:
    account = await register(client)
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (3 * 1024 * 1024)
    response = await client.post(LOGO, headers=account.headers, files={"file": ("big.png", big, "image/png")})
    body = assert_error(response, 413, "body_too_large")
    assert "2 MB" in body["detail"]
    assert_error(await client.get(LOGO, headers=account.headers), 404, "not_found")


async def test_a_text_file_named_png_is_415(client: httpx.AsyncClient) -> None:
    account = await register(client)
    for name, data, declared in (
        ("logo.png", b"<html><script>alert(1)</script></html>", "image/png"),
        ("logo.jpg", b"GIF89a" + b"\x00" * 20, "image/jpeg"),
        ("logo.png", b"", "image/png"),
    ):
        response = await client.post(LOGO, headers=account.headers, files={"file": (name, data, declared)})
        body = assert_error(response, 415, "unsupported_media_type")
        assert "PNG or JPEG" in body["detail"]


async def test_a_missing_file_field_is_422(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.post(LOGO, headers=account.headers, files={"other": ("a.png", png_bytes(), "image/png")})
    assert_error(response, 422, "validation_error")


async def test_get_and_delete(client: httpx.AsyncClient) -> None:
    account = await register(client)
    body = assert_error(await client.get(LOGO, headers=account.headers), 404, "not_found")
    assert "logo" in body["detail"]
    url = (await client.post(LOGO, headers=account.headers,
                             files={"file": ("l.png", png_bytes(), "image/png")})).json()["url"]
    assert (await client.delete(LOGO, headers=account.headers)).status_code == 204
    assert_error(await client.get(LOGO, headers=account.headers), 404, "not_found")
    assert (await fetch(client, url)).status_code == 404
    assert (await client.delete(LOGO, headers=account.headers)).status_code == 204  # idempotent
    assert (await client.get(LOGO)).status_code == 401


async def test_a_second_contractor_cannot_reach_the_first_ones_logo(client: httpx.AsyncClient) -> None:
    owner, intruder = await register(client), await register(client)
    owner_url = (await client.post(LOGO, headers=owner.headers,
                                   files={"file": ("l.png", png_bytes(), "image/png")})).json()["url"]
    # The intruder's own requests only ever see the intruder's namespace.
    assert_error(await client.get(LOGO, headers=intruder.headers), 404, "not_found")
    intruder_url = (await client.post(LOGO, headers=intruder.headers,
                                      files={"file": ("l.png", png_bytes((8, 8)), "image/png")})).json()["url"]
    assert urlsplit(intruder_url).path.startswith(f"/files/contractors/{intruder.id}/logos/")
    assert owner.id not in intruder_url
    # Deleting their own logo leaves the owner's in place.
    assert (await client.delete(LOGO, headers=intruder.headers)).status_code == 204
    assert (await fetch(client, owner_url)).status_code == 200

    # A signature made for one key does not open another, and no signature opens nothing.
    owner_path = urlsplit(owner_url).path
    intruder_query = urlsplit(intruder_url).query
    assert_error(await client.get(f"{owner_path}?{intruder_query}"), 403, "forbidden")
    assert_error(await client.get(owner_path), 403, "forbidden")
    expires = parse_qs(urlsplit(owner_url).query)["expires"][0]
    assert_error(await client.get(f"{owner_path}?expires={int(expires) + 86400}&"
                                  f"signature={parse_qs(urlsplit(owner_url).query)['signature'][0]}"), 403)
