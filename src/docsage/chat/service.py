"""Conversations: threads that remember earlier turns, persisted question-answers, end users, feedback."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from docsage.answer.base import Turn
from docsage.answer.events import (
    AnswerEvent,
    ErrorEvent,
    IdentifiersEvent,
    MetadataEvent,
    SourcesEvent,
    StartEvent,
    TextDelta,
)
from docsage.answer.service import AnswerService
from docsage.db.conversations import EndUserRepository, QuestionAnswerRepository, ThreadRepository
from docsage.db.engine import Database
from docsage.db.models import EndUser, QuestionAnswer, Thread, utcnow
from docsage.errors import DocsageError, NotFoundError, ProviderError
from docsage.pricing import cost
from docsage.projects.service import require_integration
from docsage.redaction import redact
from docsage.retrieval.types import Hit

HISTORY_TURNS = 6
USER_FIELDS = ("email", "unique_client_id", "fingerprint_id", "slack_id", "discord_id")
# An unverified identity (one a web page sent) is stored as its own end user, keyed by the browser-bound id with
# this prefix, so it never matches an end user a server-side caller named, and this EndUser.extra key records
# what it claimed to be (email, unique_client_id) without that claim being trusted anywhere.
PUBLIC_BROWSER_PREFIX = "public:"
UNVERIFIED_CLAIMS = "unverified_claims"


@dataclass(frozen=True)
class EndUserInfo:
    email: str | None = None
    unique_client_id: str | None = None
    fingerprint_id: str | None = None
    slack_id: str | None = None
    discord_id: str | None = None
    store_ip: bool = False
    ip_address: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # False when anyone could have typed it (the public widget proxy): matched only to the same browser.
    verified: bool = True

    def identifiers(self) -> dict[str, str]:
        return {k: v for k in USER_FIELDS if (v := getattr(self, k))}


@dataclass(frozen=True)
class ChatRequest:
    project_id: str
    query: str
    thread_id: str | None = None
    integration_id: str | None = None
    user: EndUserInfo | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    redact: bool = False
    source_ids: list[str] | None = None
    api_key_id: str | None = None  # the chatbot app the question came through
    # Public callers hold only an integration id: they continue only threads started through that integration.
    require_integration_match: bool = False
    # Public keys: a new thread is bound to the caller by a random token, and only that token continues it.
    bind_session: bool = False
    session_token: str | None = None
    # Earlier turns the caller holds itself (stateless APIs such as the OpenAI-compatible one send the whole
    # conversation each time): the new thread's history, condensed with the question like a thread's own.
    history: tuple[Turn, ...] = ()


def session_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def owns_session(thread: Thread, api_key_id: str | None, token: str | None) -> bool:
    """Whether a public caller proved a thread is theirs: opened with the same key, holding its token."""
    return (
        thread.api_key_id is not None
        and thread.api_key_id == api_key_id
        and thread.session_token_hash is not None
        and token is not None
        and hmac.compare_digest(thread.session_token_hash, session_token_hash(token))
    )


def sources_of(hits: list[Hit]) -> list[dict[str, Any]]:
    """One entry per document, in order of first citation: what `relevant_sources` shows."""
    seen: dict[str, dict[str, Any]] = {}
    for h in hits:
        if h.source_url not in seen:
            seen[h.source_url] = {
                "source_url": h.source_url,
                "title": h.title,
                "subtitle": h.heading_path if h.heading_path != h.title else "",
                "source_id": h.source_id,
                "document_id": h.document_id,
            }
    return list(seen.values())


def save_answer(
    database: Database,
    prices: dict[str, tuple[float, float]],
    qa: QuestionAnswer,
    meta: MetadataEvent | None,
    started: float,
) -> str:
    """Store a question-answer with the provider's verdict, model, token usage, cost and latency; its id."""
    qa.is_uncertain = meta.is_uncertain if meta else True
    qa.model = meta.model if meta else ""
    qa.prompt_tokens = meta.prompt_tokens if meta else 0
    qa.completion_tokens = meta.completion_tokens if meta else 0
    qa.cost = cost(qa.model, qa.prompt_tokens, qa.completion_tokens, prices)
    qa.latency_ms = (time.perf_counter() - started) * 1000
    with database.session() as session:
        return QuestionAnswerRepository(session).add(qa).id


@dataclass
class CollectedAnswer:
    """A whole answer gathered from its event stream (for surfaces that do not stream)."""

    text: str = ""
    hits: list[Hit] = field(default_factory=list)
    meta: MetadataEvent | None = None
    ids: IdentifiersEvent | None = None
    session_token: str = ""


def collect(events: Iterator[AnswerEvent]) -> CollectedAnswer:
    """Consume an answer stream; a failure event becomes a ProviderError."""
    out = CollectedAnswer()
    parts: list[str] = []
    for event in events:
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, StartEvent):
            out.session_token = event.session_token
        elif isinstance(event, SourcesEvent):
            out.hits = event.hits
        elif isinstance(event, MetadataEvent):
            out.meta = event
        elif isinstance(event, IdentifiersEvent):
            out.ids = event
        elif isinstance(event, ErrorEvent):
            raise ProviderError(event.reason)
    out.text = "".join(parts)
    return out


class ChatService:
    def __init__(
        self, database: Database, answers: AnswerService, prices: dict[str, tuple[float, float]] | None = None
    ) -> None:
        self.database = database
        self.answers = answers
        self.prices = prices or {}

    def _end_user(self, project_id: str, info: EndUserInfo | None) -> str | None:
        if info is not None and not info.verified:
            return self._unverified_end_user(project_id, info)
        if info is None or not info.identifiers():
            return None
        with self.database.session() as session:
            repo = EndUserRepository(session)
            user = repo.find(project_id, **info.identifiers())
            if user is None:
                user = repo.add(EndUser(project_id=project_id, **info.identifiers()))
            for key, value in info.identifiers().items():
                setattr(user, key, value)
            user.latest_activity_at = utcnow()
            if info.store_ip and info.ip_address:
                user.ip_address = info.ip_address
            if info.metadata:
                user.extra = {**user.extra, **info.metadata}
                company = info.metadata.get("company_name") or info.metadata.get("company")
                if isinstance(company, str):
                    user.company_name = company
            return user.id

    def _unverified_end_user(self, project_id: str, info: EndUserInfo) -> str | None:
        """The end user of one browser (its fingerprint or cookie id), found only among end users made the same
        way. The email, client id and metadata it claims are kept on that end user alone (claims under
        UNVERIFIED_CLAIMS, metadata in `extra`, no company column), so naming someone else merges nothing into
        their record; without a browser id nothing ties the claim to anyone and the question stays anonymous."""
        if not info.fingerprint_id:
            return None
        browser_id = PUBLIC_BROWSER_PREFIX + info.fingerprint_id
        claims = {k: v for k, v in (("email", info.email), ("unique_client_id", info.unique_client_id)) if v}
        with self.database.session() as session:
            repo = EndUserRepository(session)
            user = repo.find(project_id, fingerprint_id=browser_id)
            if user is None:
                user = repo.add(EndUser(project_id=project_id, fingerprint_id=browser_id))
            user.latest_activity_at = utcnow()
            earlier = user.extra.get(UNVERIFIED_CLAIMS) or {}
            user.extra = {**user.extra, **info.metadata, UNVERIFIED_CLAIMS: {**earlier, **claims}}
            return user.id

    def _open_thread(self, req: ChatRequest, end_user_id: str | None) -> tuple[str, list[Turn], bool, str]:
        """(thread id, earlier turns, created now, session token) — a thread of another project, or one the
        caller cannot prove is theirs, is 'not found'."""
        with self.database.session() as session:
            require_integration(session, req.project_id, req.integration_id)
            threads = ThreadRepository(session)
            if req.thread_id is None:
                token = secrets.token_urlsafe(18) if req.bind_session else ""
                thread = threads.add(
                    Thread(
                        project_id=req.project_id,
                        integration_id=req.integration_id,
                        end_user_id=end_user_id,
                        api_key_id=req.api_key_id,
                        session_token_hash=session_token_hash(token) if token else None,
                    )
                )
                return thread.id, list(req.history[-HISTORY_TURNS:]), True, token
            thread_row = threads.get(req.thread_id)
            if (
                thread_row is None
                or thread_row.project_id != req.project_id
                or (req.require_integration_match and thread_row.integration_id != req.integration_id)
                or (req.bind_session and not owns_session(thread_row, req.api_key_id, req.session_token))
            ):
                raise NotFoundError(f"thread {req.thread_id} not found")
            thread_row.updated_at = utcnow()
            earlier = QuestionAnswerRepository(session).for_thread(thread_row.id)[-HISTORY_TURNS:]
            # A follow-up of a follow-up must see what the earlier turn was about: its standalone query.
            turns = [Turn(qa.retrieval_query or qa.question, qa.answer) for qa in earlier]
            return thread_row.id, turns, False, req.session_token or ""

    def stream(self, req: ChatRequest) -> Iterator[AnswerEvent]:
        """StartEvent, sources, text deltas, metadata, then identifiers once the answer is stored.

        Validation (unknown thread or integration) happens in this call, before any event, so a surface can
        still answer with an error status; a failure during generation yields one ErrorEvent and stores nothing.
        """
        started = time.perf_counter()
        question, was_redacted = redact(req.query) if req.redact else (req.query, False)
        end_user_id = self._end_user(req.project_id, req.user)
        thread_id, history, created, token = self._open_thread(req, end_user_id)
        return self._generate(req, question, was_redacted, end_user_id, thread_id, history, created, started, token)

    def _generate(
        self,
        req: ChatRequest,
        question: str,
        was_redacted: bool,
        end_user_id: str | None,
        thread_id: str,
        history: list[Turn],
        created: bool,
        started: float,
        session_token: str = "",
    ) -> Iterator[AnswerEvent]:
        yield StartEvent(thread_id, session_token)
        sources = SourcesEvent([], question, covered=False)
        parts: list[str] = []
        meta: MetadataEvent | None = None

        def store(interrupted: bool = False) -> str:
            return save_answer(
                self.database,
                self.prices,
                QuestionAnswer(
                    thread_id=thread_id,
                    project_id=req.project_id,
                    integration_id=req.integration_id,
                    end_user_id=end_user_id,
                    api_key_id=req.api_key_id,
                    question=question,
                    retrieval_query=sources.query or question,
                    answer="".join(parts),
                    is_redacted=was_redacted,
                    relevant_sources=sources_of(sources.hits),
                    extra=req.metadata,
                    interrupted=interrupted,
                ),
                meta or (MetadataEvent(is_uncertain=not sources.covered, model="") if interrupted else None),
                started,
            )

        try:
            for event in self.answers.stream(req.project_id, question, history, source_ids=req.source_ids):
                if isinstance(event, SourcesEvent):
                    sources = event
                elif isinstance(event, TextDelta):
                    parts.append(event.text)
                elif isinstance(event, MetadataEvent):
                    meta = event
                yield event
        except DocsageError as exc:
            self._discard(thread_id, created)
            yield ErrorEvent(exc.message)
            return
        except GeneratorExit:
            # The client went away mid-answer (closed the tab, cancelled the request): the question was still
            # asked, so it is kept for the thread and the analytics, with the part of the answer it was sent.
            store(interrupted=True)
            raise
        qa_id = store()
        yield IdentifiersEvent(thread_id, qa_id)

    def _discard(self, thread_id: str, created: bool) -> None:
        if not created:
            return
        with self.database.session() as session:
            threads = ThreadRepository(session)
            thread = threads.get(thread_id)
            if thread is not None:
                threads.delete(thread)
