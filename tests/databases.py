"""The database backend the tests run on: SQLite files (default) or PostgreSQL (`pytest --database=postgresql`).

On PostgreSQL a real server (PostgreSQL 16 + pgvector, from the `pgserver` wheel) is started once per test
session, the migrations build a template database once, and every docsage home used by the tests gets its own
database copied from that template (~20 ms). Homes pick it up through DOCSAGE_DATABASE_URL, so in-process
services, CLI subprocesses and `docsage serve` processes all use it.
"""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

BACKENDS = ("sqlite", "postgresql")
TEMPLATE = "docsage_template"
# Test speed over durability: the server's data is thrown away after the session.
SERVER_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "autovacuum": "off"}


class PostgresForTests:
    """One PostgreSQL server for the session, with a migrated template and a database per docsage home."""

    def __init__(self) -> None:
        with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set" (it falls back to /tmp)
            warnings.simplefilter("ignore")
            import pgserver

        self._dir = Path(tempfile.mkdtemp(prefix="docsage-pg-"))
        self.server = pgserver.get_server(self._dir / "data", cleanup_mode="delete")
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        with self.admin() as conn:
            for name, value in SERVER_SETTINGS.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        self.migrate(self.url(TEMPLATE))

    def url(self, database: str) -> str:
        """The SQLAlchemy URL docsage takes (DOCSAGE_DATABASE_URL) for one database of this server."""
        return self.server.get_uri(database).replace("postgresql://", "postgresql+psycopg://", 1)

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.server.get_uri("postgres"), autocommit=True)

    @staticmethod
    def migrate(url: str) -> None:
        from docsage.db.engine import make_engine, migrate

        engine = make_engine(url)
        try:
            migrate(engine)
        finally:
            engine.dispose()

    def create_database(self, empty: bool = False) -> str:
        """A new database: a copy of the migrated template, or with `empty` one without any table."""
        with self._lock:
            name = f"docsage_test_{next(self._names)}"
        template = "template0" if empty else TEMPLATE
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        return self.url(name)

    def stop(self) -> None:
        self.server.cleanup()


class _State:
    backend = "sqlite"
    postgres: PostgresForTests | None = None
    home_urls: dict[Path, str] = {}


def configure(backend: str) -> None:
    _State.backend = backend


def backend() -> str:
    return _State.backend


def postgres() -> PostgresForTests:
    """The session's PostgreSQL server, started on first use."""
    if _State.postgres is None:
        _State.postgres = PostgresForTests()
    return _State.postgres


def shutdown() -> None:
    if _State.postgres is not None:
        _State.postgres.stop()
        _State.postgres = None


def database_url(home: Path) -> str:
    """DOCSAGE_DATABASE_URL for a docsage home: "" on SQLite (its file under the home), else its own database."""
    if _State.backend == "sqlite":
        return ""
    key = home.resolve()
    if key not in _State.home_urls:
        _State.home_urls[key] = postgres().create_database()
    return _State.home_urls[key]


class TestConnection:
    """A DB-API connection to a home's database that takes SQLite's `?` placeholders on either backend, so a
    test's assertions read the same rows whatever the backend (its SQL must be portable)."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, home: Path) -> None:
        url = database_url(home)
        self.is_postgresql = bool(url)
        if self.is_postgresql:
            import psycopg
            from psycopg.types.string import TextLoader

            self._conn: Any = psycopg.connect(url.replace("+psycopg", "", 1), autocommit=True)
            for json_type in ("json", "jsonb"):  # JSON columns read as their text, as SQLite returns them
                self._conn.adapters.register_loader(json_type, TextLoader)
        else:
            self._conn = sqlite3.connect(home / "docsage.db", timeout=30)

    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        if self.is_postgresql and params:
            sql = sql.replace("%", "%%").replace("?", "%s")
        return self._conn.execute(sql, tuple(params)) if params else self._conn.execute(sql)

    def commit(self) -> None:
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> TestConnection:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self._conn.commit()
        else:
            self._conn.rollback()
