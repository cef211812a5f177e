"""/openapi.json documents the bearer scheme on exactly the routes that require a token.

Authentication reads the Authorization header itself (no per-request ``HTTPBearer``
dependency, bench/results/load_profile.md); backend/api/openapi.py adds the security
requirement the dependency used to produce. Checked against the app's own allow-list of
public routes (SEC-002) and against requests without a token.
"""

from __future__ import annotations

import httpx
import pytest

from backend.api.deps import bearer_token
from backend.main import PUBLIC_PREFIXES, PUBLIC_ROUTES
from tests.helpers import register

METHODS = {"get", "post", "put", "patch", "delete"}


async def test_every_operation_outside_the_public_list_requires_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"] == {"HTTPBearer": {
        "type": "http", "scheme": "bearer", "description": "Access token from /api/auth/login or /register."}}
    secured = public = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            is_public = (method.upper(), path) in PUBLIC_ROUTES or path.startswith(PUBLIC_PREFIXES)
            if is_public:
                public += 1
                assert "security" not in operation, f"{method.upper()} {path} is public but documents a token"
            else:
                secured += 1
                assert operation.get("security") == [{"HTTPBearer": []}], f"{method.upper()} {path}"
    assert secured >= 45 and public >= 5  # the whole API, not an empty walk


async def test_the_schema_is_built_once_and_stays_documented(client: httpx.AsyncClient) -> None:
    app = client.app  # type: ignore[attr-defined]
    first = app.openapi()
    assert app.openapi() is first
    assert first["paths"]["/api/contractors/me"]["get"]["security"] == [{"HTTPBearer": []}]


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc.def", "abc.def"), ("bearer abc", "abc"), ("BEARER  abc ", "abc"),
    ("Basic abc", None), ("Bearer", None), ("Bearer   ", None), ("", None), ("abc", None),
])
def test_the_header_is_read_as_http_bearer_reads_it(header: str, token: str | None) -> None:
    scope = {"type": "http", "headers": [(b"authorization", header.encode())] if header else []}
    assert bearer_token(scope) == token


async def test_a_token_in_another_scheme_is_not_accepted(client: httpx.AsyncClient) -> None:
    account = await register(client)
    token = account.token
    assert (await client.get("/api/contractors/me", headers={"Authorization": f"bearer {token}"})).status_code == 200
    for header in (f"Basic {token}", f"Token {token}", token, "Bearer "):
        response = await client.get("/api/contractors/me", headers={"Authorization": header})
        assert response.status_code == 401 and response.json()["code"] == "not_authenticated", header
