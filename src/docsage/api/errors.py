"""One JSON error shape for every HTTP surface: {"detail": …}, never HTML, never a 500 for bad input."""

from __future__ import annotations

import html
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
