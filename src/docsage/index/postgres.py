"""PostgreSQL index backend: chunks and their vectors in PostgreSQL, dense search by pgvector (HNSW, cosine),
BM25 over per-process postings kept fresh from the chunks table, as on SQLite (docs/retrieval.md, "PostgreSQL").

BM25 stays in each replica's memory because it must score exactly as the SQLite backend does (the fusion and
the calibrated coverage thresholds rest on its scores and IDF), and because in-memory postings answered a
query in a few milliseconds where the same BM25 as SQL over a postings table took far longer at 100k chunks
(figures in the docs). Vectors stay in PostgreSQL: at 1M chunks they would not fit a replica's memory.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from docsage.db.models import Chunk
from docsage.db.projects import ProjectRepository
from docsage.db.vector_index import VectorIndex, default_probes, describe
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
# Deleted chunks are logged under the generation that deleted them, so replicas mask exactly those (one
# indexed read) instead of comparing every pk of the project (0.95 s per deletion at 100k chunks).
DELETE_SQL = (
    "WITH gone AS (DELETE FROM chunks WHERE document_id = ANY(%(docs)s) RETURNING pk) "
    "INSERT INTO chunk_deletions (project_id, pk, generation) SELECT %(p)s, pk, %(g)s FROM gone"
)
DELETIONS_SQL = "SELECT pk, generation FROM chunk_deletions WHERE project_id = %(p)s AND (generation > %(g)s OR pk < 0)"
# Every PRUNE_EVERY generations the log drops what is over KEEP_GENERATIONS old and leaves a marker (pk -1)
# at the generation it pruned through: a replica last synced before that compares pks once instead.
# (Two statements: psycopg sends parameterised SQL as one prepared statement each.)
PRUNE_SQL = (
    "DELETE FROM chunk_deletions WHERE project_id = %(p)s AND generation <= %(h)s",
    "INSERT INTO chunk_deletions (project_id, pk, generation) VALUES (%(p)s, -1, %(h)s) "
    "ON CONFLICT (project_id, pk) DO UPDATE SET generation = excluded.generation",
)
KEEP_GENERATIONS = 10_000
PRUNE_EVERY = 1_000
# Below this many eligible chunks the dense list is exact: a scan of the project's rows costs little there,
# and the HNSW index (one for the whole table) would mostly walk other projects' vectors.
EXACT_BELOW = 20_000
MAX_EF_SEARCH = 1000  # pgvector's limit
MIN_EF_SEARCH = 40  # pgvector's default
# pgvector can return a few rows short of ef_search even unfiltered (293 of 300 at 100k chunks): a list this
# full is kept, rather than paying an exact scan (0.47 s at 100k chunks) for the tail of the candidates.
ANN_KEPT_SHARE = 0.9
LIST_THREADS = 32
INDEX_RECHECK_S = 60.0  # how long an index's existence and size are believed before asking again


def vector_literal(vector: npt.NDArray[np.float32]) -> str:
    """pgvector's text form; each float32 printed exactly (repr of its float64 value round-trips)."""
    return "[" + ",".join(map(repr, vector.astype(np.float32).tolist())) + "]"


class PostgresIndex:
    """IndexBackend over PostgreSQL with pgvector; see the module docstring."""

    def __init__(
        self,
        data_version: Callable[[], int | None] = lambda: None,
        exact_below: int | None = None,
        ef_search: int = 0,
        ivfflat_probes: int = 0,
    ) -> None:
        self._cache = ProjectCache(data_version, with_vectors=False, deletions=self._deleted_since)
        self.exact_below = EXACT_BELOW if exact_below is None else exact_below
        self.ef_search = ef_search  # 0: the candidate depth (the list must hold that many rows)
        self.ivfflat_probes = ivfflat_probes  # 0: default_probes of the index's lists
        self.keep_generations, self.prune_every = KEEP_GENERATIONS, PRUNE_EVERY  # the deletion log's pruning
        self._ann_index: dict[int, tuple[VectorIndex | None, float]] = {}  # dimension -> (its index or None, when)
        # Threads that wait on the dense list's SQL while the searching thread scores BM25 (created as needed:
        # one per search in flight, which the retrieval service already bounds).
        self._lists = ThreadPoolExecutor(max_workers=LIST_THREADS, thread_name_prefix="docsage-dense")

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
        self._delete_chunks(session, project_id, [document_id])
        if chunks:
            session.execute(insert(Chunk), chunk_rows(project_id, source_id, document_id, title, chunks, vectors))

    def delete_documents(self, session: Session, project_id: str, document_ids: list[str]) -> None:
        if document_ids:
            self._delete_chunks(session, project_id, document_ids)

    def _delete_chunks(self, session: Session, project_id: str, document_ids: list[str]) -> None:
        """Delete the documents' chunks into the deletion log, under a new generation.

        The generation first: its row lock, held until commit, makes a project's writers take turns, so its
        chunks commit in pk order and the replicas' caches can follow them by `pk > last seen`."""
        projects = ProjectRepository(session)
        projects.bump_index_generation(project_id)
        generation = projects.index_generation(project_id)
        conn = session.connection()
        for start in range(0, len(document_ids), 1000):
            params = {"docs": document_ids[start : start + 1000], "p": project_id, "g": generation}
            conn.exec_driver_sql(DELETE_SQL, params)
        if generation % self.prune_every == 0 and generation > self.keep_generations:
            for statement in PRUNE_SQL:
                conn.exec_driver_sql(statement, {"p": project_id, "h": generation - self.keep_generations})

    def _deleted_since(self, session: Session, project_id: str, generation: int) -> npt.NDArray[np.int64] | None:
        """The pks of the project's chunks deleted after `generation`; None if the log was pruned past it."""
        rows = list(session.connection().exec_driver_sql(DELETIONS_SQL, {"p": project_id, "g": generation}))
        if any(pk < 0 and logged > generation for pk, logged in rows):
            return None
        return np.asarray([pk for pk, _ in rows if pk >= 0], dtype=np.int64)

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
        dense = np.zeros(arrays.n, dtype=np.float32)
        dense_top = np.zeros(0, dtype=np.int64)
        if vector is None:
            lexical = arrays.lexical.score(analyze(query), mask)
            return arrays.candidate_set(lexical, dense, top_rows(lexical, mask & (lexical > 0), depth), dense_top)
        # The dense list is PostgreSQL's work, BM25 this process's: they run at once (the HNSW search waits on
        # another process, so the GIL is free for the postings). Only the list's thread uses the connection
        # until it is done; at 1M chunks the two took ~20 and ~40 ms one after the other.
        conn = session.connection()
        eligible = int(np.count_nonzero(mask))
        indexed = self._ann(session, int(vector.shape[-1])) if eligible >= self.exact_below else None
        literal, dim = vector_literal(vector), int(vector.shape[-1])
        listing = self._lists.submit(
            self._dense_list, conn, project_id, literal, dim, depth, source_ids, eligible, indexed
        )
        try:
            lexical = arrays.lexical.score(analyze(query), mask)
            lex_top = top_rows(lexical, mask & (lexical > 0), depth)
        finally:
            found = listing.result()  # waited for even if scoring failed: the connection is the thread's till then
        dense_top = self._dense_scores(conn, arrays, literal, dim, found, lex_top, dense)
        return arrays.candidate_set(lexical, dense, lex_top, dense_top)

    def _dense_list(
        self,
        conn: Connection,
        project_id: str,
        literal: str,
        dim: int,
        depth: int,
        source_ids: list[str] | None,
        eligible: int,
        indexed: VectorIndex | None,
    ) -> list[tuple[int, float]]:
        """(pk, inner product) of the dense top list: by the vector index when there is one and the project's
        eligible chunks are many enough, otherwise (or when the filtered list comes back short) by a scan."""
        params: dict[str, object] = {"q": literal, "p": project_id, "k": depth}
        shape = {"dim": dim, "sources": ""}
        if source_ids:
            shape["sources"], params["s"] = SOURCES_SQL, list(source_ids)
        found: list[tuple[int, float]] = []
        if indexed is not None:
            # pgvector 0.6 returns at most ef_search rows (HNSW), or the rows of the lists it probes (IVFFlat), and
            # filters them afterwards (by project, source), so a project that is a share of the index asks for
            # proportionally more (up to pgvector's limit, or every list).
            share = min(1.0, eligible / indexed.rows) if indexed.rows > 0 else 1.0
            if indexed.method == "ivfflat":
                lists = indexed.lists or 1
                probes = min(lists, math.ceil((self.ivfflat_probes or default_probes(lists)) / share))
                conn.exec_driver_sql(f"SELECT set_config('ivfflat.probes', '{probes}', true)")
            else:
                wanted = max(depth, self.ef_search, MIN_EF_SEARCH)
                ef = min(MAX_EF_SEARCH, math.ceil(wanted / share))
                conn.exec_driver_sql(f"SELECT set_config('hnsw.ef_search', '{ef}', true)")
            found = [(int(pk), float(s)) for pk, s in conn.exec_driver_sql(ANN_SQL.format(**shape), params)]
        if len(found) < ANN_KEPT_SHARE * min(depth, eligible):
            # Small, or too small a share of the index for its filtered list to fill up: exact, by a scan.
            found = [(int(pk), float(s)) for pk, s in conn.exec_driver_sql(EXACT_SQL.format(**shape), params)]
        return found

    @staticmethod
    def _dense_scores(
        conn: Connection,
        arrays: ProjectArrays,
        literal: str,
        dim: int,
        found: list[tuple[int, float]],
        lex_top: npt.NDArray[np.int64],
        dense: npt.NDArray[np.float32],
    ) -> npt.NDArray[np.int64]:
        """Fill `dense` with the inner product of every candidate row; return the dense top list's rows."""
        rows = arrays.rows_of(np.asarray([pk for pk, _ in found], dtype=np.int64))
        known = rows >= 0  # a chunk committed after this process last synced is not a candidate yet
        top = rows[known]
        dense[top] = np.asarray([s for _, s in found], dtype=np.float32)[known]
        top = top[np.argsort(-dense[top], kind="stable")]
        missing = np.setdiff1d(lex_top, top)
        if len(missing):
            params = {"q": literal, "pks": arrays.pks[missing].tolist()}
            rescored = list(conn.exec_driver_sql(RESCORE_SQL.format(dim=dim), params))
            if rescored:
                where = arrays.rows_of(np.asarray([pk for pk, _ in rescored], dtype=np.int64))
                dense[where] = np.asarray([s for _, s in rescored], dtype=np.float32)
        return top

    def _ann(self, session: Session, dim: int) -> VectorIndex | None:
        """The vector index for this dimension (method, the planner's row estimate: 0 when not yet counted,
        lists for IVFFlat), None when there is none; believed for INDEX_RECHECK_S."""
        known = self._ann_index.get(dim)
        if known is not None and time.monotonic() - known[1] < INDEX_RECHECK_S:
            return known[0]
        index = describe(session.connection(), dim)
        if index is None and (known is None or known[0] is not None):
            log.warning(
                "no vector index for %d-dimensional embeddings: dense search scans exactly; "
                "`docsage vector-index rebuild --dimensions %d` makes one",
                dim,
                dim,
            )
        self._ann_index[dim] = (index, time.monotonic())
        return index

    def term_weights(self, session: Session, project_id: str, terms: list[str]) -> dict[str, float]:
        arrays = self._cache.get(session, project_id)
        return arrays.lexical.idf(terms, arrays.alive[: arrays.n])

    def load(self, session: Session, pks: list[int]) -> dict[int, StoredChunk]:
        if not pks:
            return {}
        rows = session.connection().exec_driver_sql(LOAD_SQL, {"pks": pks})
        return {int(r[0]): StoredChunk(int(r[0]), *r[1:]) for r in rows}
