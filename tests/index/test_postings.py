"""The compact BM25 postings (int32 rows and uint16 frequencies in merged segments) score and weigh terms
exactly as the per-term float32 lists they replaced did, whatever the batches they were appended in."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from docsage.index.postings import K1, B, LexicalPostings, bm25_idf


class ListPostings:
    """The representation before index/postings.py (docsage 0.x index/lexical.py): one list of
    (int32 rows, float32 tf) arrays per term, scored by the same formula."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.lists: list[list[tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]]] = []
        self.doclen = np.zeros(0, dtype=np.float32)

    def add(self, first_row: int, docs: list[str]) -> None:
        rows: list[int] = []
        terms: list[int] = []
        lengths = np.zeros(len(docs), dtype=np.float32)
        for offset, doc in enumerate(docs):
            toks = doc.split()
            lengths[offset] = len(toks)
            for tok in toks:
                if tok not in self.vocab:
                    self.vocab[tok] = len(self.vocab)
                    self.lists.append([])
                terms.append(self.vocab[tok])
            rows.extend([first_row + offset] * len(toks))
        self.doclen = np.concatenate([self.doclen[:first_row], lengths])
        if not terms:
            return
        pairs = np.asarray(terms, dtype=np.int64) * (1 << 32) + np.asarray(rows, dtype=np.int64)
        uniq, counts = np.unique(pairs, return_counts=True)
        term_ids, row_ids = uniq >> 32, (uniq & 0xFFFFFFFF).astype(np.int32)
        bounds = np.flatnonzero(np.diff(term_ids)) + 1
        for start, end in zip(np.r_[0, bounds], np.r_[bounds, len(uniq)], strict=True):
            self.lists[int(term_ids[start])].append((row_ids[start:end], counts[start:end].astype(np.float32)))

    def _postings(self, tid: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        segs = self.lists[tid]
        return np.concatenate([r for r, _ in segs]), np.concatenate([t for _, t in segs])

    def idf(self, terms: list[str], alive: npt.NDArray[np.bool_]) -> dict[str, float]:
        n_alive = int(np.count_nonzero(alive))
        out = {}
        for term in terms:
            tid = self.vocab.get(term)
            df = int(np.count_nonzero(alive[self._postings(tid)[0]])) if tid is not None else 0
            out[term] = float(bm25_idf(n_alive, df))
        return out

    def score(self, query_terms: list[str], alive: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
        n_rows, n_alive = len(alive), int(np.count_nonzero(alive))
        tids = [tid for term in dict.fromkeys(query_terms) if (tid := self.vocab.get(term)) is not None]
        postings = [self._postings(tid) for tid in tids]
        if n_alive == 0 or not postings:
            return np.zeros(n_rows, dtype=np.float32)
        doclen = self.doclen[:n_rows]
        avgdl = float(doclen[alive].mean()) or 1.0
        rows = np.concatenate([r for r, _ in postings])
        tf = np.concatenate([t for _, t in postings])
        term = np.repeat(np.arange(len(postings)), [len(r) for r, _ in postings])
        keep = alive[rows]
        rows, tf, term = rows[keep], tf[keep], term[keep]
        df = np.bincount(term, minlength=len(postings))
        weight = bm25_idf(n_alive, df)[term] * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * doclen[rows] / avgdl))
        return np.bincount(rows, weights=weight, minlength=n_rows).astype(np.float32)


def _corpus(rng: np.random.Generator, n: int) -> list[str]:
    """Zipf-distributed terms, chunk lengths from empty to a few hundred, doubled spaces now and then."""
    vocab = [f"t{i}" for i in range(3000)]
    docs = []
    for _ in range(n):
        picks = np.minimum(rng.zipf(1.3, size=int(rng.integers(0, 300))), len(vocab)) - 1
        sep = "  " if rng.random() < 0.05 else " "
        docs.append(sep.join(vocab[i] for i in picks))
    return docs


def test_compact_postings_score_bit_for_bit_as_the_lists_did() -> None:
    rng = np.random.default_rng(11)
    docs = _corpus(rng, 6000)
    docs[17] = " ".join(["t5"] * 70_000 + ["t9"])  # a frequency past uint16: stored exactly as uint32
    compact, lists = LexicalPostings(), ListPostings()
    start = 0
    for size in (1, 2, 500, 500, 1000, 37, 37, 1923, 2000):  # equal and growing batches: segments merge
        compact.add(start, docs[start : start + size])
        lists.add(start, docs[start : start + size])
        start += size
    assert start == len(docs)
    assert compact.segments < 9
    alive = np.ones(len(docs), dtype=np.bool_)
    alive[rng.choice(len(docs), 900, replace=False)] = False
    queries = [[f"t{i}" for i in rng.integers(0, 200, size=int(rng.integers(1, 12)))] for _ in range(200)]
    queries += [["t5", "t9"], ["t0", "t0", "t1"], ["nowhere"], ["t2999", "t3"]]
    for mask in (np.ones(len(docs), dtype=np.bool_), alive):
        for terms in queries:
            assert np.array_equal(compact.score(terms, mask), lists.score(terms, mask)), terms
            assert compact.idf(terms, mask) == lists.idf(terms, mask)


def test_a_reader_scores_only_the_rows_it_knows() -> None:
    """A search holding an alive mask of n rows ignores rows appended after it took the mask."""
    postings = LexicalPostings()
    postings.add(0, ["apple pear", "apple", "plum"])
    before = np.ones(3, dtype=np.bool_)
    first = postings.score(["apple"], before)
    postings.add(3, ["apple apple", "apple"])
    assert np.array_equal(postings.score(["apple"], before), first)
    assert postings.score(["apple"], np.ones(5, dtype=np.bool_))[3] > 0
