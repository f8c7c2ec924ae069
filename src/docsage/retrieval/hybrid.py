"""Fusion of the lexical and dense rankings, vectorised: z-score (default) or reciprocal rank fusion."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from docsage.index.base import CandidateSet

Scores = npt.NDArray[np.float64]


def rrf(cands: CandidateSet, k: int = 60) -> Scores:
    """score = Σ 1/(k + rank) over the retrievers whose top list holds the chunk."""
    lex = np.where(cands.lexical_rank > 0, 1.0 / (k + cands.lexical_rank), 0.0)
    dense = np.where(cands.dense_rank > 0, 1.0 / (k + cands.dense_rank), 0.0)
    return np.asarray(lex + dense, dtype=np.float64)


def _stats(scores: npt.NDArray[np.float32]) -> tuple[float, float]:
    if len(scores) < 2:
        return (float(scores[0]) if len(scores) else 0.0), 1.0
    return float(scores.mean()), float(scores.std()) or 1.0


def zscore(cands: CandidateSet, alpha: float = 0.5) -> Scores:
    """score = α·z(BM25) + (1-α)·z(cosine), each standardised by its own top list's mean and deviation.

    Unlike RRF, this keeps how far ahead a chunk is: a clear lexical match (an error code, an API name) is
    not flattened to "rank 1". Both raw scores are exact for every candidate, so no missing-value guess is
    needed. With no lexical match at all the ranking is dense-only.
    """
    if not len(cands.lexical_top):
        return cands.dense.astype(np.float64)
    if not len(cands.dense_top):
        return cands.lexical.astype(np.float64)
    lm, ls = _stats(cands.lexical_top)
    dm, ds = _stats(cands.dense_top)
    return np.asarray(alpha * (cands.lexical - lm) / ls + (1 - alpha) * (cands.dense - dm) / ds, dtype=np.float64)
