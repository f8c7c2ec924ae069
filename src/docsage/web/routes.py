"""Serves the embeddable widget script (`/widget.js`), gzip-compressed when the browser accepts it."""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import Response

router = APIRouter(tags=["Widget"])


@lru_cache(maxsize=1)
def widget_bytes() -> tuple[bytes, bytes]:
    raw = (resources.files("docsage.web") / "static" / "widget.js").read_bytes()
    return raw, gzip.compress(raw, compresslevel=9, mtime=0)


@router.get("/widget.js", summary="The embeddable chat widget", response_class=Response)
def widget(request: Request) -> Response:
    """Add `<script src="https://HOST/widget.js" data-key="<bearer key>" async></script>` to any page."""
    raw, packed = widget_bytes()
    headers = {"Cache-Control": "public, max-age=300", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            packed, media_type="application/javascript; charset=utf-8", headers={**headers, "Content-Encoding": "gzip"}
        )
    return Response(raw, media_type="application/javascript; charset=utf-8", headers=headers)
