"""FastAPI application factory: mounts every surface's router on the shared services."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from docsage import __version__
from docsage.admin import routes as admin_routes
from docsage.admin import scripts as admin_scripts
from docsage.api import compute
from docsage.api.chatbot import routes as chatbot_routes
from docsage.api.chatbot import search as chatbot_search
from docsage.api.discord import routes as discord_routes
from docsage.api.errors import install_error_handlers
from docsage.api.kapa import analytics as kapa_analytics
from docsage.api.kapa import chat as kapa_chat
from docsage.api.kapa import data as kapa_data
from docsage.api.kapa import proxy as kapa_proxy
from docsage.api.mcp_http import McpEndpoint
from docsage.api.middleware import (
    BodyLimitMiddleware,
    ChatbotCORSMiddleware,
    PrefixCORSMiddleware,
    SecurityHeadersMiddleware,
)
from docsage.api.openai_compat import routes as openai_routes
from docsage.api.slack import routes as slack_routes
from docsage.errors import NotFoundError
from docsage.jobs import JobRunner
from docsage.services import Services
from docsage.web import routes as web_routes


def create_app(
    services: Services | None = None, demo_widget_key: str | None = None, demo_docs: Path | None = None
) -> FastAPI:
    services = services or Services()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Background jobs (ingests, uploads) run on threads of their own, never on the event loop; with
        # DOCSAGE_JOB_WORKERS=0 only `docsage worker` processes run them.
        workers = services.settings.job_workers
        runner = JobRunner(services.jobs, workers).start() if workers > 0 else None
        try:
            async with mcp.running():  # the MCP sessions' tasks live as long as the app
                yield
        finally:
            if runner is not None:
                runner.stop()

    app = FastAPI(
        title="docsage",
        version=__version__,
        description="Self-hostable 'ask the docs' service: hybrid retrieval and cited answers.",
        lifespan=lifespan,
    )
    app.state.services = services
    compute.install(app, services.settings.resolved_search_threads())
    install_error_handlers(app)
    settings = services.settings
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        # Multipart framing comes on top of the file; the route checks the file itself to the byte.
        limits={
            "/api/v1/documents": (
                settings.upload_max_bytes + 65_536,
                f"file is larger than the {settings.upload_max_bytes}-byte upload limit",
            )
        },
    )
    app.add_middleware(ChatbotCORSMiddleware, allowed=services.projects.origin_allowed)
    app.include_router(kapa_chat.router)
    app.include_router(kapa_data.router)
    app.include_router(kapa_proxy.router)
    app.include_router(kapa_analytics.router)
    app.include_router(openai_routes.router)
    app.include_router(chatbot_routes.router)
    app.include_router(chatbot_search.router)
    app.include_router(slack_routes.router)
    app.include_router(discord_routes.router)
    app.include_router(web_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(admin_scripts.router)
    mcp = McpEndpoint(services, app.state.search_limiter)
    app.router.routes.append(mcp.route("/mcp"))
    services.admin.ensure_env_admin()

    @app.exception_handler(admin_routes.LoginRequired)
    async def login_required(_request: Request, _exc: Exception) -> RedirectResponse:
        return RedirectResponse("/admin/login", status_code=303)

    # The widget endpoints are called from browsers on the customer's site (the React SDK sends
    # X-WEBSITE-ID and a captcha header, which triggers a preflight).
    app.add_middleware(
        PrefixCORSMiddleware,
        prefix="/proxy/",
        allow_origin_regex=".*",
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "X-WEBSITE-ID", "X-RECAPTCHA-ENTERPRISE-TOKEN", "X-HCAPTCHA-TOKEN"],
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware)  # last added, so outermost: every response gets the headers

    @app.get("/", include_in_schema=False)
    def home() -> HTMLResponse:
        """A start page; under `docsage demo` (`make run`) it embeds the chat widget over the demo docs."""
        widget = (
            f'<script src="/widget.js" data-key="{html.escape(demo_widget_key)}" data-title="Ask the docsage docs" '
            'data-search="true" '
            'data-welcome="Ask me anything about docsage: sources, the CLI, the APIs." async></script>'
            if demo_widget_key
            else ""
        )
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>docsage</title>"
            "<body style='font:16px/1.6 system-ui,sans-serif;max-width:720px;margin:40px auto;padding:0 16px'>"
            "<h1>docsage</h1><p>Self-hostable answers from your documentation, with cited sources.</p>"
            "<ul><li><a href='/docs'>API reference</a></li><li><a href='/admin'>Admin dashboard</a></li></ul>"
            + ("<p>Use the button in the corner to ask about the bundled docs.</p>" if demo_widget_key else "")
            + widget
            + "</body>"
        )

    if demo_docs is not None:
        root = demo_docs.resolve()

        @app.get("/demo/docs/{path:path}", include_in_schema=False)
        def demo_doc(path: str) -> FileResponse:
            """The demo's own docs, so that the widget's citations open (`docsage demo` cites these URLs)."""
            target = (root / path).resolve()
            if not target.is_relative_to(root) or not target.is_file():
                raise NotFoundError(f"no document {path!r}")
            html_page = target.suffix.lower() in (".html", ".htm")
            return FileResponse(target, media_type="text/html" if html_page else "text/plain; charset=utf-8")

    @app.get("/healthz", tags=["health"], summary="Liveness and configuration check")
    def healthz() -> dict[str, object]:
        s = services.settings
        with services.database.session() as session:
            session.connection().exec_driver_sql("SELECT 1")
        health: dict[str, object] = {
            "status": "ok",
            "version": __version__,
            "database": services.database.engine.dialect.name,
            "embedding_provider": s.embedding_provider,
            "llm_provider": s.llm_provider,
            "rate_limits": services.rate_limiter.status(),
        }
        if services.bus is not None:
            # Reported, not failed on: without Redis the replica still answers (rate limits per process, caches
            # re-read on every request), and a load balancer should not take every replica out at once.
            health["redis"] = "ok" if services.bus.ping() else "unreachable"
        return health

    return app
