"""SQLite index backend: chunks (with analyzed terms and float32 vectors) in the application's SQLite file,
searched through per-project in-memory arrays that follow writes incrementally."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from docsage.db.models import Chunk
from docsage.db.projects import ProjectRepository
from docsage.embed.base import Vectors
from docsage.index.base import CandidateSet, ChunkWrite, StoredChunk
from docsage.index.lexical import LexicalPostings, analyze

LOAD_SQL = (
    "SELECT c.pk, c.chunk_id, c.document_id, c.source_id, d.url, d.title, c.heading_path, c.text "
    "FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.pk IN ({})"
)
REBUILD_DEAD_FRACTION = 0.3  # past this share of deleted rows, rebuild the arrays instead of masking


def lexical_text(title: str, heading_path: str, text: str) -> str:
    """The analyzed terms stored with a chunk: its context line (title, headings) and its text."""
    context = heading_path if title and heading_path.startswith(title) else f"{title} {heading_path}"
    return " ".join(analyze(f"{context}\n{text}"))


@dataclass
class _ProjectArrays:
    """Row i of every array is one chunk; rows are appended in pk order and masked when deleted."""

    generation: int = -1
    checked_at_version: int | None = None  # the database's data_version when `generation` was last confirmed
    max_pk: int = 0
    n: int = 0
    pks: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    alive: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    sources: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    source_codes: dict[str, int] = field(default_factory=dict)
    vectors: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    lexical: LexicalPostings = field(default_factory=LexicalPostings)
    pk_row: dict[int, int] = field(default_factory=dict)

    def dead_fraction(self) -> float:
        return 1.0 - float(self.alive[: self.n].sum()) / self.n if self.n else 0.0


def _top_rows(scores: npt.NDArray[np.float32], eligible: npt.NDArray[np.bool_], k: int) -> npt.NDArray[np.int64]:
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


class SQLiteIndex:
    """IndexBackend over SQLite; search runs on numpy arrays cached per project and synced by generation."""

    def __init__(self, data_version: Callable[[], int | None] = lambda: None) -> None:
        self._data_version = data_version
        self._projects: dict[str, _ProjectArrays] = {}
        self._lock = threading.Lock()

    # writes ---------------------------------------------------------------------------------------------
    def write_document(
        self,
        session: Session,
        project_id: str,
        source_id: str,
        document_id: str,
        title: str,
        chunks: list[ChunkWrite],
        vectors: Vectors,
    ) -> None:
        session.execute(delete(Chunk).where(Chunk.document_id == document_id))
        if chunks:
            session.execute(
                insert(Chunk),
                [
                    {
                        "chunk_id": c.chunk_id,
                        "project_id": project_id,
                        "source_id": source_id,
                        "document_id": document_id,
                        "ordinal": c.ordinal,
                        "heading_path": c.heading_path,
                        "text": c.text,
                        "token_count": c.token_count,
                        "lex": lexical_text(title, c.heading_path, c.text),
                        "embedding": np.ascontiguousarray(vectors[i], dtype=np.float32).tobytes(),
                    }
                    for i, c in enumerate(chunks)
                ],
            )
        ProjectRepository(session).bump_index_generation(project_id)

    def delete_documents(self, session: Session, project_id: str, document_ids: list[str]) -> None:
        if not document_ids:
            return
        for start in range(0, len(document_ids), 500):
            session.execute(delete(Chunk).where(Chunk.document_id.in_(document_ids[start : start + 500])))
        ProjectRepository(session).bump_index_generation(project_id)

    # sync -----------------------------------------------------------------------------------------------
    def _arrays(self, session: Session, project_id: str) -> _ProjectArrays:
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
                cached = _ProjectArrays()
            self._sync(session, project_id, cached)
            if cached.dead_fraction() > REBUILD_DEAD_FRACTION:
                cached = _ProjectArrays()
                self._sync(session, project_id, cached)
            cached.generation = generation
            cached.checked_at_version = version
            self._projects[project_id] = cached
            return cached

    def _sync(self, session: Session, project_id: str, arrays: _ProjectArrays) -> None:
        """Mask rows whose chunk is gone, then append chunks written since the last sync (pks only grow)."""
        if arrays.n:
            current = np.fromiter(
                session.scalars(select(Chunk.pk).where(Chunk.project_id == project_id, Chunk.pk <= arrays.max_pk)),
                dtype=np.int64,
            )
            arrays.alive[: arrays.n] &= np.isin(arrays.pks[: arrays.n], current)
        rows = session.execute(
            select(Chunk.pk, Chunk.source_id, Chunk.lex, Chunk.embedding)
            .where(Chunk.project_id == project_id, Chunk.pk > arrays.max_pk)
            .order_by(Chunk.pk)
        ).all()
        if not rows:
            return
        start, need = arrays.n, arrays.n + len(rows)
        dim = len(rows[0][3]) // 4
        if arrays.vectors.shape[1:] != (dim,):
            arrays.vectors = np.zeros((0, dim), dtype=np.float32)
        arrays.pks = _grow(arrays.pks, need)  # type: ignore[assignment]
        arrays.alive = _grow(arrays.alive, need)  # type: ignore[assignment]
        arrays.sources = _grow(arrays.sources, need)  # type: ignore[assignment]
        arrays.vectors = _grow(arrays.vectors, need)  # type: ignore[assignment]
        arrays.pks[start:need] = [r[0] for r in rows]
        arrays.alive[start:need] = True
        codes = arrays.source_codes
        arrays.sources[start:need] = [codes.setdefault(r[1], len(codes)) for r in rows]
        arrays.vectors[start:need] = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(-1, dim)
        arrays.lexical.add(start, [r[2] for r in rows])
        arrays.pk_row.update((int(r[0]), start + i) for i, r in enumerate(rows))
        arrays.n, arrays.max_pk = need, int(rows[-1][0])

    # search ---------------------------------------------------------------------------------------------
    def _mask(self, arrays: _ProjectArrays, source_ids: list[str] | None) -> npt.NDArray[np.bool_]:
        alive = arrays.alive[: arrays.n]
        if source_ids:
            wanted = [arrays.source_codes[s] for s in source_ids if s in arrays.source_codes]
            alive = alive & np.isin(arrays.sources[: arrays.n], wanted)
        return alive

    def candidates(
        self,
        session: Session,
        project_id: str,
        query: str,
        vector: Vectors | None,
        depth: int,
        source_ids: list[str] | None = None,
    ) -> CandidateSet:
        arrays = self._arrays(session, project_id)
        if not arrays.n:
            return CandidateSet.empty()
        mask = self._mask(arrays, source_ids)
        lexical = arrays.lexical.score(analyze(query), mask)
        lex_top = _top_rows(lexical, mask & (lexical > 0), depth)
        if vector is not None:
            dense = arrays.vectors[: arrays.n] @ vector.astype(np.float32)
            dense_top = _top_rows(dense, mask, depth)
        else:
            dense = np.zeros(arrays.n, dtype=np.float32)
            dense_top = np.zeros(0, dtype=np.int64)
        rows = np.unique(np.concatenate([lex_top, dense_top]))
        lex_rank = np.zeros(arrays.n, dtype=np.int64)
        lex_rank[lex_top] = np.arange(1, len(lex_top) + 1)
        dense_rank = np.zeros(arrays.n, dtype=np.int64)
        dense_rank[dense_top] = np.arange(1, len(dense_top) + 1)
        return CandidateSet(
            arrays.pks[rows],
            lexical[rows],
            dense[rows],
            lex_rank[rows],
            dense_rank[rows],
            lexical[lex_top],
            dense[dense_top],
        )

    def term_weights(self, session: Session, project_id: str, terms: list[str]) -> dict[str, float]:
        arrays = self._arrays(session, project_id)
        return arrays.lexical.idf(terms, arrays.alive[: arrays.n])

    def load(self, session: Session, pks: list[int]) -> dict[int, StoredChunk]:
        if not pks:
            return {}
        # Plain SQL on the session's connection: this runs on every search, and the ORM statement path cost
        # three times the query itself (0.57 vs 0.21 ms for 15 chunks).
        rows = session.connection().exec_driver_sql(LOAD_SQL.format(",".join("?" * len(pks))), tuple(pks))
        return {int(r[0]): StoredChunk(int(r[0]), *r[1:]) for r in rows}
