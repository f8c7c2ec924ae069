"""IR metrics on toy rankings whose values are computed by hand."""

from __future__ import annotations

import math

import pytest

from docsage.evaluation.metrics import dedupe, evaluate, mrr_at_k, ndcg_at_k, recall_at_k

LOG2_3 = math.log2(3)


def test_ndcg_perfect_ranking_is_one() -> None:
    assert ndcg_at_k(["a", "b", "x"], {"a": 1, "b": 1}, 10) == pytest.approx(1.0)


def test_ndcg_binary_relevance() -> None:
    # Relevant at ranks 1 and 3: DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3).
    expected = 1.5 / (1 + 1 / LOG2_3)
    assert expected == pytest.approx(0.919721, abs=1e-6)
    assert ndcg_at_k(["a", "x", "c"], {"a": 1, "c": 1}, 10) == pytest.approx(expected)


def test_ndcg_graded_relevance_uses_linear_gain() -> None:
    # Ranking b(1), a(2): DCG = 1/1 + 2/log2(3); ideal a(2), b(1): 2/1 + 1/log2(3).
    expected = (1 + 2 / LOG2_3) / (2 + 1 / LOG2_3)
    assert expected == pytest.approx(0.859719, abs=1e-6)
    assert ndcg_at_k(["b", "a"], {"a": 2, "b": 1}, 10) == pytest.approx(expected)


def test_ndcg_only_counts_the_top_k() -> None:
    ranking = [f"x{i}" for i in range(10)] + ["a"]
    assert ndcg_at_k(ranking, {"a": 1}, 10) == 0.0
    assert ndcg_at_k(ranking, {"a": 1}, 11) == pytest.approx(1 / math.log2(12))


def test_ndcg_ideal_is_cut_at_k_too() -> None:
    # Three relevant documents, k = 2: the ideal DCG@2 has two of them, so a top-2 of relevant ones is perfect.
    assert ndcg_at_k(["a", "b", "c"], {"a": 1, "b": 1, "c": 1}, 2) == pytest.approx(1.0)


def test_ndcg_without_relevant_documents_is_zero() -> None:
    assert ndcg_at_k(["a"], {}, 10) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0
    assert ndcg_at_k([], {"a": 1}, 10) == 0.0


def test_recall() -> None:
    rels = {"a": 1, "b": 1, "c": 1, "z": 0}
    assert recall_at_k(["a", "x", "b", "c"], rels, 3) == pytest.approx(2 / 3)
    assert recall_at_k(["a", "x", "b", "c"], rels, 4) == pytest.approx(1.0)
    assert recall_at_k(["z"], rels, 10) == 0.0  # judged non-relevant does not count
    assert recall_at_k(["a"], {}, 10) == 0.0


def test_mrr() -> None:
    assert mrr_at_k(["a", "b"], {"a": 1}, 10) == 1.0
    assert mrr_at_k(["x", "y", "a", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "y", "a"], {"a": 1}, 2) == 0.0
    assert mrr_at_k(["x", "z"], {"z": 0}, 10) == 0.0


def test_dedupe_keeps_each_documents_best_rank() -> None:
    assert dedupe(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]


def test_evaluate_averages_over_queries_with_relevant_documents() -> None:
    qrels = {
        "q1": {"a": 1},  # found first: every metric 1
        "q2": {"b": 1, "c": 1},  # b at rank 2, c missing
        "q3": {"d": 1},  # no results at all: every metric 0
        "q4": {"e": 0},  # nothing relevant: not averaged
    }
    run = {"q1": ["a", "x"], "q2": ["x", "b"], "q4": ["e"]}
    q2_ndcg = (1 / LOG2_3) / (1 + 1 / LOG2_3)
    scores = evaluate(qrels, run)
    assert scores["ndcg@10"] == pytest.approx((1 + q2_ndcg + 0) / 3)
    assert scores["recall@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert scores["recall@100"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert scores["mrr@10"] == pytest.approx((1 + 0.5 + 0) / 3)


def test_evaluate_without_judged_queries_is_all_zero() -> None:
    assert evaluate({}, {}) == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
