"""The Alembic migrations build exactly the schema the models describe, and upgrade an existing SQLite database
(PostgreSQL: tests/db/test_postgres.py)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from docsage.db.engine import Database, alembic_config, make_engine
from docsage.db.models import Base

HEAD = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://"))).get_current_head()
pytestmark = pytest.mark.sqlite_only


def test_migrations_build_the_schema_the_models_describe(tmp_path: Path) -> None:
    """A model change without its migration (or the reverse) would break upgrades of existing databases."""
    database = Database(f"sqlite:///{tmp_path / 'docsage.db'}")
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    database.engine.dispose()
    assert diff == []


def _database_at(path: Path, revision: str) -> None:
    """A database file built by the migrations up to `revision` (what an older docsage left behind)."""
    engine = make_engine(f"sqlite:///{path}")
    command.upgrade(alembic_config(engine), revision)
    engine.dispose()


def test_upgrading_a_database_keeps_its_question_answers(tmp_path: Path) -> None:
    """A database from before migration 0005 upgrades in place: its answers stay, marked not interrupted."""
    path = tmp_path / "docsage.db"
    _database_at(path, "0004")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("INSERT INTO teams (id, name, created_at) VALUES ('t', 'team', '2026-01-01 00:00:00')")
        conn.execute(
            "INSERT INTO projects (id, team_id, name, index_generation, created_at) "
            "VALUES ('p', 't', 'docs', 0, '2026-01-01 00:00:00')"
        )
        conn.execute(
            "INSERT INTO threads (id, project_id, created_at, updated_at) "
            "VALUES ('th', 'p', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
        conn.execute(
            "INSERT INTO question_answers (id, thread_id, project_id, question, retrieval_query, answer, is_uncertain,"
            " is_redacted, relevant_sources, model, prompt_tokens, completion_tokens, cost, latency_ms, extra,"
            " created_at) VALUES ('qa', 'th', 'p', 'How?', 'How?', 'Like this.', 0, 0, '[]', '', 0, 0,"
            " 0, 1.0, '{}', '2026-01-01 00:00:00')"
        )
        conn.commit()
    upgraded = Database(f"sqlite:///{path}")
    upgraded.engine.dispose()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == HEAD
        assert conn.execute("SELECT question, answer, interrupted FROM question_answers").fetchall() == [
            ("How?", "Like this.", 0)
        ]


def test_upgrading_narrows_existing_public_keys_to_chat(tmp_path: Path) -> None:
    """Keys made before scopes existed: a bearer key with allowed origins (it sits in web pages) may only chat
    and send feedback after the upgrade; server-side keys keep every scope."""
    path = tmp_path / "docsage.db"
    _database_at(path, "0005")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("INSERT INTO teams (id, name, created_at) VALUES ('t', 'team', '2026-01-01 00:00:00')")
        conn.execute(
            "INSERT INTO projects (id, team_id, name, index_generation, created_at) "
            "VALUES ('p', 't', 'docs', 0, '2026-01-01 00:00:00')"
        )
        for key_id, scheme, origins in [
            ("widget", "bearer", '["https://docs.example.com"]'),
            ("backend", "bearer", "[]"),
            ("kapa", "x-api-key", "[]"),
        ]:
            conn.execute(
                "INSERT INTO api_keys (id, project_id, name, scheme, prefix, key_hash, allowed_origins, created_at) "
                "VALUES (?, 'p', '', ?, 'dsb_', ?, ?, '2026-01-01 00:00:00')",
                (key_id, scheme, key_id, origins),
            )
        conn.commit()
    Database(f"sqlite:///{path}").engine.dispose()
    with closing(sqlite3.connect(path)) as conn:
        scopes = {k: json.loads(s) for k, s in conn.execute("SELECT id, scopes FROM api_keys")}
    everything = ["chat", "feedback", "sessions", "usage", "documents", "search"]
    assert scopes == {"widget": ["chat", "feedback"], "backend": everything, "kapa": everything}
