"""PostgreSQL's vector index over chunk embeddings: what it is, and rebuilding it with another method or other
parameters without taking search down (`docsage vector-index`; docs/retrieval.md, "Recall at 1,000,000 chunks").

Migration 0009 creates an HNSW index with pgvector's defaults (m 16, ef_construction 64). It grows with the
table from empty, and gave recall@10 0.99 at 100,000 chunks but 0.88 at 1,000,000 on the bench's corpus,
where denser graphs reached only 0.97 (pgvector 0.6 searches at most 1,000 candidates). An IVFFlat index
built from the loaded rows (1,000 lists at 1M chunks) reached 0.995 with 20 lists probed, built in a minute
instead of 5–40, and takes new rows without slowing writes; its lists are learnt from the rows it was built
on, so it is made once a corpus is loaded and rebuilt when the corpus has changed a lot.

A rebuild makes the new index under a temporary name with `CREATE INDEX CONCURRENTLY` (writes and searches go
on), then swaps it in with one short transaction. The search backend finds the index by name and expression
and asks it with that method's setting (hnsw.ef_search, ivfflat.probes) from the swap on.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Engine, text

from docsage.db.postgres import ANN_INDEX_PREFIXES
from docsage.errors import DocsageError, InvalidInputError

Method = Literal["hnsw", "ivfflat"]
METHODS: tuple[Method, ...] = ("hnsw", "ivfflat")
DEFAULT_M, DEFAULT_EF_CONSTRUCTION = 16, 64  # pgvector's, and migration 0009's
M_RANGE, EF_CONSTRUCTION_RANGE = (2, 100), (4, 1000)  # pgvector 0.6's limits
LISTS_RANGE = (1, 32768)
IVFFLAT_DEFAULT_LISTS = 100  # pgvector's, for an index made without `lists`
MIN_PROBES = 10
IVFFLAT_SAMPLE_PER_LIST = 50  # pgvector's k-means sample
MAX_HNSW_DIMENSIONS = 2000  # pgvector indexes `vector` up to 2,000 dimensions
MIN_WORK_MEM_MB = 64
PROGRESS_EVERY_S = 2.0
NEW_SUFFIX = "_new"
SWAP_LOCK_TIMEOUT = "30s"
MEMORY = re.compile(r"^\s*(\d+)\s*(kB|MB|GB|TB)\s*$", re.IGNORECASE)
UNITS = {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}


@dataclass(frozen=True)
class VectorIndex:
    name: str
    dimensions: int
    method: Method
    m: int | None  # HNSW's graph parameters (None for IVFFlat)
    ef_construction: int | None
    lists: int | None  # IVFFlat's (None for HNSW)
    valid: bool  # False: a build that failed or was interrupted left it; searches do not use it
    size_bytes: int
    rows: int  # chunks of this dimension (the planner's estimate after ANALYZE; exact for small tables)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def parameters(self) -> str:
        if self.method == "ivfflat":
            return f"IVFFlat, {self.lists:,} lists"
        return f"HNSW, m {self.m}, ef_construction {self.ef_construction}"


@dataclass(frozen=True)
class Progress:
    """PostgreSQL's pg_stat_progress_create_index: pgvector counts the rows it has put in the index and the
    table blocks it has read (of all of them; its tuples_total stays 0)."""

    phase: str
    rows: int
    blocks: int
    blocks_total: int

    def __str__(self) -> str:
        share = f", {100 * self.blocks / self.blocks_total:.0f}% of the table read" if self.blocks_total else ""
        return f"{self.phase}: {self.rows:,} rows{share}"


def index_name(dimensions: int, method: Method = "hnsw") -> str:
    return f"{ANN_INDEX_PREFIXES[method]}{dimensions}"


def index_sql(
    name: str,
    dimensions: int,
    method: Method = "hnsw",
    m: int = DEFAULT_M,
    ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    lists: int = IVFFLAT_DEFAULT_LISTS,
    concurrently: bool = False,
) -> str:
    """Migration 0009's definition (the backend matches its expression) with the method's options."""
    if method == "ivfflat":
        with_options = f" WITH (lists = {lists})"
    elif (m, ef_construction) == (DEFAULT_M, DEFAULT_EF_CONSTRUCTION):
        with_options = ""
    else:
        with_options = f" WITH (m = {m}, ef_construction = {ef_construction})"
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}{name} ON chunks "
        f"USING {method} ((embedding::vector({dimensions})) vector_cosine_ops){with_options} "
        f"WHERE vector_dims(embedding) = {dimensions}"
    )


def default_probes(lists: int) -> int:
    """IVFFlat lists a search probes unless configured: a fiftieth, at least MIN_PROBES (recall@10 0.986–0.995
    at 1M chunks and 1,000 lists; every list of a small index)."""
    return max(MIN_PROBES, lists // 50)


def default_lists(rows: int) -> int:
    """pgvector's advice: rows / 1000 up to 1M rows, √rows beyond."""
    return max(10, rows // 1000) if rows <= 1_000_000 else int(math.sqrt(rows))


def _require_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        raise InvalidInputError(
            f"the vector index is PostgreSQL's (pgvector's HNSW or IVFFlat); this database is {engine.dialect.name}, "
            "where dense search is an exact scan in each process and has no index to build"
        )


def _check_dimensions(dimensions: int) -> None:
    if not 1 <= dimensions <= MAX_HNSW_DIMENSIONS:
        raise InvalidInputError(f"dimensions must be 1–{MAX_HNSW_DIMENSIONS} (pgvector's HNSW limit), got {dimensions}")


def describe(conn: Connection, dimensions: int) -> VectorIndex | None:
    """The vector index for embeddings of this many dimensions (the HNSW one if both were made by hand), None
    when there is none."""
    found = [index for index in all_indexes(conn) if index.dimensions == dimensions]
    return found[0] if found else None


def all_indexes(conn: Connection) -> list[VectorIndex]:
    """Every chunk-embedding vector index (one per dimension; a running rebuild's temporary one left out)."""
    patterns = [prefix.replace("_", r"\_") + "%" for prefix in ANN_INDEX_PREFIXES.values()]
    rows = conn.execute(
        text(
            "SELECT c.relname, c.reloptions, i.indisvalid, pg_relation_size(c.oid), greatest(c.reltuples, 0) "
            "FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE c.relkind = 'i' AND (c.relname LIKE :hnsw OR c.relname LIKE :ivfflat) ORDER BY c.relname"
        ),
        dict(zip(ANN_INDEX_PREFIXES, patterns, strict=True)),
    )
    indexes = []
    for name, reloptions, valid, size, reltuples in rows:
        method: Method = "ivfflat" if str(name).startswith(ANN_INDEX_PREFIXES["ivfflat"]) else "hnsw"
        suffix = str(name)[len(ANN_INDEX_PREFIXES[method]) :]
        if not suffix.isdigit():
            continue
        options = dict(opt.split("=", 1) for opt in reloptions or [])
        hnsw = method == "hnsw"
        indexes.append(
            VectorIndex(
                name=str(name),
                dimensions=int(suffix),
                method=method,
                m=int(options.get("m", DEFAULT_M)) if hnsw else None,
                ef_construction=int(options.get("ef_construction", DEFAULT_EF_CONSTRUCTION)) if hnsw else None,
                lists=None if hnsw else int(options.get("lists", IVFFLAT_DEFAULT_LISTS)),
                valid=bool(valid),
                size_bytes=int(size),
                rows=int(reltuples),
            )
        )
    return sorted(indexes, key=lambda i: (i.dimensions, i.method))


def parse_memory(value: str) -> int:
    """Bytes of a PostgreSQL memory setting written with a unit ('512MB', '3GB')."""
    found = MEMORY.match(value)
    if not found:
        raise InvalidInputError(
            f"memory must be a number with kB, MB, GB or TB (as PostgreSQL writes it), got {value!r}"
        )
    return int(found[1]) * UNITS[found[2].lower()]


def graph_bytes(rows: int, dimensions: int, m: int) -> int:
    """About what the graph takes while it is built: the vector, and m neighbours on each of ~2 levels (2.0 kB
    a 384-d vector at m 16 and 2.6 kB at m 48 measured at 1M chunks; this errs a little high)."""
    return rows * (dimensions * 4 + 64 + 24 * m)


def kmeans_bytes(samples: int, dimensions: int, lists: int) -> int:
    """What pgvector's k-means for IVFFlat allocates: the sample, a lower bound per sample and list, the lists'
    distances to each other (272 MB for 1,000 lists of 384-d vectors, as PostgreSQL reported it)."""
    vector = dimensions * 4 + 8
    return samples * vector + samples * lists * 4 + 2 * lists * lists * 4 + 2 * lists * vector


def _build_memory(rows: int, dimensions: int, method: Method, m: int, lists: int, requested: str | None) -> str:
    if requested is not None:
        return f"{parse_memory(requested) >> 10}kB"
    if method == "ivfflat":
        need = int(kmeans_bytes(min(rows, lists * IVFFLAT_SAMPLE_PER_LIST), dimensions, lists) * 1.2) >> 20
    else:
        need = int(graph_bytes(rows, dimensions, m) * 1.1) >> 20
    return f"{max(MIN_WORK_MEM_MB, need)}MB"


def _progress(conn: Connection) -> Progress | None:
    row = conn.execute(
        text(
            "SELECT phase, tuples_done, blocks_done, blocks_total FROM pg_stat_progress_create_index "
            "WHERE relid = to_regclass('chunks')"
        )
    ).first()
    if row is None:
        return None
    phase, tuples_done, blocks_done, blocks_total = row
    return Progress(str(phase), int(tuples_done or 0), int(blocks_done or 0), int(blocks_total or 0))


def rebuild(
    engine: Engine,
    dimensions: int,
    method: Method = "hnsw",
    m: int = DEFAULT_M,
    ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    lists: int | None = None,
    *,
    maintenance_work_mem: str | None = None,
    parallel_workers: int | None = None,
    on_progress: Callable[[Progress], None] = lambda _: None,
) -> tuple[VectorIndex | None, VectorIndex]:
    """Build the index anew with this method and options while searches and writes go on; return (before,
    after). `lists` (IVFFlat) defaults to pgvector's advice for the rows there are.

    The new index is built under a temporary name and swapped in by one short transaction; if the build fails
    or is interrupted, the old index stays in use (a leftover temporary index is dropped by the next run)."""
    _require_postgresql(engine)
    _check_dimensions(dimensions)
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not M_RANGE[0] <= m <= M_RANGE[1]:
        raise InvalidInputError(f"m must be {M_RANGE[0]}–{M_RANGE[1]}, got {m}")
    if not EF_CONSTRUCTION_RANGE[0] <= ef_construction <= EF_CONSTRUCTION_RANGE[1]:
        raise InvalidInputError(f"ef_construction must be {EF_CONSTRUCTION_RANGE[0]}–{EF_CONSTRUCTION_RANGE[1]}")
    if ef_construction < 2 * m:
        raise InvalidInputError(f"ef_construction must be at least 2 × m (pgvector's rule), got {ef_construction}")
    if lists is not None and not LISTS_RANGE[0] <= lists <= LISTS_RANGE[1]:
        raise InvalidInputError(f"lists must be {LISTS_RANGE[0]}–{LISTS_RANGE[1]:,}, got {lists}")
    if parallel_workers is not None and parallel_workers < 0:
        raise InvalidInputError("parallel workers must be 0 or more")
    if maintenance_work_mem is not None:
        parse_memory(maintenance_work_mem)
    # Both methods' names go at the swap: one index per dimension, under its method's name.
    names = [index_name(dimensions, other) for other in METHODS]
    name, new = index_name(dimensions, method), index_name(dimensions, method) + NEW_SUFFIX
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        before = describe(conn, dimensions)
        rows = conn.execute(
            text("SELECT count(*) FROM chunks WHERE vector_dims(embedding) = :d"), {"d": dimensions}
        ).scalar_one()
        if method == "ivfflat" and rows == 0:
            raise InvalidInputError(
                f"an IVFFlat index learns its lists from the rows, and there are no {dimensions}-dimensional "
                "embeddings yet: ingest first (or keep HNSW, which grows from empty)"
            )
        lists = lists if lists is not None else default_lists(rows)
        for leftover in METHODS:  # an earlier interrupted build's
            conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {index_name(dimensions, leftover)}{NEW_SUFFIX}"))
        memory = _build_memory(rows, dimensions, method, m, lists, maintenance_work_mem)
        conn.execute(text(f"SET maintenance_work_mem = '{memory}'"))
        if parallel_workers is not None:
            conn.execute(text(f"SET max_parallel_maintenance_workers = {int(parallel_workers)}"))
        builder_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        failure: list[BaseException] = []

        def build() -> None:
            try:
                sql = index_sql(new, dimensions, method, m, ef_construction, lists, concurrently=True)
                conn.execute(text(sql))
            except BaseException as exc:  # re-raised by the caller's thread below
                failure.append(exc)

        builder = threading.Thread(target=build, name="docsage-vector-index", daemon=True)
        with engine.connect() as watcher:
            builder.start()
            try:
                while builder.is_alive():
                    builder.join(PROGRESS_EVERY_S)
                    if builder.is_alive() and (progress := _progress(watcher)) is not None:
                        on_progress(progress)
                    watcher.rollback()  # each poll its own snapshot
            except BaseException:  # Ctrl-C: the server would go on building for nobody
                watcher.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": builder_pid})
                watcher.commit()
                builder.join()
                raise
        if failure:
            conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {new}"))
            raise DocsageError(f"building the vector index failed; the old index is still in use: {failure[0]}")
        # The swap, one transaction: searches see the old index or the new one, never none. DROP INDEX waits for
        # searches running on the table; a bounded wait, so a stuck one cannot queue every search behind it.
        with engine.begin() as swap:
            swap.execute(text(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'"))
            for old in names:
                swap.execute(text(f"DROP INDEX IF EXISTS {old}"))
            swap.execute(text(f"ALTER INDEX {new} RENAME TO {name}"))
        conn.execute(text("ANALYZE chunks"))
        after = describe(conn, dimensions)
    assert after is not None
    return before, after


def show(engine: Engine, dimensions: int) -> VectorIndex | None:
    _require_postgresql(engine)
    _check_dimensions(dimensions)
    with engine.connect() as conn:
        return describe(conn, dimensions)
