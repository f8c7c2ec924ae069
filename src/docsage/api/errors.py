"""One JSON error shape for every HTTP surface: {"detail": …}, never HTML, never a 500 for bad input."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docsage.errors import DocsageError
from docsage.ratelimit import RateLimitedError

log = logging.getLogger(__name__)


CHATBOT_PREFIX = "/api/v1"


def error_response(
    request: Request, status: int, detail: Any, headers: dict[str, str] | None = None
) -> JSONResponse | HTMLResponse:
    """Each surface's own error shape: Kapa's `{"detail": …}`, the chatbot API's `{"success": false, "error": …}`."""
    if request.url.path.startswith("/admin") and request.method == "POST":
        text = detail if isinstance(detail, str) else "invalid input"
        return HTMLResponse(
            f"<!doctype html><title>Error</title><p role='alert'>{html.escape(text)}</p>"
            "<p><a href='/admin'>Back to the dashboard</a></p>",
            status_code=status,
        )
    if request.url.path.startswith(CHATBOT_PREFIX):
        message = (
            detail
            if isinstance(detail, str)
            else "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg', '')}" for d in detail)
        )
        body: dict[str, Any] = {"success": False, "error": message}
    else:
        body = {"detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DocsageError)
    async def docsage_error(request: Request, exc: DocsageError) -> JSONResponse | HTMLResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else None
        return error_response(request, exc.http_status, exc.message, headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse | HTMLResponse:
        return error_response(request, exc.status_code, exc.detail, dict(exc.headers or {}) or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse | HTMLResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        return error_response(request, 422, errors)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse | HTMLResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(request, 500, "internal server error")


SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _unstorable_json(scope: Scope, messages: list[Message]) -> str | None:
    """Why a JSON body cannot be taken as text, if it cannot: JSON may escape a lone UTF-16 surrogate
    (`"\\ud800"`), which Python decodes into a string that no UTF-8 database, log or response can hold. Such
    a body is refused up front, so no route has to stumble on it half-way (or store it and break later reads).
    """
    content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
    if b"json" not in content_type:
        return None
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    if not SURROGATE_ESCAPE.search(body):
        return None  # the fast path: no surrogate escape at all (valid pairs, e.g. escaped emoji, are checked)
    try:
        json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "request body contains a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not valid text"
    except (ValueError, RecursionError):
        return None  # malformed JSON: the route reports it in its own words
    return None


class BodyLimitMiddleware:
    """Refuses request bodies over a byte limit with 413 and a JSON detail, before anything parses them."""

    def __init__(self, app: ASGIApp, /, max_bytes: int, limits: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = limits or {}  # path → (its own byte limit, the message when it is exceeded): uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit, too_large = self.limits.get(
            path.rstrip("/"), (self.max_bytes, f"request body too large (limit {self.max_bytes} bytes)")
        )
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(send, path, too_large)
            return
        # Read the whole body first (bounded), then replay it: an error raised from inside the app's own body
        # parsing would be turned into a 400 by FastAPI before it could reach us.
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > limit:
                await self._reject(send, path, too_large)
                return
            if not message.get("more_body", False):
                break
        problem = _unstorable_json(scope, messages)
        if problem:
            await self._reject(send, path, problem, status=422)
            return
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _reject(self, send: Send, path: str, message: str, status: int = 413) -> None:
        shape = {"success": False, "error": message} if path.startswith(CHATBOT_PREFIX) else {"detail": message}
        body = json.dumps(shape).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


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
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode("latin-1")
        if not origin:
            await self.app(scope, receive, send)
            return
        cors = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-expose-headers", b"Retry-After"),
            (b"vary", b"Origin"),
        ]
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            if not self.allowed(origin.rstrip("/").lower()):
                body = b'{"success":false,"error":"origin not allowed"}'
                await send(
                    {"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"application/json")]}
                )
                await send({"type": "http.response.body", "body": body})
                return
            await send({"type": "http.response.start", "status": 204, "headers": [
                *cors,
                (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
                (b"access-control-allow-headers", b"Authorization, Content-Type"),
                (b"access-control-max-age", b"600"),
            ]})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            # Readable by the page: success only ever reaches an allowed origin (the route checks the key's
            # origins), and a refusal should show its reason rather than an opaque network error.
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, with_cors)
