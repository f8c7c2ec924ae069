"""`/mcp` on `docsage serve`: the MCP server over streamable HTTP, behind the project's bearer keys.

The key is checked before the MCP transport sees the request: a missing, unknown or revoked key is a 401 (with
`WWW-Authenticate: Bearer`, as MCP clients expect) and no session starts. The tools then serve the key's one
project and check its scopes per call, so a key without a scope gets a tool error that says which it lacks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import CapacityLimiter
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from docsage.api.bearer import BearerKey, authenticate_bearer
from docsage.errors import AuthError, DocsageError
from docsage.mcp import Caller, build_server
from docsage.services import Services

CALLER = "docsage.mcp.caller"  # the ASGI scope key the endpoint leaves the authenticated caller under


def _caller_of(ctx: ServerRequestContext[Any, Any]) -> Caller:
    request = ctx.request
    caller = request.scope.get(CALLER) if request is not None else None
    if not isinstance(caller, Caller):  # cannot happen behind McpEndpoint: every request is authenticated
        raise AuthError("unauthenticated MCP request")
    return caller


class McpEndpoint:
    """ASGI app for `/mcp`; `running()` must be entered for the app's lifetime (it owns the sessions' tasks)."""

    def __init__(self, services: Services, search_limiter: CapacityLimiter) -> None:
        self.services = services
        # JSON responses: every tool answers in one piece, and a JSON body is quicker to write and read than an
        # SSE stream. Stateful sessions for clients of the initialize handshake; sessionless (2026-07-28) ones
        # are served per request by the same manager.
        self.sessions = StreamableHTTPSessionManager(
            app=build_server(services, _caller_of, search_limiter), json_response=True
        )

    def route(self, path: str) -> Route:
        """The route to add to the app: `path` itself, every method (POST messages, GET the event stream,
        DELETE the session), no redirect to `path/`."""
        return Route(path, self, include_in_schema=False)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.sessions.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        client = scope.get("client")
        try:
            key = authenticate_bearer(
                self.services, headers.get("authorization"), headers.get("origin"), client[0] if client else None
            )
        except DocsageError as exc:
            await _refusal(exc)(scope, receive, send)
            return
        scope[CALLER] = Caller(key.project_id, key)
        # The SDK binds a stateful session to the credential that opened it: another key presenting the
        # session's id is answered as if the session did not exist.
        scope["user"] = AuthenticatedUser(_access_token(key))
        await self.sessions.handle_request(scope, receive, send)


def _access_token(key: BearerKey) -> AccessToken:
    return AccessToken(token="", client_id=key.principal.key_id, scopes=sorted(key.scopes))


def _refusal(exc: DocsageError) -> JSONResponse:
    """401 or 403 in OAuth's bearer-token error form (RFC 6750), which MCP clients read."""
    error = "invalid_token" if isinstance(exc, AuthError) else "forbidden"
    challenge = f'Bearer error="{error}", error_description="{exc.message.replace(chr(34), chr(39))}"'
    return JSONResponse(
        {"error": error, "error_description": exc.message},
        status_code=exc.http_status,
        headers={"WWW-Authenticate": challenge},
    )
