"""The dashboard's own scripts, served as files so that its Content-Security-Policy can refuse inline script."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(prefix="/admin/static", include_in_schema=False)


@router.get("/analytics.js")
def analytics_js() -> Response:
    """Draws the analytics page's charts from the JSON the page carries."""
    data = (resources.files("docsage.admin") / "static" / "analytics.js").read_bytes()
    return Response(
        data, media_type="application/javascript; charset=utf-8", headers={"Cache-Control": "public, max-age=300"}
    )
