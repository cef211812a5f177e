"""The bearer scheme in ``/openapi.json`` without a per-request security dependency.

FastAPI documents a route's security from a ``Security``/``HTTPBearer`` dependency,
and resolves that dependency on every request to the route: one more level of
``solve_dependencies`` on every authenticated request, only to read a header that
``get_current_contractor`` can read itself (``bench/results/load_profile.md``).
Authentication reads the header directly; this adds the same ``security``
requirement and scheme to every operation that depends on it, so the schema
clients see is unchanged (``tests/integration/test_openapi_security.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from backend.api.deps import BEARER_DESCRIPTION, get_current_contractor

SCHEME_NAME = "HTTPBearer"
SCHEME = {"type": "http", "description": BEARER_DESCRIPTION, "scheme": "bearer"}
# Where FastAPI itself usually puts it: after the operation's metadata (key order carries no meaning).
_METADATA_KEYS = ("tags", "summary", "description", "operationId", "deprecated")


def _calls(dependant: Dependant) -> set[Any]:
    found = set()
    for dependency in dependant.dependencies:
        found.add(dependency.call)
        found |= _calls(dependency)
    return found


def authenticated_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every documented route that depends on the signed-in contractor."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        if get_current_contractor in _calls(route.dependant) and context.path is not None:
            found.update((context.path, method.lower()) for method in context.methods or ())
    return found


def _with_security(operation: dict[str, Any]) -> dict[str, Any]:
    head = {k: v for k, v in operation.items() if k in _METADATA_KEYS}
    tail = {k: v for k, v in operation.items() if k not in _METADATA_KEYS and k != "security"}
    return {**head, "security": [{SCHEME_NAME: []}], **tail}


def install_bearer_security(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the generated schema documents the bearer scheme where it applies."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    done: list[int] = []  # id of the last schema processed (FastAPI rebuilds it when routes change)

    def openapi() -> dict[str, Any]:
        schema = generate()
        if done and done[0] == id(schema):
            return schema
        paths = schema.get("paths", {})
        operations = authenticated_operations(app)
        for path, method in operations:
            if method in paths.get(path, {}):
                paths[path][method] = _with_security(paths[path][method])
        if operations:
            schema.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME_NAME] = SCHEME
        done[:] = [id(schema)]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
