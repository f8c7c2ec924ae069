"""The answer engine every surface shares: condense, retrieve, judge coverage, generate — as one event stream."""

from __future__ import annotations

from collections.abc import Iterator

from docsage.answer.base import AnswerProvider, AnswerRequest, Turn
from docsage.answer.citations import link_citations
from docsage.answer.events import AnswerEvent, SourcesEvent, TextDelta
from docsage.config import Settings
from docsage.retrieval.service import RetrievalService


class AnswerService:
    def __init__(self, retrieval: RetrievalService, provider: AnswerProvider, settings: Settings) -> None:
        self.retrieval = retrieval
        self.provider = provider
        self.settings = settings

    def stream(
        self,
        project_id: str,
        question: str,
        history: list[Turn] | None = None,
        *,
        top_k: int | None = None,
        source_ids: list[str] | None = None,
    ) -> Iterator[AnswerEvent]:
        """Sources first, then text deltas, then one metadata event."""
        history = history or []
        query = self.provider.condense(question, history) if history else question
        hits = self.retrieval.search(
            project_id, query, top_k=top_k or self.settings.retrieval_top_k, source_ids=source_ids
        )
        coverage = self.retrieval.judge(project_id, query, hits)
        yield SourcesEvent(hits, query, coverage.covered)
        tail: list[AnswerEvent] = []  # the provider's metadata event, sent after the last (linked) delta

        def deltas() -> Iterator[TextDelta]:
            request = AnswerRequest(question, hits, history, coverage.covered, coverage.off_topic)
            for event in self.provider.generate(request):
                if isinstance(event, TextDelta):
                    yield event
                else:
                    tail.append(event)

        yield from link_citations(deltas(), hits)
        yield from tail
