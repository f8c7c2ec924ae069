"""Hybrid fusion ranks pages by all of their passages: a page whose several sections answer beats a page with one
marginally better sentence, and a page whose words are in one section and meaning in the next counts both.
Pure arithmetic over candidate lists (no embedder), so every gap asserted here is exact on every CPU."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from docsage.index.base import CandidateSet
from docsage.retrieval.hybrid import by_page, zscore

# Background candidates: what the rest of a corpus returns, so that z-scores have a mean and a spread.
BACKGROUND = [(float(b), 0.20 + 0.01 * b) for b in range(1, 21)]


def candidates(pages: dict[str, list[tuple[float, float]]]) -> tuple[CandidateSet, list[str]]:
    """A candidate set from (BM25, cosine) per chunk, by page; background chunks each on a page of their own."""
    rows: list[tuple[str, float, float]] = [
        (page, lex, dense) for page, chunks in pages.items() for lex, dense in chunks
    ]
    rows += [(f"background-{i}", lex, dense) for i, (lex, dense) in enumerate(BACKGROUND)]
    names = [page for page, _, _ in rows]
    codes = {name: i for i, name in enumerate(dict.fromkeys(names))}
    lexical = np.array([lex for _, lex, _ in rows], dtype=np.float32)
    dense = np.array([d for _, _, d in rows], dtype=np.float32)
    n = len(rows)
    ranks = np.arange(1, n + 1, dtype=np.int64)
    cands = CandidateSet(
        pks=np.arange(n, dtype=np.int64),
        lexical=lexical,
        dense=dense,
        lexical_rank=ranks,
        dense_rank=ranks,
        lexical_top=lexical,
        dense_top=dense,
        documents=np.array([codes[name] for name in names], dtype=np.int32),
    )
    return cands, names


def page_order(scores: np.ndarray, names: list[str]) -> list[str]:
    return list(dict.fromkeys(names[i] for i in np.argsort(-scores, kind="stable")))


def test_a_page_answered_by_several_sections_outranks_one_marginally_better_sentence() -> None:
    cands, names = candidates(
        {
            "one-sentence": [(30.0, 0.70)],
            "whole-page": [(29.0, 0.69), (28.5, 0.68), (28.0, 0.68)],
        }
    )
    single = zscore(cands)
    assert page_order(single, names)[:2] == ["one-sentence", "whole-page"]
    pooled = by_page(cands, temperature=0.5, cross=0.0)
    assert page_order(pooled, names)[:2] == ["whole-page", "one-sentence"]
    # not a coin toss: the three sections add more than the single sentence's lead
    lead = single[0] - single[1]
    gain = pooled[1] - single[1]
    assert gain > 2 * lead


def test_a_page_with_its_words_in_one_section_and_its_meaning_in_the_next_counts_both() -> None:
    cands, names = candidates(
        {
            "moderate": [(24.0, 0.55)],
            "split": [(30.0, 0.25), (5.0, 0.70)],  # the query's words here, its meaning in the next section
        }
    )
    assert page_order(by_page(cands, temperature=0.0, cross=0.0), names)[0] == "moderate"
    assert page_order(by_page(cands, temperature=0.0, cross=0.5), names)[0] == "split"


def test_each_page_is_carried_by_its_best_passage_and_passages_keep_their_order_within_a_page() -> None:
    cands, names = candidates({"a": [(30.0, 0.70), (10.0, 0.30), (20.0, 0.50)], "b": [(25.0, 0.60)]})
    fused = zscore(cands)
    pooled = by_page(cands)
    order = [int(i) for i in np.argsort(-pooled, kind="stable")]
    a_chunks = [i for i in order if names[i] == "a"]
    assert a_chunks == [i for i in np.argsort(-fused, kind="stable") if names[i] == "a"] == [0, 2, 1]
    # every chunk of a page moves by the same amount: what the rest of its page adds
    shift = pooled[:3] - fused[:3]
    assert np.allclose(shift, shift[0])


@pytest.mark.parametrize("empty", ["lexical", "dense"])
def test_with_one_retriever_empty_the_other_ranks_alone(empty: str) -> None:
    cands, names = candidates({"a": [(30.0, 0.70)], "b": [(20.0, 0.50)]})
    none = np.zeros(0, dtype=np.float32)
    if empty == "lexical":  # no query word occurs anywhere
        cands = replace(cands, lexical=np.zeros_like(cands.lexical), lexical_top=none)
    else:
        cands = replace(cands, dense_top=none)
    assert page_order(by_page(cands), names)[:2] == ["a", "b"]
    assert page_order(by_page(CandidateSet.empty()), []) == []


def test_without_page_terms_fusion_is_plain_zscore() -> None:
    cands, _ = candidates({"a": [(30.0, 0.70), (29.0, 0.69)], "b": [(25.0, 0.60)]})
    assert np.allclose(by_page(cands, temperature=0.0, cross=0.0), zscore(cands))
