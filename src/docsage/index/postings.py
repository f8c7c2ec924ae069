"""BM25 postings in compressed sparse rows: int32 row ids and uint16 term frequencies per term, in a few
segments merged as they grow, scored by vectorised numpy (the bm25s approach).

At 100,000 chunks the earlier per-term lists of float32 arrays took 145 MB of a replica's memory; these
take 6 bytes a posting plus one offset per term and segment (docs/retrieval.md, "PostgreSQL"): a whole
replica measured 636 MB with a 500,000-chunk project, about 0.85 GB expected at 1M chunks. Scores and
IDF are computed exactly as before, operation for operation (term frequencies widen to the same floats),
so they are bit for bit the same.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Anserini's BM25 defaults; on SciFact chunks they beat Lucene's 1.2/0.75 (nDCG@10 0.689 vs 0.684).
K1 = 0.9
B = 0.4

# A segment is merged with the one before it once it is half that one's size, up to this many rows: few
# segments to visit per query term (about 8 at 1M chunks), and a merge never holds more than ~2 x 30 MB.
MAX_SEGMENT_ROWS = 1 << 17

Postings = tuple[npt.NDArray[np.int32], npt.NDArray[np.unsignedinteger]]


def bm25_idf(n_alive: int, df: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """BM25 inverse document frequency (Lucene's, always positive)."""
    df = np.asarray(df, dtype=np.float64)
    return np.asarray(np.log(1.0 + (n_alive - df + 0.5) / (df + 0.5)))


@dataclass(frozen=True)
class Segment:
    """Postings of rows first_row..first_row+n_rows-1: term t's are rows[indptr[t]:indptr[t+1]]."""

    first_row: int
    n_rows: int
    indptr: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int32]
    tf: npt.NDArray[np.uint16] | npt.NDArray[np.uint32]

    def postings(self, tid: int, below: int) -> Postings | None:
        """Term tid's (rows, tf) among rows under `below` (a reader's row count: rows appended after it
        took its alive mask are not its to score)."""
        if tid + 1 >= len(self.indptr) or self.first_row >= below:
            return None
        start, end = int(self.indptr[tid]), int(self.indptr[tid + 1])
        if self.first_row + self.n_rows > below:
            end = start + int(np.searchsorted(self.rows[start:end], below))
        return (self.rows[start:end], self.tf[start:end]) if end > start else None

    @property
    def nbytes(self) -> int:
        return int(self.indptr.nbytes + self.rows.nbytes + self.tf.nbytes)


def _tf_array(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.uint16] | npt.NDArray[np.uint32]:
    """uint16 unless a term occurs over 65,535 times in one chunk (then uint32: frequencies stay exact)."""
    if not len(counts) or counts.max() <= 0xFFFF:
        return counts.astype(np.uint16)
    return counts.astype(np.uint32)


def _build(first_row: int, n_rows: int, term_ids: npt.NDArray[np.int64], row_ids: npt.NDArray[np.int64]) -> Segment:
    """A segment from one (term, row) pair per token occurrence."""
    pairs = term_ids * (1 << 32) + row_ids
    uniq, counts = np.unique(pairs, return_counts=True)
    terms = uniq >> 32
    vocab = int(terms[-1]) + 1 if len(terms) else 0
    indptr = np.zeros(vocab + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=vocab), out=indptr[1:])
    return Segment(first_row, n_rows, indptr, (uniq & 0xFFFFFFFF).astype(np.int32), _tf_array(counts))


def _merge(a: Segment, b: Segment) -> Segment:
    """One segment holding a's postings then b's for every term (b's rows all come after a's)."""
    vocab = max(len(a.indptr), len(b.indptr)) - 1
    count_a = np.zeros(vocab, dtype=np.int64)
    count_a[: len(a.indptr) - 1] = np.diff(a.indptr)
    count_b = np.zeros(vocab, dtype=np.int64)
    count_b[: len(b.indptr) - 1] = np.diff(b.indptr)
    indptr = np.zeros(vocab + 1, dtype=np.int64)
    np.cumsum(count_a + count_b, out=indptr[1:])
    # Where each posting lands: its term's new start, plus (for b) a's postings of that term, plus its place.
    dest_a = np.repeat(indptr[:-1] - np.r_[a.indptr[:-1], np.full(vocab - len(a.indptr) + 1, a.indptr[-1])], count_a)
    dest_a += np.arange(len(a.rows))
    start_b = indptr[:-1] + count_a - np.r_[b.indptr[:-1], np.full(vocab - len(b.indptr) + 1, b.indptr[-1])]
    dest_b = np.repeat(start_b, count_b) + np.arange(len(b.rows))
    rows = np.empty(len(a.rows) + len(b.rows), dtype=np.int32)
    rows[dest_a], rows[dest_b] = a.rows, b.rows
    tf_type = np.promote_types(a.tf.dtype, b.tf.dtype)
    tf = np.empty(len(rows), dtype=tf_type)
    tf[dest_a], tf[dest_b] = a.tf, b.tf
    return Segment(a.first_row, a.n_rows + b.n_rows, indptr, rows, tf)


class LexicalPostings:
    """Append-only postings (row, tf) per term, plus per-row length; the alive mask is owned by the caller.

    Readers take the current segment list as one reference, so a search running while rows are appended
    sees either the old or the new list, each complete.
    """

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self._segments: tuple[Segment, ...] = ()
        self.doclen = np.zeros(0, dtype=np.float32)
        self._lock = threading.Lock()
        self._norm_cache: tuple[tuple[int, float], npt.NDArray[np.float32]] | None = None

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._segments) + int(self.doclen.nbytes)

    @property
    def segments(self) -> int:
        return len(self._segments)

    def add(self, first_row: int, docs: list[str]) -> None:
        """Index rows first_row, first_row+1, … from their stored analyzed text (space-separated terms)."""
        # One split of the batch, lengths by counting separators: half the time of a split per chunk. It is
        # exact when terms are separated by single spaces and nothing else (then split() cuts where the
        # counted spaces are); other text is split chunk by chunk.
        joined = " ".join(doc for doc in docs if doc)
        tokens = joined.split()
        lengths = np.fromiter((doc.count(" ") + 1 if doc else 0 for doc in docs), dtype=np.int64, count=len(docs))
        single_spaced = "  " not in joined and joined[:1] != " " and joined[-1:] != " "
        if not single_spaced or int(lengths.sum()) != len(tokens):
            split = [doc.split() for doc in docs]
            lengths = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
            tokens = [tok for toks in split for tok in toks]
        with self._lock:
            vocab = self.vocab
            for tok in set(tokens).difference(vocab):
                vocab[tok] = len(vocab)
            term_ids = np.fromiter(map(vocab.__getitem__, tokens), dtype=np.int64, count=len(tokens))
            need = first_row + len(docs)
            if len(self.doclen) < need:  # capacity doubles: appending a batch does not copy every length
                grown = np.zeros(max(need, 2 * len(self.doclen), 1024), dtype=np.float32)
                grown[:first_row] = self.doclen[:first_row]
                self.doclen = grown
            self.doclen[first_row:need] = lengths
            self._norm_cache = None
            if not len(term_ids):
                return
            rows = np.repeat(np.arange(first_row, first_row + len(docs), dtype=np.int64), lengths)
            segments = [*self._segments, _build(first_row, len(docs), term_ids, rows)]
            while len(segments) > 1:
                prev, last = segments[-2], segments[-1]
                if 2 * last.n_rows < prev.n_rows or prev.n_rows + last.n_rows > MAX_SEGMENT_ROWS:
                    break
                segments[-2:] = [_merge(prev, last)]
            self._segments = tuple(segments)

    @staticmethod
    def _postings(tid: int, segments: tuple[Segment, ...], below: int) -> Postings | None:
        """All (rows, tf) of a term among rows under `below`, in row order."""
        parts = [p for s in segments if (p := s.postings(tid, below)) is not None]
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([r for r, _ in parts]), np.concatenate([t for _, t in parts])

    def idf(self, terms: list[str], alive: npt.NDArray[np.bool_]) -> dict[str, float]:
        """BM25 IDF of each term over the alive rows (the weight `score` gives a match of it)."""
        n_alive = int(np.count_nonzero(alive))
        segments = self._segments
        out: dict[str, float] = {}
        for term in terms:
            tid = self.vocab.get(term)
            found = self._postings(tid, segments, len(alive)) if tid is not None else None
            df = int(np.count_nonzero(alive[found[0]])) if found is not None else 0
            out[term] = float(bm25_idf(n_alive, df))
        return out

    def score(self, query_terms: list[str], alive: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
        """BM25 score of every row (0 for rows matching no query term or not alive).

        All query terms are scored in one vectorised pass (a handful of numpy calls per query instead of a
        dozen per term): at 10k chunks this took a 26-word-piece query from 0.47 to ~0.2 ms. At 1M chunks a
        question's terms have ~1.5M postings; the length norm of every row is kept between queries (it
        changes only with the rows and their average length) and the IDF is repeated per term rather than
        gathered per posting, which took the scoring from 33 to ~20 ms (docs/retrieval.md).
        """
        n_rows = len(alive)
        n_alive = int(np.count_nonzero(alive))
        segments = self._segments
        tids = [tid for term in dict.fromkeys(query_terms) if (tid := self.vocab.get(term)) is not None]
        postings = [p for tid in tids if (p := self._postings(tid, segments, n_rows)) is not None]
        if n_alive == 0 or not postings:
            return np.zeros(n_rows, dtype=np.float32)
        norm = self._norm(alive, n_alive)
        rows = np.concatenate([r for r, _ in postings])
        tf = np.concatenate([t for _, t in postings])
        df = np.fromiter((len(r) for r, _ in postings), dtype=np.int64, count=len(postings))
        if n_alive < n_rows:
            keep = alive[rows]
            if not keep.all():
                starts = np.concatenate([[0], np.cumsum(df)[:-1]])
                df = np.add.reduceat(keep, starts, dtype=np.int64)
                rows, tf = rows[keep], tf[keep]
        # The same operations on the same values as the per-posting form (idf[term] * tf * (K1 + 1) / (tf +
        # K1 * (1 - B + B * doclen / avgdl))), so the same scores, bit for bit; tf widens to float32 as the
        # float32 frequencies of the earlier representation did.
        tf32 = tf.astype(np.float32)
        weight = np.repeat(bm25_idf(n_alive, df), df) * tf32 * (K1 + 1.0) / (tf32 + norm[rows])
        return np.bincount(rows, weights=weight, minlength=n_rows).astype(np.float32)

    def _norm(self, alive: npt.NDArray[np.bool_], n_alive: int) -> npt.NDArray[np.float32]:
        """K1 * (1 - B + B * length / average length) of every row under len(alive), the average over the
        alive rows; kept while the rows and that average stay the same (recomputing it was a tenth of a
        query's scoring at 1M chunks)."""
        n_rows = len(alive)
        doclen = self.doclen[:n_rows]
        avgdl = float((doclen if n_alive == n_rows else doclen[alive]).mean()) or 1.0
        key = (n_rows, avgdl)
        cached = self._norm_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        norm = K1 * (1.0 - B + B * doclen / avgdl)
        self._norm_cache = (key, norm)
        return norm
