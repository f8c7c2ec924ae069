"""`docsage doctor` through the installed executable, against real parts: SQLite homes, a real PostgreSQL with
pgvector (pgserver), a real Redis (Debian's redis-server), the fake OpenAI-compatible server over HTTP, and
addresses where nothing listens."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from conftest import DOCSAGE_EXE, Cli, cli_env, free_port, open_services
from docsage.db.engine import alembic_config, make_engine
from docsage.ingest.service import enqueue_ingest
from fakes.openai_server import FakeOpenAI

SA_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores datetimes in SQLite


def doctor(home: Path, env: dict[str, str] | None = None, *, as_json: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DOCSAGE_EXE), "doctor", *(["--json"] if as_json else [])],
        env={**cli_env(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def checks(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    body = json.loads(result.stdout)
    return {c["name"]: c for c in body["checks"]}


def statuses(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {name: c["status"] for name, c in checks(result).items()}


@pytest.mark.sqlite_only  # the SQLite file of a home
def test_a_fresh_home_is_healthy_and_left_untouched(run_cli: Cli) -> None:
    result = doctor(run_cli.home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True
    assert statuses(result) == {
        "database": "ok",
        "migrations": "ok",
        "embedding model": "ok",
        "llm": "ok",
        "disk": "ok",
    }
    assert "384 dimensions" in checks(result)["embedding model"]["detail"]
    assert not run_cli.db_path.exists(), "doctor must not create the database"


def test_a_used_home_reports_head_revision_and_the_job_queue(run_cli: Cli) -> None:
    run_cli.json("project", "create", "--name", "Docs")
    result = doctor(run_cli.home)
    assert result.returncode == 0, result.stdout
    found = checks(result)
    head = _head()
    assert found["migrations"] == {"name": "migrations", "status": "ok", "detail": f"at head ({head})"}
    assert found["jobs"]["status"] == "ok"
    assert found["jobs"]["detail"].startswith("0 queued, 0 running, 0 failed")
    assert found["database"]["detail"].split()[0] == (
        "postgresql" if "DOCSAGE_DATABASE_URL" in cli_env(run_cli.home) else "sqlite"
    )


def test_table_output_has_one_row_per_check(run_cli: Cli) -> None:
    result = doctor(run_cli.home, as_json=False)
    assert result.returncode == 0
    for name in ("database", "migrations", "embedding model", "llm", "disk"):
        assert any(line.strip("│ ").startswith(name) and " ok " in line for line in result.stdout.splitlines()), name


def test_an_unreachable_database_fails_with_a_clear_line_and_exit_1(run_cli: Cli) -> None:
    port = free_port()
    url = f"postgresql+psycopg://docsage:s3cret@127.0.0.1:{port}/docsage"
    result = doctor(run_cli.home, {"DOCSAGE_DATABASE_URL": url})
    assert result.returncode == 1
    assert json.loads(result.stdout)["ok"] is False
    database = checks(result)["database"]
    assert database["status"] == "fail"
    assert f"127.0.0.1:{port}/docsage unreachable" in database["detail"]
    assert "Connection refused" in database["detail"]
    assert "s3cret" not in result.stdout, "the password must not be printed"

    table = doctor(run_cli.home, {"DOCSAGE_DATABASE_URL": url}, as_json=False)
    assert table.returncode == 1
    [line] = [line for line in table.stdout.splitlines() if line.strip("│ ").startswith("database")]
    assert "fail" in line


@pytest.mark.sqlite_only  # the SQLite file of a home
def test_a_database_behind_head_is_a_warning(run_cli: Cli) -> None:
    engine = make_engine(f"sqlite:///{run_cli.db_path}")
    command.upgrade(alembic_config(engine), "0006")
    engine.dispose()
    result = doctor(run_cli.home)
    assert result.returncode == 0
    migrations = checks(result)["migrations"]
    assert migrations["status"] == "warn"
    assert migrations["detail"] == f"at 0006, head is {_head()}: migrated by the next docsage command"


def test_a_database_from_a_newer_docsage_fails(run_cli: Cli) -> None:
    run_cli.json("project", "create", "--name", "Docs")
    with closing(run_cli.connect()) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
        conn.commit()
    result = doctor(run_cli.home)
    assert result.returncode == 1
    assert checks(result)["migrations"]["status"] == "fail"
    assert "9999, which this docsage does not know" in checks(result)["migrations"]["detail"]


def test_jobs_waiting_with_no_runner_and_jobs_that_lost_their_worker_are_warnings(run_cli: Cli, tmp_path: Path) -> None:
    project = run_cli.json("project", "create", "--name", "Docs")["id"]
    sources = [
        run_cli.json("source", "add", "--project", project, "--type", "folder", "--path", tmp_path)["id"]
        for _ in range(2)
    ]
    with open_services(run_cli.home) as services:
        for source in sources:
            enqueue_ingest(services.jobs, project, source)
    past = (datetime.now(UTC) - timedelta(minutes=20)).strftime(SA_FORMAT)
    with closing(run_cli.connect()) as conn:
        conn.execute("UPDATE jobs SET run_after = ?, created_at = ?", (past, past))
        conn.commit()
    waiting = doctor(run_cli.home)
    assert waiting.returncode == 0
    jobs = checks(waiting)["jobs"]
    assert jobs["status"] == "warn"
    assert "2 queued" in jobs["detail"] and "the oldest has waited 20 min" in jobs["detail"]

    with closing(run_cli.connect()) as conn:
        conn.execute(
            "UPDATE jobs SET status = 'running', worker = 'elsewhere/1:4242:abcdef', heartbeat_at = ? "
            "WHERE source_id = ?",
            (past, sources[0]),
        )
        conn.commit()
    lost = checks(doctor(run_cli.home))["jobs"]
    assert lost["status"] == "warn"
    assert "1 running job(s) lost their worker" in lost["detail"]


# --- Redis ------------------------------------------------------------------------------------------------------


def test_redis_is_checked_when_configured(run_cli: Cli, redis_url: str) -> None:
    result = doctor(run_cli.home, {"DOCSAGE_REDIS_URL": redis_url})
    assert result.returncode == 0, result.stdout
    redis_check = checks(result)["redis"]
    assert redis_check["status"] == "ok"
    assert redis_check["detail"].startswith("redis ") and redis_url in redis_check["detail"]


def test_an_unreachable_redis_fails_with_a_clear_line_and_exit_1(run_cli: Cli) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = doctor(run_cli.home, {"DOCSAGE_REDIS_URL": url})
    assert result.returncode == 1
    redis_check = checks(result)["redis"]
    assert redis_check["status"] == "fail"
    assert "unreachable: ConnectionError" in redis_check["detail"]
    assert "hunter2" not in result.stdout
    table = doctor(run_cli.home, {"DOCSAGE_REDIS_URL": url}, as_json=False)
    assert table.returncode == 1
    [line] = [line for line in table.stdout.splitlines() if line.strip("│ ").startswith("redis")]
    assert "fail" in line


# --- LLM endpoint -----------------------------------------------------------------------------------------------


def _llm_env(base_url: str, model: str) -> dict[str, str]:
    return {"DOCSAGE_LLM_PROVIDER": "openai", "DOCSAGE_LLM_BASE_URL": base_url, "DOCSAGE_LLM_MODEL": model}


def test_the_llm_endpoint_is_asked_for_its_models(run_cli: Cli, fake_openai: FakeOpenAI) -> None:
    model = fake_openai.model
    served = doctor(run_cli.home, _llm_env(fake_openai.base_url, model))
    assert served.returncode == 0, served.stdout
    assert checks(served)["llm"] == {"name": "llm", "status": "ok", "detail": f"{fake_openai.base_url} serves {model}"}

    unlisted = checks(doctor(run_cli.home, _llm_env(fake_openai.base_url, "no-such-model")))["llm"]
    assert unlisted["status"] == "warn" and "does not list model no-such-model" in unlisted["detail"]


def test_an_unreachable_llm_endpoint_fails(run_cli: Cli) -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    result = doctor(run_cli.home, _llm_env(base_url, "llama3.1"))
    assert result.returncode == 1
    llm = checks(result)["llm"]
    assert llm["status"] == "fail" and llm["detail"].startswith(f"{base_url}: APIConnectionError")


# --- PostgreSQL ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """An empty PostgreSQL 16 database with pgvector available but not created (pgserver)."""
    import pgserver

    data = tempfile.mkdtemp(prefix="doctor-pg-")
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


def test_postgresql_without_the_vector_extension_fails_then_passes(run_cli: Cli, postgres: str) -> None:
    result = doctor(run_cli.home, {"DOCSAGE_DATABASE_URL": postgres})
    assert result.returncode == 1, result.stdout
    found = checks(result)
    assert found["database"]["status"] == "ok" and found["database"]["detail"].startswith("postgresql 16.")
    assert found["migrations"]["status"] == "warn"
    assert found["migrations"]["detail"].startswith("at no revision (empty), head is")
    assert found["pgvector"]["status"] == "fail"
    assert "is available but not created" in found["pgvector"]["detail"]

    engine = sa.create_engine(postgres)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    engine.dispose()
    again = doctor(run_cli.home, {"DOCSAGE_DATABASE_URL": postgres})
    assert again.returncode == 0, again.stdout
    assert checks(again)["pgvector"]["status"] == "ok"
    assert checks(again)["pgvector"]["detail"].startswith("extension vector 0.")


def test_postgresql_vector_index_is_reported_and_its_absence_warned(run_cli: Cli, postgres: str) -> None:
    env = {**cli_env(run_cli.home), "DOCSAGE_DATABASE_URL": postgres}
    migrated = subprocess.run([str(DOCSAGE_EXE), "migrate"], env=env, capture_output=True, text=True, check=False)
    assert migrated.returncode == 0, migrated.stderr
    found = checks(doctor(run_cli.home, {"DOCSAGE_DATABASE_URL": postgres}))
    assert found["vector index"] == {
        "name": "vector index",
        "status": "ok",
        "detail": "384 dimensions: HNSW, m 16, ef_construction 64, 0 rows",
    }

    engine = sa.create_engine(postgres)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_chunks_embedding_hnsw_384"))
    engine.dispose()
    result = doctor(run_cli.home, {"DOCSAGE_DATABASE_URL": postgres})
    assert result.returncode == 0, "a missing index is slow search, not a broken deployment"
    missing = checks(result)["vector index"]
    assert missing["status"] == "warn" and "docsage vector-index rebuild" in missing["detail"]
    rebuilt = subprocess.run(
        [str(DOCSAGE_EXE), "vector-index", "rebuild", "--m", "24", "--ef-construction", "96"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert checks(doctor(run_cli.home, {"DOCSAGE_DATABASE_URL": postgres}))["vector index"]["detail"].startswith(
        "384 dimensions: HNSW, m 24, ef_construction 96"
    )


def _head() -> str:
    from alembic.script import ScriptDirectory

    engine = make_engine("sqlite://")
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    engine.dispose()
    assert head is not None
    return head
