"""Request bodies bounded before anything parses them: 413 past a byte limit, 422 for JSON no text can hold."""

from __future__ import annotations

import json
import re

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docsage.api.errors import CHATBOT_PREFIX

SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _unstorable_json(headers: Headers, messages: list[Message]) -> str | None:
    """Why a JSON body cannot be taken as text, if it cannot: JSON may escape a lone UTF-16 surrogate
    (`"\\ud800"`), which Python decodes into a string that no UTF-8 database, log or response can hold. Such
    a body is refused up front, so no route has to stumble on it half-way (or store it and break later reads).
    """
    if "json" not in headers.get("content-type", ""):
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
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(scope, receive, send, too_large)
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
                await self._reject(scope, receive, send, too_large)
                return
            if not message.get("more_body", False):
                break
        problem = _unstorable_json(headers, messages)
        if problem:
            await self._reject(scope, receive, send, problem, status=422)
            return
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, message: str, status: int = 413) -> None:
        # The surface's own error shape (see docsage.api.errors), written here because no route has run.
        chatbot = scope["path"].startswith(CHATBOT_PREFIX)
        shape = {"success": False, "error": message} if chatbot else {"detail": message}
        await JSONResponse(shape, status_code=status)(scope, receive, send)
