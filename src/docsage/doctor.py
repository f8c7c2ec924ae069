"""`docsage doctor`: checks what a deployment depends on and says, per part, ok, warn or fail and why."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from docsage.config import Settings
from docsage.db.jobs import JobRepository
from docsage.db.models import utcnow
from docsage.db.status import extension_version, has_table, probe_engine, schema_revision, server_version
from docsage.db.vector_index import VectorIndex, all_indexes
from docsage.embed.registry import get_embedder

Status = Literal["ok", "warn", "fail"]
GIB = 1 << 30
DISK_WARN_BYTES = 1 * GIB
DISK_FAIL_BYTES = 100 << 20
PROBE_TIMEOUT_S = 10.0
WAITING_WARN = timedelta(minutes=5)  # a job ready this long without starting: no runner is taking jobs
WORKERS_SEEN = timedelta(minutes=10)
FAILED_SINCE = timedelta(hours=24)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def _reason(exc: BaseException) -> str:
    """The first line of an exception, without SQLAlchemy's background links."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(orig or exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class Doctor:
    """Runs every check against one configuration, read-only: a database behind head is reported, not
    migrated, and nothing is created (not even the SQLite file of a fresh DOCSAGE_HOME)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self) -> list[Check]:
        checks = self._database_checks()
        if self.settings.redis_url:
            checks.append(self._guard("redis", lambda: self._redis(self.settings.redis_url)))
        checks.append(self._guard("embedding model", self._embedder))
        checks.append(self._guard("llm", self._llm))
        checks.append(self._guard("disk", self._disk))
        return checks

    @staticmethod
    def _guard(name: str, check: Callable[[], Check]) -> Check:
        try:
            return check()
        except Exception as exc:  # a check that breaks is a failed check, reported with its reason
            return Check(name, "fail", _reason(exc))

    # database ---------------------------------------------------------------------------------------------
    def _database_checks(self) -> list[Check]:
        url = self.settings.resolved_database_url()
        shown = make_url(url).render_as_string(hide_password=True)
        if url.startswith("sqlite"):
            path = make_url(url).database
            if path and path != ":memory:" and not Path(path).exists():
                return [
                    Check("database", "ok", f"SQLite {path}: not created yet; the first docsage command creates it"),
                    Check("migrations", "ok", "applied when the database is created"),
                ]
        try:
            engine = probe_engine(url)
        except Exception as exc:  # a malformed URL or a missing driver
            return [Check("database", "fail", f"{shown}: {_reason(exc)}")]
        try:
            return self._database(engine, shown)
        finally:
            engine.dispose()

    def _database(self, engine: Engine, shown: str) -> list[Check]:
        try:
            with engine.connect() as conn:
                version = server_version(conn)
                revision = schema_revision(engine, conn)
                vector = extension_version(conn, "vector") if engine.dialect.name == "postgresql" else None
                has_jobs = has_table(conn, "jobs")
                indexes = all_indexes(conn) if vector is not None and vector[0] and has_table(conn, "chunks") else None
        except SQLAlchemyError as exc:
            return [Check("database", "fail", f"{shown} unreachable: {_reason(exc)}")]
        checks = [Check("database", "ok", f"{engine.dialect.name} {version} at {shown}")]
        checks.append(self._migrations(engine.dialect.name, revision.current, revision.head, revision.known))
        if vector is not None:
            checks.append(self._vector(*vector))
        if indexes is not None:
            checks.append(self._vector_index(indexes))
        if has_jobs and revision.known:
            checks.append(self._guard("jobs", lambda: self._jobs(engine)))
        return checks

    @staticmethod
    def _migrations(dialect: str, current: str | None, head: str, known: bool) -> Check:
        if not known:
            return Check(
                "migrations", "fail", f"database at revision {current}, which this docsage does not know (head "
                f"{head}): a newer docsage migrated it; upgrade this installation"
            )  # fmt: skip
        if current == head:
            return Check("migrations", "ok", f"at head ({head})")
        when = "by the next docsage command" if dialect == "sqlite" else "by `docsage migrate` (or the next start)"
        return Check("migrations", "warn", f"at {current or 'no revision (empty)'}, head is {head}: migrated {when}")

    @staticmethod
    def _vector(installed: str | None, available: str | None) -> Check:
        if installed:
            return Check("pgvector", "ok", f"extension vector {installed}")
        if available:
            return Check(
                "pgvector", "fail", f"extension vector {available} is available but not created: run `docsage "
                "migrate` as a role that may CREATE EXTENSION, or CREATE EXTENSION vector as a superuser"
            )  # fmt: skip
        return Check(
            "pgvector", "fail", "the server has no vector extension: install pgvector (or use the "
            "pgvector/pgvector image)"
        )  # fmt: skip

    @staticmethod
    def _vector_index(indexes: list[VectorIndex]) -> Check:
        if not indexes:
            return Check(
                "vector index", "warn", "no vector index on chunk embeddings: dense search scans every vector (slow "
                "past ~20,000 chunks a project); `docsage vector-index rebuild` makes one"
            )  # fmt: skip
        shown = "; ".join(f"{i.dimensions} dimensions: {i.parameters}, {i.rows:,} rows" for i in indexes)
        if invalid := [i.name for i in indexes if not i.valid]:
            return Check(
                "vector index", "warn", f"{', '.join(invalid)} is invalid (a build failed): searches scan exactly "
                "until `docsage vector-index rebuild` replaces it"
            )  # fmt: skip
        return Check("vector index", "ok", shown)

    def _jobs(self, engine: Engine) -> Check:
        now = utcnow()
        stale_after = timedelta(seconds=self.settings.job_stale_after_s)
        with Session(engine) as session:
            health = JobRepository(session).health(now, stale_after, now - WORKERS_SEEN, now - FAILED_SINCE)
        workers = len(health.workers)
        detail = (
            f"{health.ready} queued, {health.running} running, {health.failed} failed in the last 24 h; "
            f"{workers} runner(s) worked in the last {WORKERS_SEEN.seconds // 60} min"
        )
        if health.stale:
            return Check(
                "jobs", "warn", f"{detail}; {health.stale} running job(s) lost their worker (no report for "
                f"{stale_after.seconds} s): the next running runner requeues them"
            )  # fmt: skip
        waited = now - health.oldest_ready_at if health.oldest_ready_at else timedelta(0)
        if waited > WAITING_WARN:
            return Check(
                "jobs", "warn", f"{detail}; the oldest has waited {waited.seconds // 60} min: is a runner taking "
                "jobs (`docsage worker`, or `docsage serve` with DOCSAGE_JOB_WORKERS > 0)?"
            )  # fmt: skip
        return Check("jobs", "ok", detail)

    # other services -----------------------------------------------------------------------------------------
    @staticmethod
    def _redis(url: str) -> Check:
        import redis

        shown = _hide_password(url)
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        try:
            client.ping()
            info: dict[str, object] = client.info("server")  # type: ignore[assignment]  # sync client: a dict
        except redis.RedisError as exc:
            return Check("redis", "fail", f"{shown} unreachable: {type(exc).__name__}: {exc}")
        finally:
            client.close()
        return Check("redis", "ok", f"redis {info.get('redis_version', '?')} at {shown}")

    def _embedder(self) -> Check:
        started = time.perf_counter()
        embedder = get_embedder(self.settings)
        vector = embedder.embed_query("Does docsage find its embedding model?")
        seconds = time.perf_counter() - started
        return Check(
            "embedding model", "ok", f"{embedder.name}: {vector.shape[-1]} dimensions, answered in {seconds:.1f} s"
        )

    def _llm(self) -> Check:
        s = self.settings
        if s.llm_provider == "extractive":
            return Check("llm", "ok", "extractive answers (offline: no model endpoint)")
        if s.llm_provider != "openai":
            return Check("llm", "fail", f"unknown DOCSAGE_LLM_PROVIDER {s.llm_provider!r}: extractive or openai")
        if not s.llm_base_url and not s.llm_api_key:
            return Check("llm", "fail", "openai provider without DOCSAGE_LLM_BASE_URL needs DOCSAGE_LLM_API_KEY")
        import openai

        client = openai.OpenAI(
            base_url=s.llm_base_url or None,
            api_key=s.llm_api_key or "none",
            timeout=min(PROBE_TIMEOUT_S, s.llm_timeout_s),
            max_retries=0,
        )
        where = s.llm_base_url or "api.openai.com"
        try:
            models = [m.id for m in client.models.list()]
        except openai.OpenAIError as exc:
            return Check("llm", "fail", f"{where}: {type(exc).__name__}: {exc}")
        finally:
            client.close()
        if s.llm_model not in models:
            listed = ", ".join(models[:5]) + (" …" if len(models) > 5 else "")
            return Check("llm", "warn", f"{where} answers, but does not list model {s.llm_model} ({listed})")
        return Check("llm", "ok", f"{where} serves {s.llm_model}")

    def _disk(self) -> Check:
        home = self.settings.resolved_home()
        where = next((p for p in (home, *home.parents) if p.exists()), Path("/"))
        usage = shutil.disk_usage(where)
        detail = f"{usage.free / GIB:.1f} GiB free of {usage.total / GIB:.1f} GiB at {home}"
        if usage.free < DISK_FAIL_BYTES:
            return Check("disk", "fail", detail)
        if usage.free < DISK_WARN_BYTES:
            return Check("disk", "warn", f"{detail}: ingests and SQLite's write-ahead log need room")
        return Check("disk", "ok", detail)
