"""PostgreSQL's HNSW index over chunk embeddings: what it is, and rebuilding it with other graph parameters
without taking search down (`docsage vector-index`; docs/retrieval.md, "A denser graph").

Migration 0009 creates the index with pgvector's defaults (m 16, ef_construction 64): enough for recall@10
0.99 at 100,000 chunks, 0.88 at 1,000,000 on the bench's corpus, where m 48 / ef_construction 256 reached
0.987. A rebuild makes the new graph under a temporary name with `CREATE INDEX CONCURRENTLY` (writes and
searches go on), then swaps names in one short transaction. The search backend finds the index by name and
expression, so it uses the new one from the swap on.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

from docsage.db.postgres import ANN_INDEX_PREFIX
from docsage.errors import DocsageError, InvalidInputError

DEFAULT_M, DEFAULT_EF_CONSTRUCTION = 16, 64  # pgvector's, and migration 0009's
M_RANGE, EF_CONSTRUCTION_RANGE = (2, 100), (4, 1000)  # pgvector 0.6's limits
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
    m: int
    ef_construction: int
    valid: bool  # False: a build that failed or was interrupted left it; searches do not use it
    size_bytes: int
    rows: int  # chunks of this dimension (the planner's estimate after ANALYZE; exact for small tables)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Progress:
    phase: str
    done: int
    total: int


def index_name(dimensions: int) -> str:
    return f"{ANN_INDEX_PREFIX}{dimensions}"


def index_sql(name: str, dimensions: int, m: int, ef_construction: int, concurrently: bool = False) -> str:
    """The definition migration 0009 uses (the backend matches its name and expression), with graph options."""
    with_options = "" if (m, ef_construction) == (DEFAULT_M, DEFAULT_EF_CONSTRUCTION) else (
        f" WITH (m = {m}, ef_construction = {ef_construction})"
    )  # fmt: skip
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}{name} ON chunks "
        f"USING hnsw ((embedding::vector({dimensions})) vector_cosine_ops){with_options} "
        f"WHERE vector_dims(embedding) = {dimensions}"
    )


def _require_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        raise InvalidInputError(
            f"the vector index is PostgreSQL's (pgvector HNSW); this database is {engine.dialect.name}, where "
            "dense search is an exact scan in each process and has no index to build"
        )


def _check_dimensions(dimensions: int) -> None:
    if not 1 <= dimensions <= MAX_HNSW_DIMENSIONS:
        raise InvalidInputError(f"dimensions must be 1–{MAX_HNSW_DIMENSIONS} (pgvector's HNSW limit), got {dimensions}")


def describe(conn: Connection, dimensions: int) -> VectorIndex | None:
    """The HNSW index for embeddings of this many dimensions, None when there is none."""
    found = [index for index in all_indexes(conn) if index.name == index_name(dimensions)]
    return found[0] if found else None


def all_indexes(conn: Connection) -> list[VectorIndex]:
    """Every chunk-embedding HNSW index (one per dimension; a temporary one of a running rebuild left out)."""
    rows = conn.execute(
        text(
            "SELECT c.relname, c.reloptions, i.indisvalid, pg_relation_size(c.oid), greatest(c.reltuples, 0) "
            "FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE c.relkind = 'i' AND c.relname LIKE :prefix ORDER BY c.relname"
        ),
        {"prefix": ANN_INDEX_PREFIX.replace("_", r"\_") + "%"},
    )
    indexes = []
    for name, reloptions, valid, size, reltuples in rows:
        suffix = str(name)[len(ANN_INDEX_PREFIX) :]
        if not suffix.isdigit():
            continue
        options = dict(opt.split("=", 1) for opt in reloptions or [])
        indexes.append(
            VectorIndex(
                name=str(name),
                dimensions=int(suffix),
                m=int(options.get("m", DEFAULT_M)),
                ef_construction=int(options.get("ef_construction", DEFAULT_EF_CONSTRUCTION)),
                valid=bool(valid),
                size_bytes=int(size),
                rows=int(reltuples),
            )
        )
    return indexes


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


def _build_memory(rows: int, dimensions: int, m: int, requested: str | None) -> str:
    if requested is not None:
        return f"{parse_memory(requested) >> 10}kB"
    need = int(graph_bytes(rows, dimensions, m) * 1.1) >> 20
    return f"{max(MIN_WORK_MEM_MB, need)}MB"


def _progress(conn: Connection) -> Progress | None:
    row = conn.execute(
        text(
            "SELECT phase, tuples_done, tuples_total, blocks_done, blocks_total FROM pg_stat_progress_create_index "
            "WHERE relid = to_regclass('chunks')"
        )
    ).first()
    if row is None:
        return None
    phase, tuples_done, tuples_total, blocks_done, blocks_total = row
    if tuples_total:
        return Progress(str(phase), int(tuples_done), int(tuples_total))
    return Progress(str(phase), int(blocks_done or 0), int(blocks_total or 0))


def rebuild(
    engine: Engine,
    dimensions: int,
    m: int = DEFAULT_M,
    ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    *,
    maintenance_work_mem: str | None = None,
    parallel_workers: int | None = None,
    on_progress: Callable[[Progress], None] = lambda _: None,
) -> tuple[VectorIndex | None, VectorIndex]:
    """Build the index anew with these graph options while searches and writes go on; return (before, after).

    The new index is built under a temporary name and swapped in by one short transaction; if the build fails
    or is interrupted, the old index stays in use (a leftover temporary index is dropped by the next run)."""
    _require_postgresql(engine)
    _check_dimensions(dimensions)
    if not M_RANGE[0] <= m <= M_RANGE[1]:
        raise InvalidInputError(f"m must be {M_RANGE[0]}–{M_RANGE[1]}, got {m}")
    if not EF_CONSTRUCTION_RANGE[0] <= ef_construction <= EF_CONSTRUCTION_RANGE[1]:
        raise InvalidInputError(f"ef_construction must be {EF_CONSTRUCTION_RANGE[0]}–{EF_CONSTRUCTION_RANGE[1]}")
    if ef_construction < 2 * m:
        raise InvalidInputError(
            f"ef_construction must be at least 2 × m (pgvector's rule): {ef_construction} < {2 * m}"
        )
    if parallel_workers is not None and parallel_workers < 0:
        raise InvalidInputError("parallel workers must be 0 or more")
    name, new = index_name(dimensions), index_name(dimensions) + NEW_SUFFIX
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        before = describe(conn, dimensions)
        rows = conn.execute(
            text("SELECT count(*) FROM chunks WHERE vector_dims(embedding) = :d"), {"d": dimensions}
        ).scalar_one()
        conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {new}"))  # an earlier interrupted build's
        conn.execute(text(f"SET maintenance_work_mem = '{_build_memory(rows, dimensions, m, maintenance_work_mem)}'"))
        if parallel_workers is not None:
            conn.execute(text(f"SET max_parallel_maintenance_workers = {int(parallel_workers)}"))
        builder_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        failure: list[BaseException] = []

        def build() -> None:
            try:
                conn.execute(text(index_sql(new, dimensions, m, ef_construction, concurrently=True)))
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
            swap.execute(text(f"DROP INDEX IF EXISTS {name}"))
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
