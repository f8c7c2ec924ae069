"""Document-level IR metrics, as trec_eval computes them (nDCG linear gain, Recall@k, MRR@k)."""

from __future__ import annotations

import math

Qrels = dict[str, dict[str, int]]
Run = dict[str, list[str]]


def dedupe(doc_ids: list[str]) -> list[str]:
    """Keep each document's first (best-ranked) occurrence: chunk rankings become document rankings."""
    return list(dict.fromkeys(doc_ids))


def ndcg_at_k(ranking: list[str], rels: dict[str, int], k: int) -> float:
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]) if rels.get(d, 0) > 0)
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: list[str], rels: dict[str, int], k: int) -> float:
    relevant = {d for d, r in rels.items() if r > 0}
    return len(relevant.intersection(ranking[:k])) / len(relevant) if relevant else 0.0


def mrr_at_k(ranking: list[str], rels: dict[str, int], k: int) -> float:
    for i, d in enumerate(ranking[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def success_at_k(ranking: list[str], rels: dict[str, int], k: int) -> float:
    """1 when a relevant document is among the first k ("the right page in the top 3"), else 0."""
    return 1.0 if any(rels.get(d, 0) > 0 for d in ranking[:k]) else 0.0


def evaluate(qrels: Qrels, run: Run) -> dict[str, float]:
    """Averages over every query with at least one relevant document; a query without results scores 0."""
    queries = [q for q, rels in qrels.items() if any(r > 0 for r in rels.values())]
    if not queries:
        return {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    sums = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    for q in queries:
        ranking, rels = run.get(q, []), qrels[q]
        sums["ndcg@10"] += ndcg_at_k(ranking, rels, 10)
        sums["recall@10"] += recall_at_k(ranking, rels, 10)
        sums["recall@100"] += recall_at_k(ranking, rels, 100)
        sums["mrr@10"] += mrr_at_k(ranking, rels, 10)
    return {name: total / len(queries) for name, total in sums.items()}
