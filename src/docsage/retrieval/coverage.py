"""Do the docs cover a question? Judged from the passages retrieval found for it, before any generation.

Three signals, measured with `docsage eval --calibrate` (figures in docs/answers.md):
- the best passage's cosine similarity (absolute, unlike fused scores);
- agreement: BM25 and the embedding both rank the same passage in their top 3 (short, specific questions
  score low cosines even against the right passage, but then the two retrievers agree on it);
- term coverage: the share of the question's IDF weight that its best-matching passage contains. This is
  what catches a question on a topic the docs discuss but whose specific subject they lack (the page
  about it is missing): the neighbouring pages score high cosines but miss the question's rare terms.
"""

from __future__ import annotations

from docsage.index.lexical import analyze
from docsage.retrieval.types import Hit

AGREEMENT_RANK = 3


def best_term_share(hits: list[Hit], term_weights: dict[str, float]) -> float:
    """The largest share of the query's term weight found in one passage (title and headings included)."""
    total = sum(term_weights.values())
    if total <= 0:
        return 1.0  # nothing to weigh (a query of stopwords only): this signal abstains
    best = 0.0
    for hit in hits:
        terms = set(analyze(f"{hit.title} {hit.heading_path} {hit.content}"))
        best = max(best, sum(w for t, w in term_weights.items() if t in terms) / total)
    return best


def is_covered(
    hits: list[Hit],
    *,
    threshold: float,
    agreement_threshold: float = 1.0,
    term_weights: dict[str, float] | None = None,
    term_share: float = 0.0,
) -> bool:
    """Covered when (the best cosine reaches `threshold`, or both retrievers rank a passage in their top 3 and
    its cosine reaches `agreement_threshold`) and one passage holds `term_share` of the query's term weight."""
    if not hits:
        return False
    similar = max(h.dense_score for h in hits) >= threshold or any(
        0 < h.lexical_rank <= AGREEMENT_RANK
        and 0 < h.dense_rank <= AGREEMENT_RANK
        and h.dense_score >= agreement_threshold
        for h in hits
    )
    if not similar:
        return False
    return term_weights is None or term_share <= 0 or best_term_share(hits, term_weights) >= term_share
