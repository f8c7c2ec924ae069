"""Custom chat (Kapa's deprecated low-level endpoint): the caller writes the prompt, docsage fills in context."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from docsage.answer.base import AnswerProvider, AnswerRequest
from docsage.answer.events import (
    AnswerEvent,
    ErrorEvent,
    IdentifiersEvent,
    MetadataEvent,
    SourcesEvent,
    StartEvent,
    TextDelta,
)
from docsage.chat.service import save_answer, sources_of
from docsage.config import Settings
from docsage.db.conversations import ThreadRepository
from docsage.db.engine import Database
from docsage.db.models import QuestionAnswer, Thread
from docsage.errors import DocsageError, InvalidInputError
from docsage.projects.service import require_integration
from docsage.redaction import redact
from docsage.retrieval.service import RetrievalService
from docsage.retrieval.types import Hit

ROLES = ("system", "user", "assistant", "query", "context")


@dataclass(frozen=True)
class CustomChatRequest:
    project_id: str
    messages: list[tuple[str, str]]  # (role, content); a context message's content is ignored
    retrieval_query: str | None = None
    use_retrieval: bool = True
    persist_answer: bool = True
    label_internal_sources: bool = False
    source_ids: list[str] | None = None
    generation_model: str = ""
    json_mode: bool = False
    redact_conversation: bool = False
    integration_id: str | None = None
    internal_sources: dict[str, bool] = field(default_factory=dict)


@dataclass
class CustomChatResult:
    """Filled while the events are consumed: the final messages sent to the model and the passages used."""

    messages: list[tuple[str, str]] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    answer: str = ""


def validate(messages: list[tuple[str, str]]) -> None:
    counts = {role: sum(1 for r, _ in messages for _ in [0] if r == role) for role in ROLES}
    unknown = [r for r, _ in messages if r not in ROLES]
    if unknown:
        raise InvalidInputError(f"unknown message role {unknown[0]!r}; roles are {', '.join(ROLES)}")
    for role in ("system", "query", "context"):
        if counts[role] > 1:
            raise InvalidInputError(f"there can be only one {role} message")
    if not messages:
        raise InvalidInputError("messages must not be empty")


def context_text(hits: list[Hit], label_internal: bool, internal: dict[str, bool]) -> str:
    parts = []
    for i, h in enumerate(hits, start=1):
        label = " (internal)" if label_internal and internal.get(h.source_id) else ""
        parts.append(f"[{i}] {h.title}{label} — {h.source_url}\n{h.content}")
    return "Context from the documentation:\n\n" + "\n\n".join(parts) if parts else "No relevant context was found."


class CustomChatService:
    def __init__(
        self, database: Database, retrieval: RetrievalService, provider: AnswerProvider, settings: Settings
    ) -> None:
        self.database = database
        self.retrieval = retrieval
        self.provider = provider
        self.settings = settings

    def run(self, req: CustomChatRequest, result: CustomChatResult) -> Iterator[AnswerEvent]:
        """Validates at once (before any event); then StartEvent (when persisting), sources, deltas, metadata,
        identifiers."""
        validate(req.messages)
        messages = [(r, redact(c)[0] if req.redact_conversation else c) for r, c in req.messages]
        redacted = req.redact_conversation and messages != req.messages
        query = next((c for r, c in messages if r == "query"), None)
        retrieval_query = req.retrieval_query or query
        if req.use_retrieval and not retrieval_query:
            raise InvalidInputError("retrieval needs a query message or a retrieval_query")
        thread_id = self._thread(req)
        return self._events(req, result, messages, query, retrieval_query, thread_id, redacted)

    def _thread(self, req: CustomChatRequest) -> str | None:
        """The new thread the answer will be stored in (None when it is not to be stored)."""
        with self.database.session() as session:
            require_integration(session, req.project_id, req.integration_id)
            if not req.persist_answer:
                return None
            return (
                ThreadRepository(session).add(Thread(project_id=req.project_id, integration_id=req.integration_id)).id
            )

    def _events(
        self,
        req: CustomChatRequest,
        result: CustomChatResult,
        messages: list[tuple[str, str]],
        query: str | None,
        retrieval_query: str | None,
        thread_id: str | None,
        redacted: bool,
    ) -> Iterator[AnswerEvent]:
        started = time.perf_counter()
        if thread_id:
            yield StartEvent(thread_id)
        hits: list[Hit] = []
        if req.use_retrieval and retrieval_query:
            hits = self.retrieval.search(
                req.project_id, retrieval_query, top_k=self.settings.retrieval_top_k, source_ids=req.source_ids
            )
        result.hits = hits
        context = context_text(hits, req.label_internal_sources, req.internal_sources)
        final = [("user" if r in ("query", "context") else r, context if r == "context" else c) for r, c in messages]
        result.messages = final
        yield SourcesEvent(hits)
        parts: list[str] = []
        meta: MetadataEvent | None = None
        try:
            if self.provider.follows_prompts:
                stream = self.provider.complete(final, json_mode=req.json_mode)
            else:  # no language model: answer the query from the passages, as the regular chat would
                question = query or retrieval_query or next((c for r, c in reversed(messages) if r == "user"), "")
                coverage = self.retrieval.judge(req.project_id, retrieval_query or question, hits)
                stream = self.provider.generate(AnswerRequest(question, hits, [], coverage.covered, coverage.off_topic))
                if req.json_mode:
                    stream = _as_json(stream, hits)
            for event in stream:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                else:
                    meta = event
                yield event
        except DocsageError as exc:
            yield ErrorEvent(exc.message)
            return
        result.answer = "".join(parts)
        if thread_id is None:
            return
        question = query or retrieval_query or next((c for r, c in reversed(messages) if r == "user"), "")
        qa_id = save_answer(
            self.database,
            self.settings.prices,
            QuestionAnswer(
                thread_id=thread_id,
                project_id=req.project_id,
                integration_id=req.integration_id,
                question=question,
                retrieval_query=retrieval_query or "",
                answer=result.answer,
                is_redacted=redacted,
                relevant_sources=sources_of(hits),
                extra={"custom_chat": True, "generation_model": req.generation_model},
            ),
            meta,
            started,
        )
        yield IdentifiersEvent(thread_id, qa_id)


def _as_json(stream: Iterator[TextDelta | MetadataEvent], hits: list[Hit]) -> Iterator[TextDelta | MetadataEvent]:
    """Wrap an answer as one JSON object (response_format json_object without a model that can do it)."""
    text: list[str] = []
    tail: list[TextDelta | MetadataEvent] = []
    for event in stream:
        if isinstance(event, TextDelta):
            text.append(event.text)
        else:
            tail.append(event)
    payload: dict[str, Any] = {"answer": "".join(text), "sources": [h.source_url for h in hits]}
    yield TextDelta(json.dumps(payload, ensure_ascii=False))
    yield from tail
