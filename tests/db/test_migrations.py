"""The Alembic migrations build exactly the schema the models describe, and upgrade an existing database."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from docsage.db.engine import Database
from docsage.db.models import Base


def test_migrations_build_the_schema_the_models_describe(tmp_path: Path) -> None:
    """A model change without its migration (or the reverse) would break upgrades of existing databases."""
    database = Database(f"sqlite:///{tmp_path / 'docsage.db'}")
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    database.engine.dispose()
    assert diff == []


def test_upgrading_a_database_keeps_its_question_answers(tmp_path: Path) -> None:
    """A database from before migration 0005 upgrades in place: its answers stay, marked not interrupted."""
    path = tmp_path / "docsage.db"
    database = Database(f"sqlite:///{path}")
    database.engine.dispose()
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
            " created_at, interrupted) VALUES ('qa', 'th', 'p', 'How?', 'How?', 'Like this.', 0, 0, '[]', '', 0, 0,"
            " 0, 1.0, '{}', '2026-01-01 00:00:00', 0)"
        )
        conn.execute("UPDATE alembic_version SET version_num = '0004'")
        conn.execute("ALTER TABLE question_answers DROP COLUMN interrupted")
        conn.commit()
    upgraded = Database(f"sqlite:///{path}")
    upgraded.engine.dispose()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0005"
        assert conn.execute("SELECT question, answer, interrupted FROM question_answers").fetchall() == [
            ("How?", "Like this.", 0)
        ]
