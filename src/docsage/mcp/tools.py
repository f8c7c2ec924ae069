"""The MCP tools: search the docs, read whole pages, ask for a cited answer — thin adapters over the services.

Each tool's arguments are a pydantic model (its JSON Schema is the tool's input schema) and its result a JSON
object (returned as structured content and, for clients that read text only, as that JSON in a text block).
Descriptions name the project's docs, so an agent with several servers knows which one to call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from docsage.api.bearer import BearerKey
from docsage.chat.service import ChatRequest, collect, sources_of
from docsage.errors import DocsageError
from docsage.services import Services

SEARCH_SCOPE = "search"
CHAT_SCOPE = "chat"
MAX_TOP_K = 15  # as Kapa's /retrieval/
SEARCH_MAX_CHARS = 35_000  # /retrieval/'s default budget: an agent's context is not unlimited either
DOCUMENT_CHARS = 20_000
MAX_LISTED_SOURCES = 10


@dataclass(frozen=True)
class Caller:
    """Who calls a tool, and for which project: a bearer key over HTTP, or the operator on stdio (key None:
    every scope, no rate budget)."""

    project_id: str
    key: BearerKey | None = None

    def require(self, scope: str) -> None:
        if self.key is not None:
            self.key.require(scope)

    def limit_retrieval(self, services: Services) -> None:
        if self.key is not None:
            self.key.limit_retrieval(services)

    def limit_chat(self, services: Services) -> None:
        if self.key is not None:
            self.key.limit_chat(services)


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchDocsArgs(ToolArgs):
    query: str = Field(
        min_length=1,
        max_length=5000,
        description="What to look for: a natural-language question or keywords, e.g. 'configure the sync interval'.",
    )
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K, description=f"Passages to return, 1-{MAX_TOP_K}.")
    source_ids: list[str] | None = Field(
        default=None, max_length=100, description="Only search these sources (ids); omit to search all of them."
    )


class GetDocumentsArgs(ToolArgs):
    urls: list[str] | None = Field(
        default=None, max_length=100, description="Page URLs, as search_docs returns them in `url`."
    )
    document_ids: list[str] | None = Field(
        default=None, max_length=100, description="Document ids, as search_docs returns them in `document_id`."
    )
    page: int = Field(default=1, ge=1, le=1_000_000, description="Page of the results, from 1.")
    page_size: int = Field(default=5, ge=1, le=20, description="Documents per page, 1-20.")
    max_chars_per_document: int = Field(
        default=DOCUMENT_CHARS,
        ge=1,
        le=1_000_000,
        description="Cut each document's content after this many characters (`truncated` then says so).",
    )

    @model_validator(mode="after")
    def _names_something(self) -> GetDocumentsArgs:
        if not self.urls and not self.document_ids:
            raise ValueError("give the documents' urls or document_ids")
        return self


class AskArgs(ToolArgs):
    question: str = Field(
        min_length=1, max_length=5000, description="A standalone question (earlier calls are not remembered)."
    )
    source_ids: list[str] | None = Field(
        default=None, max_length=100, description="Only answer from these sources (ids); omit to use all of them."
    )


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    args: type[ToolArgs]
    scope: str
    read_only: bool

    def description(self, docs: ProjectDocs) -> str:
        text = DESCRIPTIONS[self.name].format(docs=docs.label, name=docs.name)
        if "source_ids" in self.args.model_fields and len(docs.sources) > 1:
            listed = ", ".join(f"{name} = {source_id}" for source_id, name in docs.sources[:MAX_LISTED_SOURCES])
            text += f" Source ids for `source_ids`: {listed}{', …' if len(docs.sources) > MAX_LISTED_SOURCES else ''}."
        return text


@dataclass(frozen=True)
class ProjectDocs:
    """What the descriptions say the docs are: the project's name and its sources (names, never paths)."""

    name: str
    sources: tuple[tuple[str, str], ...]  # (id, name)

    @property
    def label(self) -> str:
        names = sorted({name for _, name in self.sources})
        shown = ", ".join(names[:MAX_LISTED_SOURCES]) + (", …" if len(names) > MAX_LISTED_SOURCES else "")
        return f"the {self.name} documentation" + (f" (sources: {shown})" if names else "")


DESCRIPTIONS = {
    "search_docs": (
        "Search {docs} and return the most relevant passages, best first: each with its page title, URL, "
        "heading path (where on the page it sits) and text. Use it first for any question about {name}: how "
        "something works, a setting, an API, a command, an error message. Quote or cite the passages' URLs "
        "in your answer. When a passage is cut short or you need the whole page, read it with get_documents. "
        "If nothing relevant comes back, the docs probably do not cover it: say so rather than guess."
    ),
    "get_documents": (
        "Read whole pages of {docs}, by URL (the `url` search_docs returned) or by document id. Use it after "
        "search_docs when a passage is not enough: a full reference table, a complete example, the steps "
        "before and after. Results are paged (`page`, `page_size`; `has_more` says whether more follow); "
        "each document's content is cut at `max_chars_per_document` (default 20,000 characters: `truncated` "
        "and `total_chars` say when, ask again with a larger limit to read on). URLs or ids that match no "
        "document are listed in `not_found`."
    ),
    "ask": (
        "Ask the assistant of {docs} a question and get a written answer that cites its sources as markdown "
        "links [[n]](url), the sources themselves, and `is_uncertain`: true when the docs do not clearly cover "
        "the question (then do not rely on the answer; search_docs may still find related pages). Use it for a "
        "quick direct answer; prefer search_docs when you want to read and reason over the passages yourself. "
        "Each call is independent: ask a standalone question."
    ),
}

TOOLS = (
    ToolSpec("search_docs", "Search the docs", SearchDocsArgs, SEARCH_SCOPE, read_only=True),
    ToolSpec("get_documents", "Read whole pages", GetDocumentsArgs, SEARCH_SCOPE, read_only=True),
    ToolSpec("ask", "Ask the docs assistant", AskArgs, CHAT_SCOPE, read_only=False),
)
TOOLS_BY_NAME = {t.name: t for t in TOOLS}


class DocsTools:
    """The tools' behaviour for one caller at a time; every call is blocking (run it off the event loop)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def project_docs(self, project_id: str) -> ProjectDocs:
        project = self.services.projects.get_project(project_id)
        sources = tuple((s.id, s.name) for s in self.services.projects.list_sources(project_id))
        return ProjectDocs(project.name, sources)

    def search_docs(self, caller: Caller, args: SearchDocsArgs) -> dict[str, Any]:
        caller.require(SEARCH_SCOPE)
        caller.limit_retrieval(self.services)
        hits = self.services.retrieval.search(
            caller.project_id, args.query, top_k=args.top_k, max_chars=SEARCH_MAX_CHARS, source_ids=args.source_ids
        )
        return {
            "results": [
                {
                    "title": h.title,
                    "url": h.source_url,
                    "heading_path": h.heading_path,
                    "content": h.content,
                    "document_id": h.document_id,
                    "source_id": h.source_id,
                }
                for h in hits
            ]
        }

    def get_documents(self, caller: Caller, args: GetDocumentsArgs) -> dict[str, Any]:
        caller.require(SEARCH_SCOPE)
        caller.limit_retrieval(self.services)
        urls, ids = args.urls or [], args.document_ids or []
        docs = self.services.projects.documents(caller.project_id, urls=urls, document_ids=ids)
        found = {d.url for d in docs} | {d.id for d in docs}
        start = (args.page - 1) * args.page_size
        limit = args.max_chars_per_document
        return {
            "results": [
                {
                    "document_id": d.id,
                    "url": d.url,
                    "title": d.title,
                    "content": d.content[:limit],
                    "total_chars": len(d.content),
                    "truncated": len(d.content) > limit,
                }
                for d in docs[start : start + args.page_size]
            ],
            "page": args.page,
            "total": len(docs),
            "has_more": start + args.page_size < len(docs),
            "not_found": [k for k in dict.fromkeys([*urls, *ids]) if k not in found],
        }

    def ask(self, caller: Caller, args: AskArgs) -> dict[str, Any]:
        caller.require(CHAT_SCOPE)
        caller.limit_chat(self.services)
        request = ChatRequest(
            project_id=caller.project_id,
            query=args.question,
            source_ids=args.source_ids,
            api_key_id=caller.key.principal.key_id if caller.key else None,
        )
        done = collect(self.services.chat.stream(request))
        if done.ids is None:
            raise DocsageError("the answer could not be stored")
        return {
            "answer": done.text,
            "is_uncertain": done.meta.is_uncertain if done.meta else True,
            "sources": [
                {"n": n, "title": s["title"], "url": s["source_url"], "heading_path": s["subtitle"] or s["title"]}
                for n, s in enumerate(sources_of(done.hits), start=1)
            ],
            "question_answer_id": done.ids.question_answer_id,
        }
