"""OpenAI's error shape for the OpenAI-compatible surface: `{"error": {"message", "type", "param", "code"}}`.

One renderer, used by the route class (every error a route raises, authentication and validation included)
and by the stream (a failure after the first chunk), so the official SDK raises its own typed exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from docsage.api.openai_compat.schemas import ErrorDetail
from docsage.errors import DocsageError
from docsage.ratelimit import RateLimitedError

# docsage's error codes as OpenAI's error types and codes (the SDK picks its exception by status alone).
TYPES = {401: "invalid_request_error", 403: "permission_error", 429: "requests"}
CODES = {
    "unauthorized": "invalid_api_key",
    "forbidden": "insufficient_permissions",
    "rate_limited": "rate_limit_exceeded",
    "provider_error": "provider_error",
}


class ModelNotFoundError(DocsageError):
    code = "model_not_found"
    http_status = 404

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model `{model}` does not exist or you do not have access to it: a key answers from its own "
            "project, whose name or id is the model (GET /v1/models lists it)."
        )


def error_detail(status: int, message: str, code: str | None = None, param: str | None = None) -> ErrorDetail:
    kind = TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return ErrorDetail(message=message, type=kind, param=param, code=code)


def error_response(
    status: int, message: str, code: str | None = None, param: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    detail = error_detail(status, message, code, param)
    return JSONResponse({"error": detail.model_dump()}, status_code=status, headers=headers)


def docsage_error_response(exc: DocsageError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else None
    if exc.http_status == 422:  # invalid input: OpenAI answers 400, with no code
        return error_response(400, exc.message)
    return error_response(exc.http_status, exc.message, CODES.get(exc.code, exc.code), headers=headers)


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    """400 like OpenAI's (not FastAPI's 422): every problem in the message, the first one's field as `param`."""
    problems: list[Any] = list(exc.errors())
    first = problems[0] if problems else {}
    loc = [str(p) for p in first.get("loc", ())[1:]]  # without the leading "body"
    param = ".".join(loc) or None
    message = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', '')}" for e in problems
    )
    return error_response(400, message or "invalid request body", None, param)


class OpenAIRoute(APIRoute):
    """Renders whatever a route raises in OpenAI's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except DocsageError as exc:
                return docsage_error_response(exc)
            except RequestValidationError as exc:
                return _validation_response(exc)
            except HTTPException as exc:
                return error_response(exc.status_code, str(exc.detail), None, headers=dict(exc.headers or {}) or None)

        return handle
