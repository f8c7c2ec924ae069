"""Hybrid retrieval: FTS5 bm25 and dense vectors fused with RRF, pruned to top_k and max_chars."""

from __future__ import annotations

from typing import Literal

from docsage.config import Settings
from docsage.db.engine import Database
from docsage.embed.base import Embedder
from docsage.index.base import IndexBackend
from docsage.retrieval.hybrid import rrf
from docsage.retrieval.types import Hit

Mode = Literal["hybrid", "lexical", "dense"]


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
        self.database = database
        self.index = index
        self.embedder = embedder
        self.settings = settings

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
    ) -> list[Hit]:
        depth = max(candidates or self.settings.retrieval_candidates, top_k)
        vector = self.embedder.embed_query(query) if mode != "lexical" else None
        with self.database.session() as session:
            lexical = (
                self.index.search_lexical(session, project_id, query, depth, source_ids) if mode != "dense" else []
            )
            dense = (
                self.index.search_vector(session, project_id, vector, depth, source_ids)
                if vector is not None
                else []
            )
            lex_rank = {pk: i for i, (pk, _) in enumerate(lexical, start=1)}
            dense_rank = {pk: i for i, (pk, _) in enumerate(dense, start=1)}
            if mode == "hybrid":
                fused = rrf([[pk for pk, _ in lexical], [pk for pk, _ in dense]], k=self.settings.rrf_k)
            else:
                fused = lexical if mode == "lexical" else dense
            top = fused[:top_k]
            pks = [pk for pk, _ in top]
            stored = self.index.load(session, pks)
            cosines = dict(dense)
            missing = [pk for pk in pks if pk not in cosines]
            if vector is not None and missing:
                cosines.update(self.index.vector_scores(session, project_id, vector, missing))
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
                dense_score=cosines.get(pk, 0.0),
                lexical_rank=lex_rank.get(pk, 0),
                dense_rank=dense_rank.get(pk, 0),
            )
            for pk, score in top
            if pk in stored
        ]
        return prune_to_chars(hits, max_chars) if max_chars is not None else hits
