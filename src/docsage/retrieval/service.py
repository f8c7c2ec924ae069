"""Hybrid retrieval: BM25 and dense vectors fused (z-score or RRF), pruned to top_k and max_chars."""

from __future__ import annotations

import threading
from typing import Literal

import numpy as np

from docsage.config import Settings
from docsage.db.engine import Database
from docsage.embed.base import Embedder
from docsage.errors import InvalidInputError
from docsage.index.base import CandidateSet, IndexBackend
from docsage.index.lexical import analyze
from docsage.retrieval.coverage import Coverage, CoverageRule, judge
from docsage.retrieval.hybrid import by_page, rrf, zscore
from docsage.retrieval.types import Hit

Mode = Literal["hybrid", "lexical", "dense"]
MODES = ("hybrid", "lexical", "dense")
FUSIONS = ("zscore", "rrf")
# Z-score fusion passage by passage, without the page terms: what `docsage eval` measures the default against.
PASSAGE_ZSCORE = "zscore-passages"


def prune_to_chars(hits: list[Hit], max_chars: int) -> list[Hit]:
    """Most relevant first, while the running total of content fits; the first hit is cut to fit if needed."""
    kept: list[Hit] = []
    used = 0
    for hit in hits:
        size = len(hit.content)
        if used + size <= max_chars:
            kept.append(hit)
            used += size
        elif not kept:
            kept.append(Hit(**{**hit.__dict__, "content": hit.content[:max_chars]}))
            used = max_chars
    return kept


class RetrievalService:
    def __init__(self, database: Database, index: IndexBackend, embedder: Embedder, settings: Settings) -> None:
        if settings.fusion not in FUSIONS:
            raise InvalidInputError(f"unknown fusion {settings.fusion!r}; choose one of {', '.join(FUSIONS)}")
        self.database = database
        self.index = index
        self.embedder = embedder
        self.settings = settings
        # Searches are CPU work that mostly holds the GIL: more at once than cores only convoy. Every caller
        # (the retrieval API, chat streams on Starlette's thread pool, the CLI) waits here for a turn instead.
        self._turns = threading.BoundedSemaphore(settings.resolved_search_threads())

    def _rank(self, cands: CandidateSet, mode: Mode, fusion: str, top_k: int) -> list[tuple[int, float]]:
        """(candidate index, score) of the best `top_k`, best first."""
        if mode == "lexical":
            scores = np.where(cands.lexical_rank > 0, cands.lexical.astype(np.float64), -np.inf)
        elif mode == "dense":
            scores = np.where(cands.dense_rank > 0, cands.dense.astype(np.float64), -np.inf)
        elif fusion == "rrf":
            scores = rrf(cands, self.settings.rrf_k)
        elif fusion == PASSAGE_ZSCORE:
            scores = zscore(cands, self.settings.fusion_alpha)
        else:
            s = self.settings
            scores = by_page(cands, s.fusion_alpha, s.page_temperature, s.page_cross_weight)
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [(int(i), float(scores[i])) for i in order if np.isfinite(scores[i])]

    def search(
        self,
        project_id: str,
        query: str,
        *,
        top_k: int = 10,
        max_chars: int | None = None,
        mode: Mode = "hybrid",
        source_ids: list[str] | None = None,
        candidates: int | None = None,
        fusion: str | None = None,
    ) -> list[Hit]:
        """Best chunks first. Every hit carries its exact cosine similarity (used to judge coverage)."""
        if mode not in MODES:
            raise InvalidInputError(f"unknown retrieval mode {mode!r}; choose one of {', '.join(MODES)}")
        depth = max(candidates or self.settings.retrieval_candidates, top_k)
        with self._turns, self.database.session() as session:
            vector = self.embedder.embed_query(query) if mode != "lexical" else None
            lexical_query = query if mode != "dense" else ""  # an empty query skips BM25 scoring
            cands = self.index.candidates(session, project_id, lexical_query, vector, depth, source_ids)
            top = self._rank(cands, mode, fusion or self.settings.fusion, top_k)
            stored = self.index.load(session, [int(cands.pks[i]) for i, _ in top])
        hits = [
            Hit(
                chunk_id=stored[pk].chunk_id,
                document_id=stored[pk].document_id,
                source_id=stored[pk].source_id,
                source_url=stored[pk].url,
                title=stored[pk].title,
                heading_path=stored[pk].heading_path,
                content=stored[pk].text,
                score=score,
                dense_score=float(cands.dense[i]),
                lexical_rank=int(cands.lexical_rank[i]),
                dense_rank=int(cands.dense_rank[i]),
            )
            for i, score in top
            if (pk := int(cands.pks[i])) in stored
        ]
        return prune_to_chars(hits, max_chars) if max_chars is not None else hits

    def term_weights(self, project_id: str, query: str) -> dict[str, float]:
        """BM25 IDF of each of the query's index terms over the project's live chunks (absent terms weigh most)."""
        terms = list(dict.fromkeys(analyze(query)))
        if not terms:
            return {}
        with self.database.session() as session:
            return self.index.term_weights(session, project_id, terms)

    @property
    def coverage_rule(self) -> CoverageRule:
        s = self.settings
        return CoverageRule(
            s.coverage_strong_share,
            s.coverage_weak_share,
            s.coverage_close_cosine,
            s.coverage_off_topic_cosine,
            s.coverage_agreement_rank,
        )

    def judge(self, project_id: str, query: str, hits: list[Hit]) -> Coverage:
        """Whether these passages (found for `query`) cover it, by the configured rule (see coverage.py)."""
        weights = self.term_weights(project_id, query) if hits else {}
        return judge(hits, weights, self.coverage_rule, query)
