"""Retrieval results as every surface sees them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with the document it belongs to.

    `score` is the fused score used for ranking (hybrid: z-scores, a page's other passages included, or RRF);
    `dense_score` is the cosine similarity of the chunk to the query (an absolute figure, used for uncertainty),
    `lexical_rank`/`dense_rank` are 1-based ranks in each retriever (0 when that retriever did not return the
    chunk).
    """

    chunk_id: str
    document_id: str
    source_id: str
    source_url: str
    title: str
    heading_path: str
    content: str
    score: float
    dense_score: float = 0.0
    lexical_rank: int = 0
    dense_rank: int = 0
