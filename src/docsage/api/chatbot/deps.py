"""Bearer-key authentication for /api/v1: the key's allowed browser origins and its scopes enforced.

A key with allowed origins is public (it sits in web pages): it may do what its scopes say — by default chat
and feedback — whether or not the caller sends an Origin header, and it reads or continues only sessions it
opened itself, proven by the token in the session id it was handed (`<thread id>.<token>`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from docsage.api.bearer import authenticate_bearer, bearer_secret, require_scope
from docsage.api.deps import ServicesDep

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class App:
    """The caller: one bearer key (an "app") of one project."""

    key_id: str
    project_id: str
    team_id: str
    scopes: frozenset[str] = frozenset()
    public: bool = False


def split_session_id(session_id: str | None) -> tuple[str | None, str | None]:
    """(thread id, token) of a session id as handed out: `<thread id>.<token>` to public keys."""
    if not session_id:
        return None, None
    thread_id, _, token = session_id.partition(".")
    return thread_id, token or None


def session_id_for(thread_id: str, token: str) -> str:
    return f"{thread_id}.{token}" if token else thread_id


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
    secret = bearer_secret(request.headers.get("authorization")) or api_key or await _body_api_key(request)
    # The same checks as every bearer surface (MCP, OpenAI-compatible): unknown, revoked, X-API-KEY keys, origins.
    key = authenticate_bearer(services, f"Bearer {secret}" if secret else None, request.headers.get("origin"))
    return App(key.principal.key_id, key.project_id, key.principal.team_id, key.scopes, key.public)


AppDep = Annotated[App, Depends(app_key)]


def scoped(scope: str) -> Callable[[App], Awaitable[App]]:
    """A dependency: the caller's key, which must carry `scope` (403 otherwise, saying what the key may do)."""

    async def require(app: AppDep) -> App:
        require_scope(scope, app.scopes, app.public, app.key_id, app.project_id)
        return app

    return require


ChatApp = Annotated[App, Depends(scoped("chat"))]
FeedbackApp = Annotated[App, Depends(scoped("feedback"))]
UsageApp = Annotated[App, Depends(scoped("usage"))]
DocumentsApp = Annotated[App, Depends(scoped("documents"))]
