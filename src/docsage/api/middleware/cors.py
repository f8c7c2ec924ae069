"""CORS where browsers call us: the widget's proxy routes for any site, the chatbot API per key's origins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docsage.api.errors import CHATBOT_PREFIX


class PrefixCORSMiddleware:
    """CORS for one path prefix only (the public widget routes), leaving every other route untouched."""

    def __init__(self, app: ASGIApp, /, prefix: str, **cors: Any) -> None:
        self.app = app
        self.prefix = prefix
        self.cors = CORSMiddleware(app, **cors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class ChatbotCORSMiddleware:
    """CORS for the chatbot API, per key: a preflight passes only for an origin some bearer key allows (the
    browser sends no key with it); the real request is then checked against its own key's origins."""

    def __init__(self, app: ASGIApp, /, allowed: Callable[[str], bool], prefix: str = CHATBOT_PREFIX) -> None:
        self.app = app
        self.allowed = allowed
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin", "")
        if not origin:
            await self.app(scope, receive, send)
            return
        cors = {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": "Retry-After", "Vary": "Origin"}
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            if not self.allowed(origin.rstrip("/").lower()):
                refused = JSONResponse({"success": False, "error": "origin not allowed"}, status_code=403)
                await refused(scope, receive, send)
                return
            preflight = Response(
                status_code=204,
                headers={
                    **cors,
                    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
                    "Access-Control-Allow-Headers": "Authorization, Content-Type",
                    "Access-Control-Max-Age": "600",
                },
            )
            await preflight(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            # Readable by the page: success only ever reaches an allowed origin (the route checks the key's
            # origins), and a refusal should show its reason rather than an opaque network error.
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in cors.items():
                    response_headers.append(name, value)
            await send(message)

        await self.app(scope, receive, with_cors)
