"""Bearer-key authentication for /api/v1, with the key's allowed browser origins enforced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from docsage.api.kapa.deps import ServicesDep
from docsage.errors import AuthError, ForbiddenError

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class App:
    """The caller: one bearer key (an "app") of one project."""

    key_id: str
    project_id: str
    team_id: str


async def _body_api_key(request: Request) -> str | None:
    if request.method != "POST" or not request.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        return None  # not a JSON object we can read a key from: the route reports the body itself
    value = body.get("api_key") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


async def app_key(
    request: Request,
    services: ServicesDep,
    api_key: Annotated[str | None, Query(description="The key, when an Authorization header cannot be set.")] = None,
) -> App:
    """The key from `Authorization: Bearer …`, an `api_key` query parameter or an `api_key` JSON field."""
    header = request.headers.get("authorization", "")
    secret = header[7:].strip() if header.lower().startswith("bearer ") else None
    secret = secret or api_key or await _body_api_key(request)
    if not secret:
        raise AuthError("missing API key: send Authorization: Bearer <key>")
    found = services.projects.authenticate(secret)
    if found is None or found.key.scheme != "bearer":
        raise AuthError("invalid API key")
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/").lower() not in found.key.allowed_origins:
        raise ForbiddenError(f"origin {origin} is not allowed for this key")
    return App(found.key.id, found.key.project_id, found.team_id)


AppDep = Annotated[App, Depends(app_key)]
