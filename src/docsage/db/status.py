"""Read-only facts about a configured database for `docsage doctor`: reachable, schema revision, extensions."""

from __future__ import annotations

from dataclasses import dataclass

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.pool import NullPool

from docsage.db.engine import alembic_config, make_engine

CONNECT_TIMEOUT_S = 5


def probe_engine(url: str) -> Engine:
    """An engine that opens one connection at a time and gives up connecting after a few seconds (a doctor must
    not hang on a firewalled host); SQLite gets the usual engine."""
    if url.startswith("sqlite"):
        return make_engine(url)
    if url.startswith("postgresql:") or url.startswith("postgres:"):
        url = "postgresql+psycopg:" + url.split(":", 1)[1]  # the driver docsage ships
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})


@dataclass(frozen=True)
class SchemaRevision:
    current: str | None  # None: no migration has run (an empty database)
    head: str
    known: bool  # False: the database was migrated by a newer docsage than this one

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def server_version(conn: Connection) -> str:
    if conn.dialect.name == "postgresql":
        return str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]
    if conn.dialect.name == "sqlite":
        return str(conn.execute(text("SELECT sqlite_version()")).scalar_one())
    return ".".join(map(str, conn.dialect.server_version_info or ()))


def schema_revision(engine: Engine, conn: Connection) -> SchemaRevision:
    script = ScriptDirectory.from_config(alembic_config(engine))
    head = script.get_current_head()
    assert head is not None, "docsage ships one linear migration history"
    current = MigrationContext.configure(conn).get_current_revision()
    known = current is None or current in {rev.revision for rev in script.walk_revisions()}
    return SchemaRevision(current, head, known)


def has_table(conn: Connection, name: str) -> bool:
    return inspect(conn).has_table(name)


def extension_version(conn: Connection, name: str) -> tuple[str | None, str | None]:
    """(installed version, version the server could install) of a PostgreSQL extension; None where absent."""
    installed = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = :n"), {"n": name}).scalar()
    available = conn.execute(
        text("SELECT default_version FROM pg_available_extensions WHERE name = :n"), {"n": name}
    ).scalar()
    return (str(installed) if installed else None), (str(available) if available else None)
