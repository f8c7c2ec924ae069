"""SQLite index backend: FTS5 bm25 for lexical search, float32 blobs + exact numpy cosine for vectors."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from docsage.db.models import Chunk, Document
from docsage.db.projects import ProjectRepository
from docsage.embed.base import Vectors
from docsage.index.base import ChunkWrite, StoredChunk
from docsage.index.stopwords import STOPWORDS

TOKEN = re.compile(r"\w+", re.UNICODE)
# bm25 column weights: title, heading path, text. Titles repeat in every chunk of a page, so they get a
# moderate boost only; headings locate the passage within the page.
BM25_WEIGHTS = (2.0, 2.0, 1.0)
MAX_QUERY_TERMS = 32


def fts_query(query: str) -> str:
    """A safe FTS5 OR-query of the content words (quoted, so no user text is parsed as FTS syntax)."""
    seen: dict[str, None] = {}
    for tok in TOKEN.findall(query.lower()):
        if tok not in STOPWORDS and (len(tok) > 1 or tok.isdigit()):
            seen.setdefault(tok.replace('"', ""), None)
    terms = list(seen)[:MAX_QUERY_TERMS]
    return " OR ".join(f'"{t}"' for t in terms)


@dataclass
class _Matrix:
    generation: int
    pks: npt.NDArray[np.int64]
    sources: npt.NDArray[np.int32]
    source_names: list[str]
    vectors: Vectors
    pk_row: dict[int, int]


class SQLiteIndex:
    """Chunks and both indexes live in the application's SQLite file; vectors are cached per project."""

    def __init__(self) -> None:
        self._matrices: dict[str, _Matrix] = {}
        self._lock = threading.Lock()

    def write_document(
        self, session: Session, project_id: str, source_id: str, document_id: str, title: str,
        chunks: list[ChunkWrite], vectors: Vectors,
    ) -> None:
        self._delete_chunks(session, [document_id])
        if chunks:
            rows = [
                {
                    "chunk_id": c.chunk_id, "project_id": project_id, "source_id": source_id,
                    "document_id": document_id, "ordinal": c.ordinal, "heading_path": c.heading_path,
                    "text": c.text, "token_count": c.token_count,
                    "embedding": np.ascontiguousarray(vectors[i], dtype=np.float32).tobytes(),
                }
                for i, c in enumerate(chunks)
            ]
            pks = session.scalars(insert(Chunk).returning(Chunk.pk, sort_by_parameter_order=True), rows).all()
            session.execute(
                text(
                    "INSERT INTO chunks_fts(rowid, title, heading, text, project_id, source_id) "
                    "VALUES (:pk, :title, :heading, :text, :project_id, :source_id)"
                ),
                [
                    {"pk": pk, "title": title, "heading": c.heading_path, "text": c.text,
                     "project_id": project_id, "source_id": source_id}
                    for pk, c in zip(pks, chunks, strict=True)
                ],
            )
        ProjectRepository(session).bump_index_generation(project_id)

    def _delete_chunks(self, session: Session, document_ids: list[str]) -> None:
        for start in range(0, len(document_ids), 500):
            ids = document_ids[start : start + 500]
            pks = list(session.scalars(select(Chunk.pk).where(Chunk.document_id.in_(ids))))
            for pstart in range(0, len(pks), 500):
                part = pks[pstart : pstart + 500]
                marks = ",".join(str(int(p)) for p in part)
                session.execute(text(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})"))
            session.execute(delete(Chunk).where(Chunk.document_id.in_(ids)))

    def delete_documents(self, session: Session, project_id: str, document_ids: list[str]) -> None:
        if not document_ids:
            return
        self._delete_chunks(session, document_ids)
        ProjectRepository(session).bump_index_generation(project_id)

    def search_lexical(
        self, session: Session, project_id: str, query: str, k: int, source_ids: list[str] | None = None
    ) -> list[tuple[int, float]]:
        match = fts_query(query)
        if not match:
            return []
        wt, wh, wx = BM25_WEIGHTS
        sql = (
            f"SELECT rowid, bm25(chunks_fts, {wt}, {wh}, {wx}) AS s FROM chunks_fts "
            "WHERE chunks_fts MATCH :q AND project_id = :p"
        )
        params: dict[str, object] = {"q": match, "p": project_id, "k": k}
        if source_ids:
            names = [f":s{i}" for i in range(len(source_ids))]
            sql += f" AND source_id IN ({','.join(names)})"
            params.update({f"s{i}": s for i, s in enumerate(source_ids)})
        sql += " ORDER BY s LIMIT :k"
        return [(int(pk), -float(score)) for pk, score in session.execute(text(sql), params)]

    def _matrix(self, session: Session, project_id: str) -> _Matrix:
        generation = ProjectRepository(session).index_generation(project_id)
        with self._lock:
            cached = self._matrices.get(project_id)
            if cached is not None and cached.generation == generation:
                return cached
            rows = session.execute(
                select(Chunk.pk, Chunk.source_id, Chunk.embedding)
                .where(Chunk.project_id == project_id, Chunk.embedding.is_not(None))
                .order_by(Chunk.pk)
            ).all()
            names: dict[str, int] = {}
            pks = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            sources = np.fromiter((names.setdefault(r[1], len(names)) for r in rows), dtype=np.int32, count=len(rows))
            if rows:
                blob = b"".join(r[2] for r in rows)
                vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), -1).copy()
            else:
                vectors = np.zeros((0, 1), dtype=np.float32)
            matrix = _Matrix(generation, pks, sources, list(names), vectors, {int(p): i for i, p in enumerate(pks)})
            self._matrices[project_id] = matrix
            return matrix

    def search_vector(
        self, session: Session, project_id: str, vector: Vectors, k: int, source_ids: list[str] | None = None
    ) -> list[tuple[int, float]]:
        m = self._matrix(session, project_id)
        if not len(m.pks):
            return []
        scores = m.vectors @ vector.astype(np.float32)
        if source_ids:
            wanted = [m.source_names.index(s) for s in source_ids if s in m.source_names]
            scores = np.where(np.isin(m.sources, wanted), scores, -np.inf)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(m.pks[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]

    def vector_scores(self, session: Session, project_id: str, vector: Vectors, pks: list[int]) -> dict[int, float]:
        m = self._matrix(session, project_id)
        rows = [m.pk_row[p] for p in pks if p in m.pk_row]
        if not rows:
            return {}
        scores = m.vectors[rows] @ vector.astype(np.float32)
        return {int(m.pks[r]): float(s) for r, s in zip(rows, scores, strict=True)}

    def load(self, session: Session, pks: list[int]) -> dict[int, StoredChunk]:
        if not pks:
            return {}
        stmt = (
            select(Chunk.pk, Chunk.chunk_id, Chunk.document_id, Chunk.source_id, Document.url, Document.title,
                   Chunk.heading_path, Chunk.text)
            .join(Document, Document.id == Chunk.document_id)
            .where(Chunk.pk.in_(pks))
        )
        return {int(r[0]): StoredChunk(int(r[0]), *r[1:]) for r in session.execute(stmt)}
