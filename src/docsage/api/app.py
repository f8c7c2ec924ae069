"""FastAPI application factory: mounts every surface's router on the shared services."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from docsage import __version__
from docsage.errors import DocsageError
from docsage.services import Services


def create_app(services: Services | None = None) -> FastAPI:
    services = services or Services()
    app = FastAPI(
        title="docsage",
        version=__version__,
        description="Self-hostable 'ask the docs' service: hybrid retrieval and cited answers.",
    )
    app.state.services = services

    @app.exception_handler(DocsageError)
    async def docsage_error(_request: Request, exc: DocsageError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.http_status)

    @app.get("/healthz", tags=["health"], summary="Liveness and configuration check")
    def healthz() -> dict[str, object]:
        s = services.settings
        with services.database.session() as session:
            session.connection().exec_driver_sql("SELECT 1")
        return {
            "status": "ok",
            "version": __version__,
            "database": services.database.engine.dialect.name,
            "embedding_provider": s.embedding_provider,
            "llm_provider": s.llm_provider,
        }

    return app
