"""PostgreSQL specifics of the engine: migrations under an advisory lock, and the change signal caches read."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

# pg_advisory_lock key that serialises migrations: every process migrating one database waits on it.
MIGRATE_LOCK_KEY = int.from_bytes(b"docsage", "big")  # 0x646f6373616765; fits a bigint


ANN_INDEX_PREFIX = "ix_chunks_embedding_hnsw_"  # + the embedding dimension; made by migrations
# The vector index of one dimension is one of these (`docsage vector-index rebuild --method`), named by its method.
ANN_INDEX_PREFIXES = {"hnsw": ANN_INDEX_PREFIX, "ivfflat": "ix_chunks_embedding_ivfflat_"}


def include_in_schema_comparison(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
    """Alembic's include_object hook: the vector indexes are expression indexes, one per embedding dimension,
    that the models cannot describe; migrations own them, and schema comparisons leave them out."""
    return not (type_ == "index" and name is not None and name.startswith(tuple(ANN_INDEX_PREFIXES.values())))


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_without_nul(v) for v in value)
    return value


def _strip_nul(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    """PostgreSQL text cannot hold U+0000 (SQLite's can): a NUL typed into a question, a file's text or an id
    in a URL (`/threads/%00/`) would fail the statement with a 500. Dropped from every string parameter, it
    finds nothing where it looked something up and stores the text without it."""
    return statement, _without_nul(parameters)


def make_postgres_engine(url: str) -> Engine:
    import pgvector.sqlalchemy  # noqa: F401  (teaches SQLAlchemy to reflect pgvector's `vector` columns)

    if not url.startswith("postgresql+psycopg"):
        # psycopg 3 is the driver docsage ships; a bare postgresql:// URL would make SQLAlchemy load psycopg2.
        url = "postgresql+psycopg" + url[url.index(":") :]
    engine = create_engine(url, pool_pre_ping=True)
    event.listen(engine, "before_cursor_execute", _strip_nul, retval=True)
    return engine


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the migration advisory lock: replicas starting together migrate one after another, and the ones
    that come second find the schema at head. A session-level lock on its own autocommit connection, so it is
    released even if the process dies (the connection closes)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATE_LOCK_KEY})")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATE_LOCK_KEY})")


def _fingerprint(snapshot: str) -> int:
    return int.from_bytes(hashlib.blake2b(snapshot.encode(), digest_size=8).digest(), "big")


class SnapshotWatch:
    """PostgreSQL's equivalent of SQLite's PRAGMA data_version: a number that changes after any commit.

    It is read from `pg_current_snapshot()` (xmin:xmax:in-progress xids) on one autocommit connection. Every
    transaction that writes gets a transaction id, and when it commits (or aborts) that id leaves the
    in-progress list or moves xmax past it, so the snapshot text differs from any read before the commit —
    whatever wrote it: this process, another replica, a worker, or `psql` by hand. Read-only transactions
    take no id and change nothing. No table, no trigger and no write on the hot path; one round trip
    (~0.1 ms on a local socket). Commits in other databases of the same cluster also change it, which only
    costs a cache re-check.
    """

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]]) -> None:
        self._connect = connect
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_engine(cls, engine: Engine) -> SnapshotWatch:
        import psycopg

        args, kwargs = engine.dialect.create_connect_args(engine.url)
        return cls(lambda: psycopg.connect(*args, **{**kwargs, "autocommit": True}))

    def _read(self) -> str:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        row = self._conn.execute("SELECT pg_current_snapshot()::text").fetchone()
        assert row is not None
        return str(row[0])

    def __call__(self) -> int:
        import psycopg

        with self._lock:
            try:
                return _fingerprint(self._read())
            except psycopg.OperationalError:
                # The server restarted or dropped the connection: reconnect once; a second failure is real.
                log.warning("change-signal connection lost; reconnecting")
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                return _fingerprint(self._read())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
