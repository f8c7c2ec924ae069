"""The answer engine every surface shares: condense, retrieve, judge coverage, generate — as one event stream."""

from __future__ import annotations

from collections.abc import Iterator

from docsage.answer.base import AnswerProvider, AnswerRequest, Turn
from docsage.answer.citations import link_citations
from docsage.answer.events import AnswerEvent, SourcesEvent, TextDelta
from docsage.config import Settings
from docsage.retrieval.service import RetrievalService
from docsage.retrieval.types import Hit

AGREEMENT_RANK = 3


def is_covered(hits: list[Hit], threshold: float, agreement_threshold: float = 1.0) -> bool:
    """Do the docs cover the question?

    Yes when the best passage's cosine similarity reaches `threshold`, or when both retrievers rank the
    same passage in their top 3 and its cosine reaches `agreement_threshold`: short, specific questions
    score low cosines even against the right passage, but then BM25 and the embedding agree on it.
    Cosine is absolute (fused scores are only relative); `docsage eval --calibrate` measures both rules.
    """
    if not hits:
        return False
    if max(h.dense_score for h in hits) >= threshold:
        return True
    return any(
        0 < h.lexical_rank <= AGREEMENT_RANK
        and 0 < h.dense_rank <= AGREEMENT_RANK
        and h.dense_score >= agreement_threshold
        for h in hits
    )


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
        covered = is_covered(hits, self.settings.uncertain_threshold, self.settings.agreement_threshold)
        yield SourcesEvent(hits, query, covered)
        tail: list[AnswerEvent] = []  # the provider's metadata event, sent after the last (linked) delta

        def deltas() -> Iterator[TextDelta]:
            for event in self.provider.generate(AnswerRequest(question, hits, history, covered)):
                if isinstance(event, TextDelta):
                    yield event
                else:
                    tail.append(event)

        yield from link_citations(deltas(), hits)
        yield from tail
