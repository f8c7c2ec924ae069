"""/query/v1 chat, retrieval, search and feedback endpoints: thin adapters over the shared services."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import TypeAdapter

from docsage.answer.events import (
    AnswerEvent,
    ErrorEvent,
    IdentifiersEvent,
    MetadataEvent,
    SourcesEvent,
    StartEvent,
    TextDelta,
)
from docsage.api.compute import run_search
from docsage.api.deps import ServicesDep, limit_chat, limit_retrieval
from docsage.api.kapa.deps import PrincipalDep, own_project
from docsage.api.kapa.schemas import (
    ChatIn,
    ChatOut,
    CustomChatIn,
    CustomChatOut,
    CustomSource,
    DocumentOut,
    DocumentsIn,
    DocumentsOut,
    FeedbackIn,
    FeedbackOut,
    RetrievalIn,
    RetrievalResult,
    SearchIn,
    SearchResult,
    TicketOutcomeIn,
    TicketOutcomeOut,
)
from docsage.chat.custom import CustomChatRequest, CustomChatResult
from docsage.chat.service import ChatRequest, EndUserInfo, collect, sources_of
from docsage.errors import DocsageError, ProviderError
from docsage.redaction import redact
from docsage.services import Services

router = APIRouter(prefix="/query/v1")
RECORD_SEPARATOR = "\u241e"  # after every JSON object of a stream, the last one included
RETRIEVAL_RESULTS = TypeAdapter(list[RetrievalResult])


def _user(body_user: Any, request: Request) -> EndUserInfo | None:
    if body_user is None:
        return None
    meta = body_user.metadata.model_dump() if body_user.metadata else {}
    store_ip = bool(meta.pop("store_ip", False))
    return EndUserInfo(
        email=body_user.email,
        unique_client_id=body_user.unique_client_id,
        fingerprint_id=body_user.fingerprint_id,
        slack_id=body_user.slack_id,
        discord_id=body_user.discord_id,
        store_ip=store_ip,
        ip_address=request.client.host if request.client else None,
        metadata=meta,
    )


def _chat_request(project_id: str, body: ChatIn, request: Request, thread_id: str | None = None) -> ChatRequest:
    return ChatRequest(
        project_id=project_id,
        query=body.query,
        thread_id=thread_id,
        integration_id=str(body.integration_id) if body.integration_id else None,
        user=_user(body.user, request),
        metadata=body.metadata.model_dump() if body.metadata else {},
        redact=body.redact_query,
    )


def _relevant(hits: list[Any], internal: dict[str, bool], streamed: bool) -> list[dict[str, Any]]:
    out = []
    for s in sources_of(hits):
        item = {"source_url": s["source_url"], "title": s["title"]}
        if streamed:
            item |= {"subtitle": s["subtitle"], "source_type": "docs"}
        item["contains_internal_data"] = internal.get(s["source_id"], False)
        out.append(item)
    return out


def _internal_flags(services: Services, project_id: str) -> dict[str, bool]:
    return {s.id: s.contains_internal_data for s in services.projects.list_sources(project_id)}


def _collect(events: Iterator[AnswerEvent], internal: dict[str, bool]) -> ChatOut:
    done = collect(events)
    if done.ids is None:
        raise DocsageError("the answer could not be stored")
    return ChatOut(
        answer=done.text,
        thread_id=done.ids.thread_id,
        question_answer_id=done.ids.question_answer_id,
        is_uncertain=done.meta.is_uncertain if done.meta else True,
        relevant_sources=_relevant(done.hits, internal, streamed=False),
    )


def _frame(chunk_type: str, content: Any, end: bool = False) -> str:
    body = {"chunk": {"type": chunk_type, "content": content, "stream_end": end}}
    return json.dumps(body, ensure_ascii=False) + RECORD_SEPARATOR


def kapa_stream(events: Iterator[AnswerEvent], internal: dict[str, bool]) -> Iterator[str]:
    """The Kapa stream: JSON objects each followed by U+241E (not SSE, and the last one too).

    Order: stream_start, partial_answer…, metadata, identifiers, relevant_sources; the last object carries
    `stream_end: true` (also when there are no identifiers: custom chat with persist_answer false). Sources
    come last because the official React SDK keeps only the sources whose URL the answer text it holds at that
    moment mentions, and in a browser it releases streamed text gradually until `identifiers` flushes it: sent
    any earlier, the sources cited near the end of the answer (or all of them) would be dropped.
    """
    sources: SourcesEvent | None = None
    held: list[tuple[str, dict[str, Any]]] = []  # tail objects, held so that the last one can say stream_end

    def release(*, end: bool = False) -> Iterator[str]:
        for i, (kind, content) in enumerate(held):
            yield _frame(kind, content, end=end and i == len(held) - 1)
        held.clear()

    try:
        for event in events:
            if isinstance(event, StartEvent):
                yield _frame("stream_start", {"thread_id": event.thread_id})
            elif isinstance(event, SourcesEvent):
                sources = event
            elif isinstance(event, TextDelta):
                yield from release()
                yield _frame("partial_answer", {"text": event.text})
            elif isinstance(event, MetadataEvent):
                held.append(("metadata", {"is_uncertain": event.is_uncertain}))
            elif isinstance(event, IdentifiersEvent):
                ids = {"thread_id": event.thread_id, "question_answer_id": event.question_answer_id}
                held.append(("identifiers", ids))
            elif isinstance(event, ErrorEvent):
                yield from release()
                yield _frame("error", {"reason": event.reason}, end=True)
                return
    except DocsageError as exc:
        yield from release()
        yield _frame("error", {"reason": exc.message}, end=True)
        return
    if sources is not None:
        held.append(("relevant_sources", {"relevant_sources": _relevant(sources.hits, internal, streamed=True)}))
    yield from release(end=True)


def _streaming(events: Iterator[AnswerEvent], internal: dict[str, bool]) -> StreamingResponse:
    return StreamingResponse(
        kapa_stream(events, internal),
        media_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/projects/{project_id}/chat/", response_model=ChatOut, tags=["Chat"], summary="Chat")
def chat(project_id: str, body: ChatIn, request: Request, who: PrincipalDep, services: ServicesDep) -> ChatOut:
    """Ask a question; creates a thread and returns the answer with its sources."""
    own_project(project_id, who)
    limit_chat(services, who)
    events = services.chat.stream(_chat_request(project_id, body, request))
    return _collect(events, _internal_flags(services, project_id))


@router.post("/threads/{thread_id}/chat/", response_model=ChatOut, tags=["Chat"], summary="Chat in thread")
def chat_in_thread(thread_id: str, body: ChatIn, request: Request, who: PrincipalDep, services: ServicesDep) -> ChatOut:
    """Continue a thread: earlier turns are used to understand the follow-up."""
    limit_chat(services, who)
    events = services.chat.stream(_chat_request(who.project_id, body, request, thread_id))
    return _collect(events, _internal_flags(services, who.project_id))


@router.post("/projects/{project_id}/chat/stream/", tags=["Chat"], summary="Chat streamed")
def chat_stream(
    project_id: str, body: ChatIn, request: Request, who: PrincipalDep, services: ServicesDep
) -> StreamingResponse:
    """Streamed chat: JSON chunks each followed by U+241E — stream_start, partial_answer…, metadata, identifiers,
    relevant_sources (the last, with stream_end true) — or an error chunk."""
    own_project(project_id, who)
    limit_chat(services, who)
    events = services.chat.stream(_chat_request(project_id, body, request))
    return _streaming(events, _internal_flags(services, project_id))


@router.post("/threads/{thread_id}/chat/stream/", tags=["Chat"], summary="Chat in thread streamed")
def chat_in_thread_stream(
    thread_id: str, body: ChatIn, request: Request, who: PrincipalDep, services: ServicesDep
) -> StreamingResponse:
    """Streamed follow-up in a thread (same framing as chat streamed)."""
    limit_chat(services, who)
    events = services.chat.stream(_chat_request(who.project_id, body, request, thread_id))
    return _streaming(events, _internal_flags(services, who.project_id))


@router.post(
    "/projects/{project_id}/retrieval/", response_model=list[RetrievalResult], tags=["Retrieval"], summary="Retrieval"
)
async def retrieval(
    project_id: str, body: RetrievalIn, request: Request, who: PrincipalDep, services: ServicesDep
) -> Response:
    """Hybrid search without generation: the most relevant passages within `max_chars`, best first."""
    own_project(project_id, who)
    limit_retrieval(services, who)
    if body.integration_id is not None:
        services.projects.require_integration(project_id, str(body.integration_id))
    query = redact(body.query)[0] if body.redact_query else body.query
    hits = await run_search(
        request,
        services.retrieval.search,
        project_id,
        query,
        top_k=body.top_k,
        max_chars=body.max_chars,
        source_ids=body.source_group_ids_include,
    )
    # Serialised here in one pass (the response model above still documents it): letting FastAPI validate
    # the list again and then encode it costs more than the rest of the request handling.
    results = [RetrievalResult(source_url=h.source_url, content=h.content, title=h.title) for h in hits]
    return Response(RETRIEVAL_RESULTS.dump_json(results), media_type="application/json")


@router.post(
    "/projects/{project_id}/documents/", response_model=DocumentsOut, tags=["Retrieval"], summary="Get documents"
)
def documents(project_id: str, body: DocumentsIn, who: PrincipalDep, services: ServicesDep) -> DocumentsOut:
    """Whole documents by URL or id (what the official LangChain tool fetches after a retrieval)."""
    own_project(project_id, who)
    limit_retrieval(services, who)
    docs = services.projects.documents(
        project_id,
        urls=body.urls or [],
        document_ids=[str(d) for d in body.document_ids or []],
        source_ids=body.source_group_ids_include,
    )
    start = (body.page - 1) * body.page_size
    limit = body.max_chars_per_document
    return DocumentsOut(
        results=[
            DocumentOut(
                document_id=d.id,
                source_url=d.url,
                title=d.title,
                content=d.content[:limit] if limit else d.content,
                total_chars=len(d.content),
                truncated=bool(limit and len(d.content) > limit),
            )
            for d in docs[start : start + body.page_size]
        ]
    )


@router.post(
    "/projects/{project_id}/search/",
    response_model=list[SearchResult],
    tags=["Search"],
    summary="Search (deprecated)",
    deprecated=True,
)
def search(project_id: str, body: SearchIn, who: PrincipalDep, services: ServicesDep) -> list[SearchResult]:
    """Keyword (BM25) search; `include_source_names` restricts it to sources with those names or types."""
    own_project(project_id, who)
    limit_retrieval(services, who)
    sources = services.projects.list_sources(project_id)
    source_ids = None
    if body.include_source_names:
        wanted = {n.lower() for n in body.include_source_names}
        source_ids = [s.id for s in sources if s.name.lower() in wanted or s.type.lower() in wanted] or ["-"]
    types = {s.id: s.type for s in sources}
    hits = services.retrieval.search(
        project_id, body.query, top_k=body.num_results, mode="lexical", source_ids=source_ids
    )
    return [
        SearchResult(content=h.content, source_url=h.source_url, title=h.title, source_type=types.get(h.source_id, ""))
        for h in hits
    ]


@router.post(
    "/feedback/upsert/", response_model=FeedbackOut, status_code=201, tags=["Feedback"], summary="Upsert feedback"
)
def upsert_feedback(body: FeedbackIn, who: PrincipalDep, services: ServicesDep) -> FeedbackOut:
    """Record a user's up- or downvote on an answer; calling it again updates that user's feedback."""
    comment = body.comment.model_dump() if body.comment else None
    fb = services.feedback.upsert(
        who.project_id, str(body.question_answer), body.user_identifier, body.reaction, comment
    )
    return FeedbackOut(
        id=fb.id,
        comment=fb.comment,
        created_at=fb.created_at,
        updated_at=fb.updated_at,
        user_identifier=fb.user_identifier,
        reaction=fb.reaction,
        question_answer=fb.question_answer_id,
    )


@router.post(
    "/projects/{project_id}/ticket_outcomes/",
    response_model=TicketOutcomeOut,
    status_code=201,
    tags=["Support deflection"],
    summary="Record a support-ticket outcome (docsage extension)",
)
def ticket_outcome(
    project_id: str, body: TicketOutcomeIn, who: PrincipalDep, services: ServicesDep
) -> TicketOutcomeOut:
    """After a support form showed an answer, report whether the user still filed the ticket
    (`ticket_filed: false` counts as deflected). One outcome per question-answer; the latest report wins."""
    own_project(project_id, who)
    outcome = services.feedback.record_ticket(
        project_id,
        str(body.question_answer),
        body.ticket_filed,
        str(body.integration_id) if body.integration_id else None,
    )
    return TicketOutcomeOut(
        id=outcome.id,
        question_answer=outcome.question_answer_id,
        integration_id=outcome.integration_id,
        deflected=outcome.deflected,
        created_at=outcome.created_at,
    )


def _custom_request(project_id: str, body: CustomChatIn, services: Services) -> CustomChatRequest:
    return CustomChatRequest(
        project_id=project_id,
        messages=[(m.role, m.content or "") for m in body.messages],
        retrieval_query=body.retrieval_query,
        use_retrieval=body.use_retrieval,
        persist_answer=body.persist_answer,
        label_internal_sources=body.label_internal_sources,
        source_ids=[str(s) for s in body.source_ids_include] if body.source_ids_include else None,
        generation_model=body.generation_model,
        json_mode=body.response_format == "json_object",
        redact_conversation=body.redact_conversation,
        integration_id=str(body.integration_id) if body.integration_id else None,
        internal_sources=_internal_flags(services, project_id),
    )


@router.post(
    "/projects/{project_id}/chat/custom/",
    response_model=CustomChatOut,
    tags=["Custom chat"],
    summary="Custom chat (deprecated)",
    deprecated=True,
)
def custom_chat(project_id: str, body: CustomChatIn, who: PrincipalDep, services: ServicesDep) -> CustomChatOut:
    """Your own prompt: roles system/user/assistant plus `query` (at most one; used for retrieval and stored)
    and `context` (at most one; replaced by the retrieved passages). With the extractive provider the query
    is answered from the passages, as regular chat would (it has no model to follow a prompt)."""
    own_project(project_id, who)
    limit_chat(services, who)
    req = _custom_request(project_id, body, services)
    result = CustomChatResult()
    ids: IdentifiersEvent | None = None
    for event in services.custom_chat.run(req, result):
        if isinstance(event, ErrorEvent):
            raise ProviderError(event.reason)
        if isinstance(event, IdentifiersEvent):
            ids = event
    internal = req.internal_sources
    names = {s.id: s.name for s in services.projects.list_sources(project_id)}
    return CustomChatOut(
        answer=result.answer,
        thread_id=ids.thread_id if ids else None,
        question_answer_id=ids.question_answer_id if ids else None,
        messages=[{"role": r, "content": c} for r, c in result.messages],
        relevant_sources=[
            CustomSource(
                source_url=h.source_url,
                title=h.title,
                contains_internal_data=internal.get(h.source_id, False),
                content=h.content,
                source_name=names.get(h.source_id, ""),
            )
            for h in result.hits
        ],
    )


@router.post(
    "/projects/{project_id}/chat/custom/stream/",
    tags=["Custom chat"],
    summary="Custom chat streamed (deprecated)",
    deprecated=True,
)
def custom_chat_stream(
    project_id: str, body: CustomChatIn, who: PrincipalDep, services: ServicesDep
) -> StreamingResponse:
    """Custom chat with the same streamed framing as chat streamed."""
    own_project(project_id, who)
    limit_chat(services, who)
    req = _custom_request(project_id, body, services)
    return _streaming(services.custom_chat.run(req, CustomChatResult()), req.internal_sources)


# Seed 003 documents custom chat as `POST /query/v1/chat/custom` (no project in the path): there the key's own
# project is meant. Same handlers, same framing; hidden from the schema to keep one documented route each.
@router.post("/chat/custom/", response_model=CustomChatOut, include_in_schema=False)
def custom_chat_of_key(body: CustomChatIn, who: PrincipalDep, services: ServicesDep) -> CustomChatOut:
    return custom_chat(who.project_id, body, who, services)


@router.post("/chat/custom/stream/", include_in_schema=False)
def custom_chat_stream_of_key(body: CustomChatIn, who: PrincipalDep, services: ServicesDep) -> StreamingResponse:
    return custom_chat_stream(who.project_id, body, who, services)
