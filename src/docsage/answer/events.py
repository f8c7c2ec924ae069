"""The one internal answer-event stream that every surface renders in its own framing."""

from __future__ import annotations

from dataclasses import dataclass, field

from docsage.retrieval.types import Hit


@dataclass(frozen=True)
class StartEvent:
    """The conversation this answer belongs to (sent first, before any retrieval)."""

    thread_id: str
    # For threads bound to a browser (opened with a public key): the secret that continues the thread.
    session_token: str = ""


@dataclass(frozen=True)
class SourcesEvent:
    """The passages the answer is based on, in citation order ([1] is hits[0]), and the query that found them
    (the question itself, or its standalone rewrite when it was a follow-up)."""

    hits: list[Hit]
    query: str = ""
    covered: bool = True  # retrieval's verdict: do the passages cover the question? (the provider may still hedge)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class MetadataEvent:
    is_uncertain: bool
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IdentifiersEvent:
    """Ids of the stored thread and question-answer (emitted once the answer is persisted)."""

    thread_id: str
    question_answer_id: str


@dataclass(frozen=True)
class ErrorEvent:
    reason: str


AnswerEvent = StartEvent | SourcesEvent | TextDelta | MetadataEvent | IdentifiersEvent | ErrorEvent
