"""PostgreSQL index backend: chunks and their vectors in PostgreSQL, dense search by pgvector (HNSW, cosine),
BM25 over per-process postings kept fresh from the chunks table, as on SQLite (docs/retrieval.md, "PostgreSQL").

BM25 stays in each replica's memory because it must score exactly as the SQLite backend does (the fusion and
the calibrated coverage thresholds rest on its scores and IDF), and because in-memory postings answered a
query in a few milliseconds where the same BM25 as SQL over a postings table took far longer at 100k chunks
(figures in the docs). Vectors stay in PostgreSQL: at 1M chunks they would not fit a replica's memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from docsage.db.models import Chunk
from docsage.db.postgres import ANN_INDEX_PREFIX
from docsage.db.projects import ProjectRepository
from docsage.embed.base import Vectors
from docsage.index.base import CandidateSet, ChunkWrite, StoredChunk
from docsage.index.cache import ProjectArrays, ProjectCache, top_rows
from docsage.index.lexical import analyze
from docsage.index.writes import chunk_rows

log = logging.getLogger(__name__)

LOAD_SQL = (
    "SELECT c.pk, c.chunk_id, c.document_id, c.source_id, d.url, d.title, c.heading_path, c.text "
    "FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.pk = ANY(%(pks)s)"
)
# The dense score is the inner product, as numpy computes it on SQLite (vectors are L2-normalised); the ANN
# list is ordered by the HNSW index's cosine distance, which ranks normalised vectors the same way.
ANN_SQL = (
    "SELECT pk, -(embedding <#> %(q)s::vector) FROM ("
    "SELECT pk, embedding FROM chunks WHERE project_id = %(p)s AND vector_dims(embedding) = {dim}{sources} "
    "ORDER BY (embedding::vector({dim})) <=> %(q)s::vector({dim}) LIMIT %(k)s) AS ann"
)
EXACT_SQL = (
    "SELECT pk, -(embedding <#> %(q)s::vector) FROM chunks "
    "WHERE project_id = %(p)s AND vector_dims(embedding) = {dim}{sources} "
    "ORDER BY embedding <#> %(q)s::vector LIMIT %(k)s"
)
RESCORE_SQL = (
    "SELECT pk, -(embedding <#> %(q)s::vector) FROM chunks WHERE pk = ANY(%(pks)s) AND vector_dims(embedding) = {dim}"
)
SOURCES_SQL = " AND source_id = ANY(%(s)s)"
# Below this many eligible chunks the dense list is exact: a scan of the project's rows costs little there,
# and the HNSW index (one for the whole table) would mostly walk other projects' vectors.
EXACT_BELOW = 20_000
MAX_EF_SEARCH = 1000  # pgvector's limit
INDEX_RECHECK_S = 60.0  # how long "no HNSW index for this dimension" is believed before asking again


def vector_literal(vector: npt.NDArray[np.float32]) -> str:
    """pgvector's text form; each float32 printed exactly (repr of its float64 value round-trips)."""
    return "[" + ",".join(map(repr, vector.astype(np.float32).tolist())) + "]"


class PostgresIndex:
    """IndexBackend over PostgreSQL with pgvector; see the module docstring."""

    def __init__(self, data_version: Callable[[], int | None] = lambda: None, exact_below: int | None = None) -> None:
        self._cache = ProjectCache(data_version, with_vectors=False)
        self.exact_below = EXACT_BELOW if exact_below is None else exact_below
        self._ann_index: dict[int, tuple[bool, float]] = {}  # dimension -> (index exists, when checked)

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
        # The generation first: its row lock, held until commit, makes a project's writers take turns, so
        # its chunks commit in pk order and the replicas' caches can follow them by `pk > last seen`.
        ProjectRepository(session).bump_index_generation(project_id)
        session.execute(delete(Chunk).where(Chunk.document_id == document_id))
        if chunks:
            session.execute(insert(Chunk), chunk_rows(project_id, source_id, document_id, title, chunks, vectors))

    def delete_documents(self, session: Session, project_id: str, document_ids: list[str]) -> None:
        if not document_ids:
            return
        ProjectRepository(session).bump_index_generation(project_id)
        for start in range(0, len(document_ids), 1000):
            session.execute(delete(Chunk).where(Chunk.document_id.in_(document_ids[start : start + 1000])))

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
        dense = np.zeros(arrays.n, dtype=np.float32)
        dense_top = np.zeros(0, dtype=np.int64)
        if vector is not None:
            eligible = int(np.count_nonzero(mask))
            dense_top = self._dense(session, arrays, project_id, vector, depth, source_ids, eligible, lex_top, dense)
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

    def _dense(
        self,
        session: Session,
        arrays: ProjectArrays,
        project_id: str,
        vector: Vectors,
        depth: int,
        source_ids: list[str] | None,
        eligible: int,
        lex_top: npt.NDArray[np.int64],
        dense: npt.NDArray[np.float32],
    ) -> npt.NDArray[np.int64]:
        """Fill `dense` with the inner product of every candidate row; return the dense top list's rows."""
        conn = session.connection()
        dim = int(vector.shape[-1])
        params: dict[str, object] = {"q": vector_literal(vector), "p": project_id, "k": depth}
        shape = {"dim": dim, "sources": ""}
        if source_ids:
            shape["sources"], params["s"] = SOURCES_SQL, list(source_ids)
        found: list[tuple[int, float]] = []
        if eligible >= self.exact_below and self._has_ann_index(session, dim):
            # pgvector 0.6 returns at most ef_search rows and filters them afterwards (by project, source).
            ef = min(MAX_EF_SEARCH, max(depth, 40))
            conn.exec_driver_sql(f"SELECT set_config('hnsw.ef_search', '{ef}', true)")
            found = [(int(pk), float(s)) for pk, s in conn.exec_driver_sql(ANN_SQL.format(**shape), params)]
        if len(found) < min(depth, eligible):
            # Small, or too small a share of the index for its filtered list to fill up: exact, by a scan.
            found = [(int(pk), float(s)) for pk, s in conn.exec_driver_sql(EXACT_SQL.format(**shape), params)]
        rows_scores = [(row, s) for pk, s in found if (row := arrays.pk_row.get(pk)) is not None]
        top = np.asarray([r for r, _ in rows_scores], dtype=np.int64)
        dense[top] = np.asarray([s for _, s in rows_scores], dtype=np.float32)
        top = top[np.argsort(-dense[top], kind="stable")]
        missing = np.setdiff1d(lex_top, top)
        if len(missing):
            params["pks"] = arrays.pks[missing].tolist()
            for pk, s in conn.exec_driver_sql(RESCORE_SQL.format(dim=dim), params):
                dense[arrays.pk_row[int(pk)]] = float(s)
        return top

    def _has_ann_index(self, session: Session, dim: int) -> bool:
        known = self._ann_index.get(dim)
        if known is not None and (known[0] or time.monotonic() - known[1] < INDEX_RECHECK_S):
            return known[0]
        name = f"{ANN_INDEX_PREFIX}{dim}"
        found = session.connection().exec_driver_sql("SELECT to_regclass(%(n)s) IS NOT NULL", {"n": name})
        exists = bool(found.scalar())
        if not exists:
            log.warning("no HNSW index %s for %d-dimensional embeddings: dense search scans exactly", name, dim)
        self._ann_index[dim] = (exists, time.monotonic())
        return exists

    def term_weights(self, session: Session, project_id: str, terms: list[str]) -> dict[str, float]:
        arrays = self._cache.get(session, project_id)
        return arrays.lexical.idf(terms, arrays.alive[: arrays.n])

    def load(self, session: Session, pks: list[int]) -> dict[int, StoredChunk]:
        if not pks:
            return {}
        rows = session.connection().exec_driver_sql(LOAD_SQL, {"pks": pks})
        return {int(r[0]): StoredChunk(int(r[0]), *r[1:]) for r in rows}
