"""Factories and small helpers shared by the tests (imported as ``tests.helpers``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct-horse-battery"


@dataclass
class Account:
    token: str
    contractor: dict[str, Any]
    email: str
    password: str = PASSWORD

    @property
    def id(self) -> str:
        return str(self.contractor["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(client: httpx.AsyncClient, *, trade: str = "plumbing", business_name: str | None = None,
                   email: str | None = None) -> Account:
    email = email or f"c-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/api/auth/register", json={
        "email": email, "password": PASSWORD, "business_name": business_name or "Acme Plumbing",
        "trade": trade,
    })
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(token=body["access_token"], contractor=body["contractor"], email=email)


async def make_customer(client: httpx.AsyncClient, account: Account, name: str = "Dana Customer",
                        **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/customers", json={"name": name, **extra}, headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def make_quote(client: httpx.AsyncClient, account: Account,
                     description: str = "replace the kitchen faucet, new supply lines x2, haul away the old one",
                     **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/quotes/generate", json={"description": description, **extra},
                                 headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The SPEC error shape: detail sentence, snake_case code, request id equal to the header."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"detail", "code", "request_id"}, body
    assert isinstance(body["detail"], str) and body["detail"].strip()
    assert body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code, body
    return body  # type: ignore[no-any-return]
