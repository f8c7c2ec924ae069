"""The answer-event stream as OpenAI's server-sent chunks: a role chunk, content deltas, a finish chunk that
carries the sources, optionally a usage chunk, then `data: [DONE]`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from docsage.answer.events import (
    AnswerEvent,
    ErrorEvent,
    IdentifiersEvent,
    MetadataEvent,
    SourcesEvent,
    StartEvent,
    TextDelta,
)
from docsage.api.openai_compat.errors import error_detail
from docsage.api.openai_compat.schemas import SourceOut, chunk
from docsage.chat.service import sources_of
from docsage.errors import DocsageError
from docsage.retrieval.types import Hit


def completion_sources(hits: list[Hit]) -> list[SourceOut]:
    return [SourceOut(title=s["title"], url=s["source_url"], subtitle=s["subtitle"]) for s in sources_of(hits)]


def _data(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _failure(message: str) -> str:
    return _data({"error": error_detail(500, message, "provider_error").model_dump()})


def sse_chunks(events: Iterator[AnswerEvent], model: str, created: int, include_usage: bool) -> Iterator[str]:
    """`events` from ChatService.stream, whose first event (StartEvent) names the thread the id is made of."""
    completion_id = "chatcmpl-"
    hits: list[Hit] = []
    meta: MetadataEvent | None = None
    ids: IdentifiersEvent | None = None
    try:
        for event in events:
            if isinstance(event, TextDelta):
                yield _data(chunk(completion_id, created, model, {"content": event.text}))
            elif isinstance(event, StartEvent):
                completion_id = f"chatcmpl-{event.thread_id}"
                yield _data(chunk(completion_id, created, model, {"role": "assistant", "content": ""}))
            elif isinstance(event, SourcesEvent):
                hits = event.hits
            elif isinstance(event, MetadataEvent):
                meta = event
            elif isinstance(event, IdentifiersEvent):
                ids = event
            elif isinstance(event, ErrorEvent):
                yield _failure(event.reason)
                return
    except DocsageError as exc:
        yield _failure(exc.message)
        return
    yield _data(
        chunk(
            completion_id,
            created,
            model,
            {},
            finish_reason="stop",
            sources=[s.model_dump() for s in completion_sources(hits)],
            is_uncertain=meta.is_uncertain if meta else True,
            question_answer_id=ids.question_answer_id if ids else None,
        )
    )
    if include_usage:
        prompt, completion = (meta.prompt_tokens, meta.completion_tokens) if meta else (0, 0)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        yield _data({**chunk(completion_id, created, model, {}), "choices": [], "usage": usage})
    yield "data: [DONE]\n\n"
