"""/api/v1 endpoints (seed 004): chat with SSE streaming, usage, sessions, documents, feedback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from docsage.analytics.service import in_range
from docsage.answer.events import (
    AnswerEvent,
    ErrorEvent,
    IdentifiersEvent,
    MetadataEvent,
    SourcesEvent,
    StartEvent,
    TextDelta,
)
from docsage.api.chatbot.deps import (
    API_PREFIX,
    App,
    AppDep,
    ChatApp,
    DocumentsApp,
    FeedbackApp,
    UsageApp,
    session_id_for,
    split_session_id,
)
from docsage.api.deps import Principal, ServicesDep, limit_chat, limit_public_chat, limit_uploads
from docsage.chat.service import ChatRequest, collect, sources_of
from docsage.errors import DocsageError, ForbiddenError, InvalidInputError
from docsage.services import Services

router = APIRouter(prefix=API_PREFIX, tags=["Chatbot API"])


class ChatIn(BaseModel):
    message: str = Field(min_length=1, max_length=5000, description="The user's message.")
    session_id: str | None = Field(default=None, description="Continue this session (from an earlier reply).")
    stream: bool = Field(default=False, description="Reply as server-sent events.")
    api_key: str | None = Field(default=None, description="The key, when no Authorization header can be set.")


class FeedbackIn(BaseModel):
    question_answer_id: str
    reaction: Literal["up", "down", "upvote", "downvote"]
    user_identifier: str = Field(default="anonymous", min_length=1, max_length=200)
    comment: str | None = Field(default=None, max_length=5000)


def _sources(hits: list[Any]) -> list[dict[str, str]]:
    return [{"title": s["title"], "url": s["source_url"], "subtitle": s["subtitle"]} for s in sources_of(hits)]


def _events(services: Services, app: App, body: ChatIn, request: Request) -> Iterator[AnswerEvent]:
    if app.public:  # anonymous visitors of a web page: their own budgets, never the team's server-side one
        limit_public_chat(services, app.key_id, request.client.host if request.client else None)
    else:
        limit_chat(services, Principal(app.key_id, app.project_id, app.team_id))
    thread_id, token = split_session_id(body.session_id)
    return services.chat.stream(
        ChatRequest(
            project_id=app.project_id,
            query=body.message,
            thread_id=thread_id,
            api_key_id=app.key_id,
            # A key that may not list sessions reads back only those it can prove are its own.
            bind_session=app.public or "sessions" not in app.scopes,
            session_token=token,
        )
    )


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def sse_stream(events: Iterator[AnswerEvent]) -> Iterator[str]:
    """`message` events with text deltas, then `sources`, then `end` with the session id; `error` on failure."""
    session_id = ""
    hits: list[Any] = []
    uncertain = True
    try:
        for event in events:
            if isinstance(event, StartEvent):
                session_id = session_id_for(event.thread_id, event.session_token)
            elif isinstance(event, SourcesEvent):
                hits = event.hits
            elif isinstance(event, TextDelta):
                yield _sse("message", {"content": event.text})
            elif isinstance(event, MetadataEvent):
                uncertain = event.is_uncertain
            elif isinstance(event, IdentifiersEvent):
                yield _sse("sources", {"sources": _sources(hits)})
                yield _sse(
                    "end",
                    {"session_id": session_id, "message_id": event.question_answer_id, "is_uncertain": uncertain},
                )
            elif isinstance(event, ErrorEvent):
                yield _sse("error", {"error": event.reason})
                return
    except DocsageError as exc:
        yield _sse("error", {"error": exc.message})


@router.post("/chat", summary="Send a message")
def chat(body: ChatIn, app: ChatApp, services: ServicesDep, request: Request) -> Any:
    """Answer a message from the project's docs. `stream: true` replies as server-sent events:
    `event: message` / `data: {"content": …}` per text delta, `event: sources`, then `event: end` /
    `data: {"session_id": …}`; a failure is `event: error`. Sessions keep context across turns: send the
    `session_id` back as it was given (a public key's session ids carry a token that proves the session is
    the caller's)."""
    events = _events(services, app, body, request)
    if body.stream:
        return StreamingResponse(
            sse_stream(events),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    done = collect(events)
    meta = done.meta
    return {
        "success": True,
        "session_id": session_id_for(done.ids.thread_id, done.session_token) if done.ids else None,
        "message_id": done.ids.question_answer_id if done.ids else None,
        "answer": done.text,
        "sources": _sources(done.hits),
        "is_uncertain": meta.is_uncertain if meta else True,
        "usage": {
            "input_tokens": meta.prompt_tokens if meta else 0,
            "output_tokens": meta.completion_tokens if meta else 0,
            "model": meta.model if meta else "",
        },
    }


@router.post("/feedback", summary="Rate an answer")
def feedback(body: FeedbackIn, app: FeedbackApp, services: ServicesDep) -> dict[str, Any]:
    """Thumbs up or down on one answer (`message_id` of a chat reply); a second call updates it. A public key
    rates only answers given through it."""
    reaction = "upvote" if body.reaction in ("up", "upvote") else "downvote"
    comment = {"issue": body.comment} if body.comment else None
    fb = services.feedback.upsert(
        app.project_id,
        body.question_answer_id,
        body.user_identifier,
        reaction,
        comment,
        api_key_id=app.key_id if app.public else None,
    )
    return {"success": True, "feedback": {"id": fb.id, "reaction": fb.reaction, "message_id": fb.question_answer_id}}


def _day(value: date | None, *, end: bool) -> datetime | None:
    if value is None:
        return None
    in_range(value, "end_date" if end else "start_date")
    start = datetime.combine(value, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


@router.get("/usage", summary="Usage and cost")
def usage(
    app: UsageApp,
    services: ServicesDep,
    start_date: Annotated[date | None, Query(description="First day, YYYY-MM-DD (UTC).")] = None,
    end_date: Annotated[date | None, Query(description="Last day, YYYY-MM-DD (UTC), inclusive.")] = None,
) -> dict[str, Any]:
    """Requests, tokens and cost of this app (key), in total and per model. Local models cost 0."""
    if start_date and end_date and end_date < start_date:
        raise InvalidInputError("end_date must not be before start_date")
    rows = services.analytics.usage(app.project_id, app.key_id, _day(start_date, end=False), _day(end_date, end=True))
    by_model: list[dict[str, Any]] = [
        {"model": m, "requests": n, "input_tokens": i, "output_tokens": o, "total_tokens": i + o, "cost": round(c, 6)}
        for m, n, i, o, c in rows
    ]
    return {
        "success": True,
        "usage": {
            "total_requests": sum(r["requests"] for r in by_model),
            "total_input_tokens": sum(r["input_tokens"] for r in by_model),
            "total_output_tokens": sum(r["output_tokens"] for r in by_model),
            "total_tokens": sum(r["total_tokens"] for r in by_model),
            "total_cost": round(sum(r["cost"] for r in by_model), 6),
        },
        "by_model": by_model,
    }


@router.get("/sessions", summary="Chat sessions")
def sessions(
    app: AppDep,
    services: ServicesDep,
    page: Annotated[int, Query(ge=1, le=1_000_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    include_all: Annotated[bool, Query(description="All sessions of the project, not only this app's.")] = False,
    session_id: Annotated[
        str | None, Query(max_length=200, description="Only this session (what a public key may read).")
    ] = None,
) -> dict[str, Any]:
    """Sessions with answers, most recent activity first. A key without the `sessions` scope (a public key by
    default) reads only its own session: pass the `session_id` its chat reply gave."""
    own_only = "sessions" not in app.scopes
    if own_only and (include_all or not session_id):
        raise ForbiddenError(
            "this key may read only its own session: pass session_id (listing sessions needs the sessions scope)"
        )
    thread_id, token = split_session_id(session_id)
    rows, has_more = services.analytics.sessions(
        app.project_id,
        None if include_all else app.key_id,
        page,
        per_page,
        thread_id=thread_id,
        session_token=token if own_only else None,
        require_token=own_only,
    )
    return {
        "success": True,
        "sessions": [
            {
                "session_id": session_id if own_only and session_id else t.id,
                "last_at": last.isoformat().replace("+00:00", "Z"),
                "total_tokens": tokens,
                "preview": preview[:120],
            }
            for t, last, tokens, preview in rows
        ],
        "meta": {"current_page": page, "per_page": per_page, "has_more": has_more},
    }


@router.post("/documents", summary="Upload a document", status_code=201)
async def upload_document(
    app: DocumentsApp,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="md, txt, html, rst or pdf")],
    response: Response,
    wait: Annotated[
        float, Query(ge=0, le=60, description="Seconds to wait for indexing before answering 202 (0: at once).")
    ] = 10,
) -> dict[str, Any]:
    """Uploads are indexed by a background job. Within `wait` seconds the reply is 201 with the indexed
    document (`status: ready`, its chunks) or the reason it could not be indexed; after that it is 202 with
    `status: queued` or `processing` — follow it with GET /api/v1/documents/{id}. The server keeps answering
    while it indexes."""
    limit = services.settings.upload_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(f"file is larger than the {limit}-byte upload limit")
    limit_uploads(services, app.key_id)
    doc = await run_in_threadpool(services.uploads.add, app.project_id, file.filename or "upload", data)
    deadline = monotonic() + wait
    while doc["status"] in ("queued", "processing") and monotonic() < deadline:
        await asyncio.sleep(0.05)
        doc = await run_in_threadpool(services.uploads.status, app.project_id, doc["id"])
    if doc["status"] == "failed":
        raise InvalidInputError(doc["error"] or "the document could not be indexed")
    response.status_code = 201 if doc["status"] == "ready" else 202
    return {"success": True, "document": doc}


@router.get("/documents", summary="List uploaded documents")
def list_documents(app: DocumentsApp, services: ServicesDep) -> dict[str, Any]:
    """Every upload with its status: ready, queued, processing or failed (with the reason)."""
    return {"success": True, "documents": services.uploads.list(app.project_id)}


@router.get("/documents/{document_id}", summary="One uploaded document and its indexing status")
def get_document(document_id: str, app: DocumentsApp, services: ServicesDep) -> dict[str, Any]:
    return {"success": True, "document": services.uploads.status(app.project_id, document_id)}


@router.delete("/documents/{document_id}", summary="Delete a document (GDPR)")
def delete_document(document_id: str, app: DocumentsApp, services: ServicesDep) -> dict[str, Any]:
    """Removes the document with every chunk, lexical entry and vector: no search or answer returns it again."""
    services.uploads.delete(app.project_id, document_id)
    return {"success": True, "deleted": document_id}


class PayloadTooLargeError(DocsageError):
    code = "payload_too_large"
    http_status = 413
