"""SQLite index backend: chunks (with analyzed terms and float32 vectors) in the application's SQLite file,
searched through per-project in-memory arrays that follow writes incrementally."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from docsage.db.models import Chunk
from docsage.db.projects import ProjectRepository
from docsage.embed.base import Vectors
from docsage.index.base import CandidateSet, ChunkWrite, StoredChunk
from docsage.index.cache import ProjectCache, top_rows
from docsage.index.lexical import analyze
from docsage.index.writes import chunk_rows

LOAD_SQL = (
    "SELECT c.pk, c.chunk_id, c.document_id, c.source_id, d.url, d.title, c.heading_path, c.text "
    "FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.pk IN ({})"
)


class SQLiteIndex:
    """IndexBackend over SQLite; search runs on numpy arrays cached per project and synced by generation."""

    def __init__(self, data_version: Callable[[], int | None] = lambda: None) -> None:
        self._cache = ProjectCache(data_version, with_vectors=True)

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
            rows = chunk_rows(project_id, source_id, document_id, title, chunks, vectors)
            session.execute(insert(Chunk), rows)
        ProjectRepository(session).bump_index_generation(project_id)

    def delete_documents(self, session: Session, project_id: str, document_ids: list[str]) -> None:
        if not document_ids:
            return
        for start in range(0, len(document_ids), 500):
            session.execute(delete(Chunk).where(Chunk.document_id.in_(document_ids[start : start + 500])))
        ProjectRepository(session).bump_index_generation(project_id)

    # search ---------------------------------------------------------------------------------------------
    def candidates(
        self,
        session: Session,
        project_id: str,
        query: str,
        vector: Vectors | None,
        depth: int,
        source_ids: list[str] | None = None,
    ) -> CandidateSet:
        arrays = self._cache.get(session, project_id)
        if not arrays.n:
            return CandidateSet.empty()
        mask = arrays.mask(source_ids)
        lexical = arrays.lexical.score(analyze(query), mask)
        lex_top = top_rows(lexical, mask & (lexical > 0), depth)
        if vector is not None:
            dense = arrays.vectors[: arrays.n] @ vector.astype(np.float32)
            dense_top = top_rows(dense, mask, depth)
        else:
            dense = np.zeros(arrays.n, dtype=np.float32)
            dense_top = np.zeros(0, dtype=np.int64)
        return arrays.candidate_set(lexical, dense, lex_top, dense_top)

    def term_weights(self, session: Session, project_id: str, terms: list[str]) -> dict[str, float]:
        arrays = self._cache.get(session, project_id)
        return arrays.lexical.idf(terms, arrays.alive[: arrays.n])

    def load(self, session: Session, pks: list[int]) -> dict[int, StoredChunk]:
        if not pks:
            return {}
        # Plain SQL on the session's connection: this runs on every search, and the ORM statement path cost
        # three times the query itself (0.57 vs 0.21 ms for 15 chunks).
        rows = session.connection().exec_driver_sql(LOAD_SQL.format(",".join("?" * len(pks))), tuple(pks))
        return {int(r[0]): StoredChunk(int(r[0]), *r[1:]) for r in rows}
