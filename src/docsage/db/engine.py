"""Engine and session factory for SQLite (the default) or PostgreSQL; runs migrations to head, once."""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from docsage.db.postgres import SnapshotWatch, make_postgres_engine, migration_lock


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        return make_postgres_engine(url)
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("docsage.db") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _upgrade(engine: Engine) -> tuple[str | None, str | None]:
    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    return before, current_revision(engine)


def migrate(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to the newest migration (a no-op when already there); the revisions before and after.

    For a SQLite file, an exclusive lock file serialises processes that start at once on a fresh database
    (two CLI calls, or the server and an ingest), which would otherwise both try to create the tables; on
    PostgreSQL an advisory lock does the same across hosts (replicas starting together, `docsage migrate`).
    """
    if engine.dialect.name == "postgresql":
        with migration_lock(engine):
            return _upgrade(engine)
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        return _upgrade(engine)
    with open(f"{path}.migrate-lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _upgrade(engine)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Database:
    """An engine plus its session factory, migrated on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._watch: sqlite3.Connection | None = None
        self._snapshots = SnapshotWatch.for_engine(self.engine) if self.is_postgresql else None
        # Set by docsage.invalidation when every process announces its commits over Redis: data_version() then
        # answers from the announcements, without asking the database.
        self.announced_version: Callable[[], int | None] | None = None
        self._watch_lock = threading.Lock()
        path = self.engine.url.database if self.is_sqlite else None
        if path and path != ":memory:":
            # A connection that never writes: its PRAGMA data_version changes whenever any other connection,
            # in this process or another (a CLI ingest, a key revoked from the shell), commits.
            self._watch = sqlite3.connect(path, check_same_thread=False, isolation_level=None)

    def data_version(self) -> int | None:
        """A number that changes whenever anything is committed to the database (SQLite: ~3 µs to read;
        PostgreSQL: one round trip, see SnapshotWatch), so hot paths can keep what they read until it does;
        None when the database cannot tell (then re-read every time)."""
        if self.announced_version is not None:
            return self.announced_version()
        if self._snapshots is not None:
            return self._snapshots()
        if self._watch is None:
            return None
        with self._watch_lock:
            return int(self._watch.execute("PRAGMA data_version").fetchall()[0][0])

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def dispose(self) -> None:
        """Close every connection this object holds (the pool and the change-signal connection)."""
        if self._snapshots is not None:
            self._snapshots.close()
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any exception."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


@lru_cache(maxsize=8)
def get_database(url: str) -> Database:
    return Database(url)
