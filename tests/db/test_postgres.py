"""PostgreSQL storage: `docsage migrate` builds exactly the models' schema (plus pgvector and its HNSW index),
concurrent migrations never race, and data_version() changes after any commit from anywhere."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import databases
from conftest import DOCSAGE_EXE, cli_env
from docsage.db.engine import Database, alembic_config, make_engine
from docsage.db.models import Base
from docsage.db.postgres import include_in_schema_comparison

pytestmark = pytest.mark.postgresql_only
HEAD = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://"))).get_current_head()


def migrate_cmd(home: Path, url: str) -> subprocess.Popen[str]:
    env = {**cli_env(home), "DOCSAGE_DATABASE_URL": url}
    return subprocess.Popen(
        [str(DOCSAGE_EXE), "migrate", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def schema_diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include_in_schema_comparison}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def catalog(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url.replace("+psycopg", "", 1)) as conn:
        return list(conn.execute(sql).fetchall())


def test_migrate_builds_exactly_the_models_schema_with_pgvector(tmp_path: Path) -> None:
    """On an empty database `docsage migrate` creates the models' tables, the vector extension, the chunk
    embedding as a `vector` and the HNSW index; a second run has nothing to do."""
    url = databases.postgres().create_database(empty=True)
    first = finished(migrate_cmd(tmp_path, url))
    assert first == {"database": "postgresql", "from": None, "to": HEAD, "migrated": True}
    assert schema_diff(url) == []
    assert catalog(url, "SELECT extname FROM pg_extension WHERE extname = 'vector'") == [("vector",)]
    assert catalog(url, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                   "WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'") == [("vector",)]  # fmt: skip
    [(definition,)] = catalog(url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_chunks_embedding_hnsw_384'")
    assert "USING hnsw" in definition and "vector_cosine_ops" in definition, definition
    again = finished(migrate_cmd(tmp_path, url))
    assert again == {"database": "postgresql", "from": HEAD, "to": HEAD, "migrated": False}


def test_concurrent_migrations_wait_for_each_other(tmp_path: Path) -> None:
    """Four `docsage migrate` started together on one empty database (replicas starting at once): the advisory
    lock lets one migrate and the others find the schema at head; none fails."""
    url = databases.postgres().create_database(empty=True)
    procs = [migrate_cmd(tmp_path / f"replica-{i}", url) for i in range(4)]
    results = [finished(p) for p in procs]
    assert sorted(r["migrated"] for r in results) == [False, False, False, True]
    assert {r["to"] for r in results} == {HEAD}
    assert catalog(url, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert schema_diff(url) == []


def test_data_version_changes_after_any_commit_and_only_then() -> None:
    """The change signal caches rest on: still while only reads happen, moved by a commit from another
    connection (another replica, `psql`), including a commit made outside docsage."""
    url = databases.postgres().create_database()
    database = Database(url)
    try:
        before = database.data_version()
        with database.session() as session:
            session.connection().exec_driver_sql("SELECT count(*) FROM projects").scalar()
        assert database.data_version() == before
        with psycopg.connect(url.replace("+psycopg", "", 1)) as other:
            other.execute("INSERT INTO teams (id, name, created_at) VALUES ('t', 'outside', now())")
            assert database.data_version() == before, "not committed yet: nothing visible changed"
        after = database.data_version()
        assert after != before
        assert database.data_version() == after
        with database.session() as session:  # a write through docsage itself moves it too
            session.connection().exec_driver_sql("UPDATE teams SET name = 'renamed'")
        assert database.data_version() != after
    finally:
        database.dispose()
