"""POST /api/v1/search: the widget's search mode — ranked pages with short passages, for any key that may chat.

Why the `chat` scope and not `search`: `search` lets a key read whole pages (retrieval, MCP), which a key in a
web page must not. This route returns titles, URLs and snippets of at most SNIPPET_CHARS characters — less text
per request than an answer that quotes the same passages — on the public chat budget's limits (counted apart
from chat, so typing does not use up a visitor's questions), and, through a public key, only from sources not
marked as holding internal data.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from docsage.api.chatbot.deps import API_PREFIX, App, ChatApp
from docsage.api.compute import run_search
from docsage.api.deps import Principal, ServicesDep, limit_retrieval
from docsage.errors import InvalidInputError
from docsage.ratelimit import enforce
from docsage.retrieval.pages import MAX_PAGES, search_pages
from docsage.services import Services

router = APIRouter(prefix=API_PREFIX, tags=["Chatbot API"])
MAX_QUERY_CHARS = 200


class SearchIn(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What the visitor has typed so far.")
    limit: int = Field(default=6, ge=1, le=MAX_PAGES, description="Pages to return (at most 10).")
    api_key: str | None = Field(default=None, description="The key, when no Authorization header can be set.")


def limit_public_search(services: Services, key_id: str, client_ip: str | None) -> None:
    """The public chat budget's limits — per client IP first, then for the key as a whole — on counters of
    their own, so that searching and asking do not use up each other's share."""
    settings = services.settings
    if client_ip:
        enforce(
            services.rate_limiter,
            f"public-search:{key_id}:{client_ip}",
            settings.rate_limit_public_chat_per_min,
            "search from one client",
        )
    enforce(
        services.rate_limiter,
        f"public-search:{key_id}",
        settings.rate_limit_public_chat_per_min_total,
        "public search through this key",
    )


def _public_sources(services: Services, project_id: str) -> list[str] | None:
    """Sources a public key may search: all unless some hold internal data ("-" matches none)."""
    sources = services.projects.list_sources(project_id)
    if not any(s.contains_internal_data for s in sources):
        return None
    return [s.id for s in sources if not s.contains_internal_data] or ["-"]


def _limit(services: Services, app: App, request: Request) -> None:
    if app.public:
        limit_public_search(services, app.key_id, request.client.host if request.client else None)
    else:
        limit_retrieval(services, Principal(app.key_id, app.project_id, app.team_id))


@router.post("/search", summary="Search the docs (as you type)")
async def search(body: SearchIn, app: ChatApp, services: ServicesDep, request: Request) -> dict[str, Any]:
    """The best pages for `query`, best first: `{success, results: [{title, url, passages: [{heading,
    snippet}]}]}`, at most two passages of at most 240 characters each per page. Needs the `chat` scope;
    public keys search on the public chat budget's limits."""
    query = body.query.strip()
    if not query:
        raise InvalidInputError("query must not be blank")
    _limit(services, app, request)
    source_ids = _public_sources(services, app.project_id) if app.public else None
    pages = await run_search(request, search_pages, services.retrieval, app.project_id, query, body.limit, source_ids)
    return {
        "success": True,
        "results": [
            {
                "title": p.title,
                "url": p.url,
                "passages": [{"heading": x.heading, "snippet": x.snippet} for x in p.passages],
            }
            for p in pages
        ],
    }
