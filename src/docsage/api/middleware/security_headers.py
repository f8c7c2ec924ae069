"""Security headers on every response: a Content-Security-Policy per kind of page, nosniff, a referrer policy,
and, for the dashboard, no framing and no caching (one of its pages shows a new key's secret)."""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script anywhere we write the page: the dashboard's scripts are files (/admin/static/…), its data
# travels in <script type="application/json">. Inline *styles* stay allowed: the templates use style
# attributes, and the widget styles its shadow root with a <style> element; CSS cannot run script.
_COMMON = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'"
)
# The dashboard is never framed (clickjacking its forms).
ADMIN_POLICY = f"{_COMMON}; frame-ancestors 'none'"
# The start page and the demo docs host the widget; whether they may be framed is left open, as before.
PAGE_POLICY = _COMMON
# FastAPI's Swagger UI and ReDoc pages: their generated HTML starts the UI with an inline script and loads it
# (and its fonts) from a CDN. They show only the OpenAPI schema, no user data.
API_DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' data: https://fonts.gstatic.com; img-src 'self' data: https:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
API_DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")


def is_admin(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


class SecurityHeadersMiddleware:
    """Adds the headers to each response start; a header a route set itself is left as it is."""

    def __init__(self, app: ASGIApp, api_docs_paths: Collection[str] = API_DOCS_PATHS) -> None:
        self.app = app
        self.api_docs_paths = frozenset(api_docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                self.apply(MutableHeaders(scope=message), path)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def apply(self, headers: MutableHeaders, path: str) -> None:
        admin = is_admin(path)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        # Dashboard URLs name projects and searches: they never leave the site. Elsewhere, other sites see the origin.
        headers.setdefault("Referrer-Policy", "same-origin" if admin else "strict-origin-when-cross-origin")
        if admin:
            headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors, for browsers that predate it
            headers.setdefault("Cache-Control", "no-store")
        if headers.get("content-type", "").startswith("text/html"):
            policy = ADMIN_POLICY if admin else API_DOCS_POLICY if path in self.api_docs_paths else PAGE_POLICY
            headers.setdefault("Content-Security-Policy", policy)
