"""The deployment artefacts hold together: the compose file, the Dockerfile and the systemd units name commands
and settings that exist, the image's health check works against a real server, and the backup and restore
procedures of docs/deployment.md work as written on real SQLite and PostgreSQL databases.

Docker itself cannot run here (no engine); `docker compose config` (or Debian's docker-compose) checks the
compose file when a client is installed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from conftest import DOCSAGE_EXE, Cli, free_port, serve
from docsage.cli.main import app
from docsage.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT = (ROOT / "docs" / "deployment.md").read_text()
SETTINGS = {f"DOCSAGE_{name.upper()}" for name in Settings.model_fields}


def _commands() -> set[str]:
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    return names | {g.name for g in app.registered_groups if g.name}


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def _dockerfile() -> list[str]:
    """Dockerfile instructions, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


# --- docker-compose.yml -------------------------------------------------------------------------------------


def test_compose_runs_postgresql_redis_two_replicas_a_worker_and_a_migration_first() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"] == "pgvector/pgvector:pg16"
    assert services["redis"]["image"].startswith("redis:")
    api, worker, migrate = services["api"], services["worker"], services["migrate"]
    assert api["deploy"]["replicas"] == 2
    assert api["command"] == ["serve"] and api["environment"]["DOCSAGE_JOB_WORKERS"] == "0"
    assert worker["command"][0] == "worker"
    assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in ("api", "worker", "migrate"):
        env = services[name]["environment"]
        assert env["DOCSAGE_DATABASE_URL"].startswith("postgresql+psycopg://docsage:")
        assert env["DOCSAGE_DATABASE_URL"].endswith("@postgres:5432/docsage")
        assert env["DOCSAGE_REDIS_URL"] == "redis://redis:6379/0"
    assert "ports" not in api, "replicas are reached through the proxy only (DOCSAGE_FORWARDED_ALLOW_IPS=*)"
    assert services["proxy"]["volumes"] == ["./deploy/Caddyfile:/etc/caddy/Caddyfile:ro"]
    assert (ROOT / "deploy" / "Caddyfile").is_file()


def test_compose_names_only_commands_and_settings_that_exist() -> None:
    services = _compose()["services"]
    for name in ("api", "worker", "migrate"):
        assert services[name]["command"][0] in _commands(), f"{name}: docsage {services[name]['command'][0]}"
        unknown = set(services[name]["environment"]) - SETTINGS
        assert not unknown, f"{name}: unknown settings {unknown}"


@pytest.mark.parametrize(
    "client", [["docker", "compose"], ["docker-compose"]], ids=["docker compose", "docker-compose"]
)
def test_compose_file_parses(client: list[str], tmp_path: Path) -> None:
    if shutil.which(client[0]) is None:
        pytest.skip(f"{client[0]} is not installed")
    if (
        client == ["docker", "compose"]
        and subprocess.run([*client, "version"], capture_output=True, check=False).returncode
    ):
        pytest.skip("the docker client has no compose plugin")
    env_file = tmp_path / ".env"
    env_file.write_text("POSTGRES_PASSWORD=test-only\n")
    run = [*client, "--project-directory", str(ROOT), "--env-file", str(env_file), "-f", "docker-compose.yml"]
    result = subprocess.run([*run, "config"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "postgresql+psycopg://docsage:test-only@postgres:5432/docsage" in result.stdout

    env = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    bare = tmp_path / "no-env-file"
    bare.mkdir()
    missing = subprocess.run(
        [*client, "--project-directory", str(bare), "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=bare,
        capture_output=True,
        env=env,
        check=False,
    )
    assert missing.returncode != 0, "without POSTGRES_PASSWORD the file must refuse to start"


# --- Dockerfile ----------------------------------------------------------------------------------------------


def test_dockerfile_slim_non_root_no_torch_entrypoint_docsage() -> None:
    lines = _dockerfile()
    assert [line for line in lines if line.startswith("FROM ")] == [
        "FROM python:3.11-slim AS build",
        "FROM python:3.11-slim",
    ]
    install = next(line for line in lines if "pip install" in line)
    assert "pip install --prefix=/install ." in install and "torch must not be installed" in install
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users == ["docsage"]
    assert 'ENTRYPOINT ["docsage"]' in lines and 'CMD ["serve"]' in lines
    assert any(line.startswith("HEALTHCHECK ") and "/healthz" in line for line in lines)
    env = next(line for line in lines if line.startswith("ENV ") and "DOCSAGE_HOME" in line)
    assert set(word.split("=")[0] for word in env.split()[1:] if word.startswith("DOCSAGE_")) <= SETTINGS
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[:2] == ["# Only pyproject.toml, README.md and src/ go into the image.", "*"]


def _healthcheck_command() -> list[str]:
    line = next(line for line in _dockerfile() if line.startswith("HEALTHCHECK "))
    return list(json.loads(line[line.index("CMD ") + 4 :]))


def test_the_image_health_check_passes_on_a_live_server_and_fails_without_one(run_cli: Cli) -> None:
    command = _healthcheck_command()
    assert command[0] == "python"
    python = shutil.which("python3") or "python3"
    port = str(free_port())
    down = subprocess.run(
        [python, *command[1:]], env={"DOCSAGE_PORT": port}, capture_output=True, timeout=30, check=False
    )
    assert down.returncode != 0
    with serve(run_cli.home) as server:
        live_port = server.base_url.rsplit(":", 1)[1]
        up = subprocess.run(
            [python, *command[1:]], env={"DOCSAGE_PORT": live_port}, capture_output=True, timeout=30, check=False
        )
    assert up.returncode == 0, up.stderr


# --- systemd -----------------------------------------------------------------------------------------------


def _unit(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (ROOT / "deploy" / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize(("unit", "command"), [("docsage.service", "serve"), ("docsage-worker.service", "worker")])
def test_systemd_units_run_an_existing_command_unprivileged(unit: str, command: str, tmp_path: Path) -> None:
    values = _unit(unit)
    [exec_start] = values["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/docsage/bin/docsage" and argv[1] == command and command in _commands()
    assert values["User"] == ["docsage"] and values["NoNewPrivileges"] == ["true"]
    assert values["EnvironmentFile"] == ["-/etc/docsage/docsage.env"]
    for assignment in " ".join(values["Environment"]).split():
        assert assignment.split("=")[0] in SETTINGS
    if shutil.which("systemd-analyze") is None:
        return
    # verify needs the executable to exist: point it at this test run's docsage.
    docsage = DOCSAGE_EXE
    copy = tmp_path / unit
    copy.write_text((ROOT / "deploy" / "systemd" / unit).read_text().replace("/opt/docsage/bin/docsage", str(docsage)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_environment_example_names_only_real_settings() -> None:
    text = (ROOT / "deploy" / "systemd" / "docsage.env.example").read_text()
    names = {line.lstrip("#").split("=", 1)[0] for line in text.splitlines() if line.lstrip("#").startswith("DOCSAGE_")}
    assert {"DOCSAGE_DATABASE_URL", "DOCSAGE_REDIS_URL", "DOCSAGE_JOB_WORKERS"} <= names
    assert names <= SETTINGS, names - SETTINGS


# --- docs/deployment.md --------------------------------------------------------------------------------------


def test_the_deployment_guide_covers_both_shapes_and_every_artefact() -> None:
    for needle in (
        "## Embedded: one process",
        "## Scaled: PostgreSQL, Redis, replicas and workers",
        "## Backup and restore",
        "## Upgrades",
        "DOCSAGE_FORWARDED_ALLOW_IPS",
        "docsage migrate",
        "docsage doctor",
        "Dockerfile",
        "docker-compose.yml",
        "deploy/Caddyfile",
        "deploy/systemd/docsage.service",
        "deploy/systemd/docsage-worker.service",
        "deploy/systemd/docsage.env.example",
    ):
        assert needle in DEPLOYMENT, needle
    readme = (ROOT / "README.md").read_text()
    assert "## Deployment" in readme and "docs/deployment.md" in readme


def _fenced(after: str) -> list[str]:
    """The command lines of the first ```bash block after a heading of docs/deployment.md."""
    text = DEPLOYMENT[DEPLOYMENT.index(after) :]
    block = text[text.index("```bash\n") + 8 : text.index("\n```", text.index("```bash\n"))]
    return [line.split("  #")[0].strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.mark.sqlite_only
def test_the_documented_sqlite_backup_and_restore_keep_every_answer(run_cli: Cli, tmp_path: Path) -> None:
    docs = tmp_path / "manual"
    docs.mkdir()
    (docs / "limits.md").write_text("# Rate limits\n\nEach team may send 20 chat requests per minute.\n", "utf-8")
    project = run_cli.json("project", "create", "--name", "Docs")["id"]
    run_cli.json("source", "add", "--project", project, "--type", "folder", "--path", docs)
    assert run_cli("ingest", "--project", project).returncode == 0
    question = ("search", "--project", project, "How many chat requests per minute?")
    before = run_cli.json(*question)

    backups = tmp_path / "backups"
    backups.mkdir()
    backup, check = _fenced("### SQLite (embedded)")
    env = {"DOCSAGE_HOME": str(run_cli.home), "PATH": "/usr/bin:/bin"}
    with serve(run_cli.home):  # taken while the server runs
        subprocess.run(backup.replace("/backups", str(backups)), shell=True, check=True, env=env)
    ok = subprocess.run(
        check.replace("/backups", str(backups)), shell=True, env=env, capture_output=True, text=True, check=False
    )
    assert ok.stdout.strip() == "ok"

    [taken] = backups.iterdir()
    restored = Cli(tmp_path / "restored-home")
    restored.home.mkdir()
    shutil.copy(taken, restored.db_path)
    assert restored.json(*question) == before


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL 16 server with pgvector (pgserver): its URL as a superuser, and its bin directory."""
    import pgserver

    data = tempfile.mkdtemp(prefix="deploy-pg-")
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        bin_dir = Path(pgserver.__file__).parent / "pginstall" / "bin"
        yield server.get_uri(), bin_dir
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


def test_the_documented_pg_dump_and_pg_restore_bring_back_vectors_and_their_index(
    postgres: tuple[str, Path], tmp_path: Path
) -> None:
    """pg_dump's custom format into a new database where a superuser created the extension first, as
    docs/deployment.md says: rows, vectors and the HNSW index come back, and pg_restore reports no error."""
    uri, bin_dir = postgres
    source = sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1))
    with source.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
        conn.execute(sa.text("CREATE TABLE chunks (pk serial PRIMARY KEY, text text, embedding vector(3))"))
        conn.execute(sa.text("CREATE INDEX ix_chunks_hnsw ON chunks USING hnsw (embedding vector_cosine_ops)"))
        conn.execute(sa.text("INSERT INTO chunks (text, embedding) VALUES ('a', '[1,0,0]'), ('b', '[0,1,0]')"))
    source.dispose()

    dump = tmp_path / "docsage.dump"
    subprocess.run([bin_dir / "pg_dump", "--format=custom", f"--file={dump}", uri], check=True, timeout=60)
    restored_uri = uri.replace("/postgres?", "/docsage_restored?", 1)
    subprocess.run([bin_dir / "createdb", "--maintenance-db", uri, "docsage_restored"], check=True, timeout=60)
    subprocess.run(
        [bin_dir / "psql", f"--dbname={restored_uri}", "--command=CREATE EXTENSION vector"], check=True, timeout=60
    )
    result = subprocess.run(
        [bin_dir / "pg_restore", "--no-owner", "--jobs=2", f"--dbname={restored_uri}", dump],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    restored = sa.create_engine(restored_uri.replace("postgresql://", "postgresql+psycopg://", 1))
    with restored.connect() as conn:
        rows = conn.execute(sa.text("SELECT text FROM chunks ORDER BY embedding <=> '[0.9,0.1,0]' LIMIT 1")).all()
        index = conn.execute(sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_chunks_hnsw'")).scalar()
    restored.dispose()
    assert rows == [("a",)]
    assert index is not None and "hnsw" in index
