"""Fusion of the lexical and dense rankings, vectorised: z-score (default) or reciprocal rank fusion, and pages
ranked by all of their passages."""

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


def _standardised(cands: CandidateSet, alpha: float) -> tuple[Scores, Scores]:
    """α·z(BM25) and (1-α)·z(cosine) of every candidate, each z by its own top list's mean and deviation.
    When one retriever found nothing (no query word occurs anywhere), the other counts alone, at full weight."""
    lex = cands.lexical.astype(np.float64)
    dense = cands.dense.astype(np.float64)
    zero = np.zeros(len(lex), dtype=np.float64)
    if not len(cands.lexical_top) and not len(cands.dense_top):
        return zero, zero
    lm, ls = _stats(cands.lexical_top)
    dm, ds = _stats(cands.dense_top)
    if not len(cands.lexical_top):
        return zero, (dense - dm) / ds
    if not len(cands.dense_top):
        return (lex - lm) / ls, zero
    return alpha * (lex - lm) / ls, (1 - alpha) * (dense - dm) / ds


def zscore(cands: CandidateSet, alpha: float = 0.5) -> Scores:
    """score = α·z(BM25) + (1-α)·z(cosine), each standardised by its own top list's mean and deviation.

    Unlike RRF, this keeps how far ahead a chunk is: a clear lexical match (an error code, an API name) is
    not flattened to "rank 1". Both raw scores are exact for every candidate, so no missing-value guess is
    needed. With no lexical match at all the ranking is dense-only.
    """
    lex, dense = _standardised(cands, alpha)
    return lex + dense


def by_page(cands: CandidateSet, alpha: float = 0.5, temperature: float = 0.5, cross: float = 0.25) -> Scores:
    """Z-score fusion, with every chunk raised by what the rest of its page adds, so that pages rank by all of
    their passages rather than by their single best one.

    A page scores (1 - cross) · T·log Σ exp(fused / T) over its chunks — a soft maximum: the best passage, plus
    up to T·log(n) for n passages nearly as good — and cross · (α·z(BM25) + (1-α)·z(cosine)) of its best chunk
    by each retriever, which need not be the same chunk (the words in one section, the meaning in the next).
    Each chunk gets its own fused score plus (page score - the page's best fused score), so the best chunk of a
    page carries the page's score exactly and a chunk list read page by page is the page ranking.

    Measured in one run (docs/retrieval.md): nDCG@10 SciFact 0.7335 → 0.7353, anthropic_docs 0.9259 → 0.9324;
    on documentation sets not tuned on, the right page first for 72 → 75 % (simpy) and 83 → 92 % (coverage).
    """
    lex, dense = _standardised(cands, alpha)
    fused = lex + dense
    if not len(fused) or (temperature <= 0 and cross <= 0):
        return fused
    _, page = np.unique(cands.documents, return_inverse=True)
    pages = int(page.max()) + 1
    best = np.full(pages, -np.inf)
    np.maximum.at(best, page, fused)
    pooled = best
    if temperature > 0:
        # exp of a non-positive number: no overflow, and the best passage contributes exactly 1
        mass = np.bincount(page, weights=np.exp((fused - best[page]) / temperature), minlength=pages)
        pooled = best + temperature * np.log(mass)
    if cross > 0:
        best_lex = np.full(pages, -np.inf)
        best_dense = np.full(pages, -np.inf)
        np.maximum.at(best_lex, page, lex)
        np.maximum.at(best_dense, page, dense)
        pooled = (1 - cross) * pooled + cross * (best_lex + best_dense)
    return np.asarray(fused + (pooled - best)[page], dtype=np.float64)
