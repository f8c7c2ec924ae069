"""Per-project chunk arrays cached in each process (BM25 postings, and vectors where the backend keeps them
in memory), following the database incrementally: new chunks by `pk > last seen`, deletions by masking,
and nothing re-read while the project's index generation is unchanged.

Appending by pk is exact only if a project's chunks commit in pk order. SQLite has one writer at a time;
the PostgreSQL backend bumps the project's generation (a row lock held until commit) before it inserts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docsage.db.models import Chunk
from docsage.db.projects import ProjectRepository
from docsage.index.base import CandidateSet
from docsage.index.postings import LexicalPostings

REBUILD_DEAD_FRACTION = 0.3  # past this share of deleted rows, rebuild the arrays instead of masking
# Chunks read per query while syncing: the analyzed text of a 1M-chunk project is ~0.5 GB of Python strings
# read at once, which alone would take a replica past its memory budget; a batch is ~15 MB.
SYNC_BATCH = 20_000


@dataclass
class ProjectArrays:
    """Row i of every array is one chunk; rows are appended in pk order and masked when deleted."""

    generation: int = -1
    checked_at_version: int | None = None  # the database's data_version when `generation` was last confirmed
    max_pk: int = 0
    n: int = 0
    pks: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    alive: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    sources: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    source_codes: dict[str, int] = field(default_factory=dict)
    # Each row's document as a small integer (equal codes: same page), so that search can rank pages by all
    # of their passages (retrieval/hybrid.py) without a query per search.
    documents: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    document_codes: dict[str, int] = field(default_factory=dict)
    vectors: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    lexical: LexicalPostings = field(default_factory=LexicalPostings)

    def rows_of(self, pks: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Row of each pk, -1 where this process has no row for it (pks are appended in increasing order, so a
        binary search: a dict of a million pks took ~100 MB)."""
        known = self.pks[: self.n]
        rows = np.searchsorted(known, pks)
        found = rows < len(known)
        found[found] = known[rows[found]] == pks[found]
        return np.where(found, rows, -1)

    def dead_fraction(self) -> float:
        return 1.0 - float(self.alive[: self.n].sum()) / self.n if self.n else 0.0

    def mask(self, source_ids: list[str] | None) -> npt.NDArray[np.bool_]:
        """Rows a search may return: alive, and in one of the sources when they are given."""
        alive = self.alive[: self.n]
        if source_ids:
            wanted = [self.source_codes[s] for s in source_ids if s in self.source_codes]
            alive = alive & np.isin(self.sources[: self.n], wanted)
        return alive

    def candidate_set(
        self,
        lexical: npt.NDArray[np.float32],
        dense: npt.NDArray[np.float32],
        lex_top: npt.NDArray[np.int64],
        dense_top: npt.NDArray[np.int64],
    ) -> CandidateSet:
        """The union of both top lists (rows of these arrays, best first) with every candidate's scores and ranks."""
        rows = np.unique(np.concatenate([lex_top, dense_top]))
        lex_rank = np.zeros(self.n, dtype=np.int64)
        lex_rank[lex_top] = np.arange(1, len(lex_top) + 1)
        dense_rank = np.zeros(self.n, dtype=np.int64)
        dense_rank[dense_top] = np.arange(1, len(dense_top) + 1)
        return CandidateSet(
            self.pks[rows],
            lexical[rows],
            dense[rows],
            lex_rank[rows],
            dense_rank[rows],
            lexical[lex_top],
            dense[dense_top],
            self.documents[rows],
        )


def top_rows(scores: npt.NDArray[np.float32], eligible: npt.NDArray[np.bool_], k: int) -> npt.NDArray[np.int64]:
    """Indices of the k best eligible scores, best first."""
    rows = np.flatnonzero(eligible)
    if len(rows) > k:
        rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
    return rows[np.argsort(-scores[rows], kind="stable")]


def _grow(arr: npt.NDArray[np.generic], need: int) -> npt.NDArray[np.generic]:
    """Amortised growth: capacity doubles, so appending a batch does not copy the whole matrix every time."""
    if len(arr) >= need:
        return arr
    cap = max(need, 2 * len(arr), 1024)
    out = np.zeros((cap, *arr.shape[1:]), dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


# The pks of a project's chunks deleted after a generation, or None when the backend cannot tell.
DeletionLog = Callable[[Session, str, int], "npt.NDArray[np.int64] | None"]


class ProjectCache:
    """The arrays of every project this process searched, each synced on use when its generation moved."""

    def __init__(
        self, data_version: Callable[[], int | None], with_vectors: bool, deletions: DeletionLog | None = None
    ) -> None:
        self._data_version = data_version
        self._with_vectors = with_vectors
        self._deletions = deletions
        self._projects: dict[str, ProjectArrays] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, project_id: str) -> ProjectArrays:
        # Nothing committed anywhere since the generation was last confirmed: the arrays are current, no query.
        version = self._data_version()
        cached = self._projects.get(project_id)
        if cached is not None and version is not None and cached.checked_at_version == version:
            return cached
        generation = ProjectRepository(session).index_generation(project_id)
        if cached is not None and cached.generation == generation:
            cached.checked_at_version = version
            return cached
        with self._lock:
            cached = self._projects.get(project_id)
            if cached is not None and cached.generation == generation:
                return cached
            if cached is None or cached.dead_fraction() > REBUILD_DEAD_FRACTION:
                cached = ProjectArrays()
            self._sync(session, project_id, cached)
            if cached.dead_fraction() > REBUILD_DEAD_FRACTION:
                cached = ProjectArrays()
                self._sync(session, project_id, cached)
            cached.generation = generation
            cached.checked_at_version = version
            self._projects[project_id] = cached
            return cached

    def _mask_deleted(self, session: Session, project_id: str, arrays: ProjectArrays) -> None:
        """Mask rows whose chunk is gone: from the backend's deletion log when it keeps one, else by comparing
        pks. Rows at or below max_pk can only disappear, never appear, so when the database holds as many of
        them as are alive here nothing was deleted (one count instead of every pk)."""
        alive = int(np.count_nonzero(arrays.alive[: arrays.n]))
        if not alive:
            return
        if self._deletions is not None:
            gone = self._deletions(session, project_id, arrays.generation)
            if gone is not None:
                rows = arrays.rows_of(gone)
                arrays.alive[rows[rows >= 0]] = False
                return
        old = (Chunk.project_id == project_id, Chunk.pk <= arrays.max_pk)
        if session.scalar(select(func.count()).select_from(Chunk).where(*old)) == alive:
            return
        current = np.fromiter(session.scalars(select(Chunk.pk).where(*old)), dtype=np.int64)
        arrays.alive[: arrays.n] &= np.isin(arrays.pks[: arrays.n], current)

    def _sync(self, session: Session, project_id: str, arrays: ProjectArrays) -> None:
        """Mask rows whose chunk is gone, then append chunks written since the last sync (pks only grow)."""
        self._mask_deleted(session, project_id, arrays)
        columns: list[Any] = [Chunk.pk, Chunk.source_id, Chunk.lex, Chunk.document_id]
        if self._with_vectors:
            columns.append(Chunk.embedding)
        while True:
            query = select(*columns).where(Chunk.project_id == project_id, Chunk.pk > arrays.max_pk)
            rows: list[Any] = list(session.execute(query.order_by(Chunk.pk).limit(SYNC_BATCH)))
            if not rows:
                return
            self._append(arrays, rows)
            if len(rows) < SYNC_BATCH:
                return

    def _append(self, arrays: ProjectArrays, rows: list[Any]) -> None:
        start, need = arrays.n, arrays.n + len(rows)
        arrays.pks = _grow(arrays.pks, need)  # type: ignore[assignment]
        arrays.alive = _grow(arrays.alive, need)  # type: ignore[assignment]
        arrays.sources = _grow(arrays.sources, need)  # type: ignore[assignment]
        arrays.pks[start:need] = [r[0] for r in rows]
        arrays.alive[start:need] = True
        codes = arrays.source_codes
        arrays.sources[start:need] = [codes.setdefault(r[1], len(codes)) for r in rows]
        arrays.documents = _grow(arrays.documents, need)  # type: ignore[assignment]
        docs = arrays.document_codes
        arrays.documents[start:need] = [docs.setdefault(r[3], len(docs)) for r in rows]
        if self._with_vectors:
            dim = len(rows[0][4]) // 4
            if arrays.vectors.shape[1:] != (dim,):
                arrays.vectors = np.zeros((0, dim), dtype=np.float32)
            arrays.vectors = _grow(arrays.vectors, need)  # type: ignore[assignment]
            blob = b"".join(r[4] for r in rows)
            arrays.vectors[start:need] = np.frombuffer(blob, dtype=np.float32).reshape(-1, dim)
        arrays.lexical.add(start, [r[2] for r in rows])
        arrays.n, arrays.max_pk = need, int(rows[-1][0])
