"""Fusion of the lexical and dense rankings: z-score (default) or reciprocal rank fusion."""

from __future__ import annotations

import numpy as np

from docsage.index.base import CandidateSet


def rrf(cands: CandidateSet, k: int = 60) -> dict[int, float]:
    """score = Σ 1/(k + rank) over the retrievers whose top list holds the chunk."""
    return {
        c.pk: (1.0 / (k + c.lexical_rank) if c.lexical_rank else 0.0)
        + (1.0 / (k + c.dense_rank) if c.dense_rank else 0.0)
        for c in cands.candidates
    }


def _stats(scores: list[float]) -> tuple[float, float]:
    if len(scores) < 2:
        return (scores[0] if scores else 0.0), 1.0
    arr = np.asarray(scores, dtype=np.float64)
    return float(arr.mean()), float(arr.std()) or 1.0


def zscore(cands: CandidateSet, alpha: float = 0.5) -> dict[int, float]:
    """score = α·z(BM25) + (1-α)·z(cosine), each standardised by its own top list's mean and deviation.

    Unlike RRF, this keeps how far ahead a chunk is: a clear lexical match (an error code, an API name) is
    not flattened to "rank 1". Both raw scores are exact for every candidate, so no missing-value guess is
    needed. With no lexical match at all the ranking is dense-only.
    """
    if not cands.lexical_top:
        return {c.pk: c.dense for c in cands.candidates}
    if not cands.dense_top:
        return {c.pk: c.lexical for c in cands.candidates}
    lm, ls = _stats(cands.lexical_top)
    dm, ds = _stats(cands.dense_top)
    return {c.pk: alpha * (c.lexical - lm) / ls + (1 - alpha) * (c.dense - dm) / ds for c in cands.candidates}
