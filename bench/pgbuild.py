"""bench/postgres.py's corpus on both backends, built once per size and kept; and the measures that need
processes or writes: replica memory through real `docsage serve` processes, writes into the live index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from sqlalchemy import text

from bench.corpus import (
    ExactTop,
    Mixture,
    Seed,
    fit_mixture,
    neighbour_stats,
    real_seed,
    recombined_seed,
    synthetic_batches,
)
from docsage.benchmarks import Figure
from docsage.config import Settings
from docsage.db.models import Document
from docsage.index.base import ChunkWrite
from docsage.services import Services

# A server set up as for production on this machine (defaults: 128 MB shared buffers, 64 MB for index builds).
SERVER_SETTINGS = {"shared_buffers": "2GB", "maintenance_work_mem": "1GB", "effective_cache_size": "8GB", "jit": "off"}
# The HNSW build holds its graph in maintenance_work_mem (~2 kB a 384-d vector): past it the build slows
# down many times. One parallel worker besides the leader: the machine has two cores.
INDEX_BUILD_SETTINGS = {"maintenance_work_mem": "3GB", "max_parallel_maintenance_workers": "1"}
RECOMBINED = 4000  # real chunks recombined and embedded for the mixture (~5 minutes on two cores)
DOC_CHUNKS = 250  # chunks per synthetic document
CORPUS_VERSION = 1  # bump when the corpus generation changes: cached builds are then rebuilt


def log(msg: str) -> None:
    print(msg, flush=True)


def start_postgres(data: Path) -> tuple[Any, str]:
    """pgserver's PostgreSQL on `data` (created and configured if new, reused if not) and the bench URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    import psycopg

    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(data, cleanup_mode="stop")
        with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
            for name, value in SERVER_SETTINGS.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("CREATE DATABASE bench")
        server.cleanup()  # restarted below, so that shared_buffers applies
    server = pgserver.get_server(data, cleanup_mode="stop")
    return server, server.get_uri("bench").replace("postgresql://", "postgresql+psycopg://", 1)


@dataclass
class Built:
    """A built corpus: both projects, each query's exact top 10 (chunk ids), the build's own figures."""

    chunks: int
    pg_project: str
    lite_project: str
    truth: list[list[str]]
    build_figures: list[dict[str, Any]]
    version: int = CORPUS_VERSION
    query_embedder: str = ""  # the embedder that embedded the questions `truth` is exact for
    seed: Seed | None = field(default=None, repr=False)
    mixture: Mixture | None = field(default=None, repr=False)

    def save(self, path: Path) -> None:
        data = {k: v for k, v in asdict(self).items() if k not in ("seed", "mixture")}
        path.write_text(json.dumps(data))

    @classmethod
    def load(cls, path: Path, chunks: int) -> Built | None:
        if not path.exists():
            return None
        built = cls(**json.loads(path.read_text()))
        return built if built.chunks == chunks and built.version == CORPUS_VERSION else None


def _validation(seed: Seed, queries: np.ndarray) -> list[Figure]:
    """The mixture fitted to one half of the real embeddings against the other half, at the same size."""
    order = np.random.default_rng(5).permutation(len(seed))
    fit, held = seed.vectors[order[: len(seed) // 2]], seed.vectors[order[len(seed) // 2 :]]
    held_questions, held_corpus = held[:400], held[400:]
    _, drawn = fit_mixture(fit).sample(len(held_corpus), np.random.default_rng(2))
    figures = []
    for who, probes in (("questions", queries), ("held-out chunks", held_questions)):
        mine, real = neighbour_stats(drawn, probes), neighbour_stats(held_corpus, probes)
        for stat in mine:
            name = f"corpus check at {len(drawn):,} vectors, {who}' {stat}: mixture"
            figures.append(Figure(name, mine[stat], "", "real embeddings (held out)", real[stat]))
    return figures


def _ann_index_definitions(services: Services) -> list[tuple[str, str]]:
    with services.database.session() as session:
        rows = session.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunks' AND indexdef ILIKE '%hnsw%'")
        )
        return [(str(r[0]), str(r[1])) for r in rows]


def _write(services: Services, project: str, source: str, n: int, chunks: list[Any], vectors: np.ndarray) -> float:
    """Seconds to write one synthetic document through the backend's write_document."""
    writes = [ChunkWrite(f"syn-{n + i}", i, c.heading_path, c.text, c.token_count) for i, c in enumerate(chunks)]
    start = time.perf_counter()
    with services.database.session() as session:
        doc = Document(project_id=project, source_id=source, url=f"bench://doc/{n}", title="", content_hash=str(n))
        session.add(doc)
        session.flush()
        services.index.write_document(session, project, source, doc.id, "", writes, vectors)
    return time.perf_counter() - start


def build(
    cache: Path, url: str, settings: Settings, chunks: int, pages: Path, queries: list[str]
) -> tuple[Built, list[Figure]]:
    """The corpus in both backends (reused from `cache` when built there before), and the figures about it."""
    seeds = cache.parent / "seeds" if cache.name.isdigit() else cache / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    real = real_seed(settings, pages, seeds, log)
    seed = real + recombined_seed(real, RECOMBINED, settings, seeds, log)
    mixture = fit_mixture(seed.vectors)
    pg = Services(settings.model_copy(update={"home": cache / "pg-home", "database_url": url}))
    qvec = np.stack([pg.embedder.embed_query(q) for q in queries])
    figures = _validation(seed, qvec)
    built = Built.load(cache / "built.json", chunks)
    if built is None:
        built = _build(cache, pg, settings, chunks, seed, mixture, qvec)
        built.save(cache / "built.json")
    else:
        log(f"reusing the corpus built in {cache}")
    if built.query_embedder != pg.embedder.name:
        built.truth = _exact_top10(settings, cache, built.lite_project, queries)
        built.query_embedder = pg.embedder.name
        built.save(cache / "built.json")
    built.seed, built.mixture = seed, mixture
    figures += [Figure(**f) for f in built.build_figures]
    pg.database.dispose()
    return built, figures


def _exact_top10(settings: Settings, cache: Path, project: str, queries: list[str]) -> list[list[str]]:
    """Each question's exact top 10 (SQLite's dense list: one product with every vector), for a corpus built
    when the questions were embedded by another model (the recall figures must compare like with like)."""
    log("the questions' embedder changed since the build: exact top 10s again, on SQLite")
    lite = Services(settings.model_copy(update={"home": cache / "sqlite-home"}))
    try:
        return [[h.chunk_id for h in lite.retrieval.search(project, q, top_k=10, mode="dense")] for q in queries]
    finally:
        lite.database.dispose()


def _build(cache: Path, pg: Services, settings: Settings, chunks: int, seed: Seed, mixture: Mixture,
           qvec: np.ndarray) -> Built:  # fmt: skip
    lite = Services(settings.model_copy(update={"home": cache / "sqlite-home"}))
    projects = {}
    for name, services in (("pg", pg), ("lite", lite)):
        project = services.projects.create_project("bench-scale")
        projects[name] = (project.id, services.projects.add_source(project.id, "upload", "bench://scale").id)
    # A big corpus is loaded before its ANN index is built (CREATE INDEX after the rows, as pgvector advises):
    # inserting into a live HNSW index took 3.6x as long at 100k chunks (174 vs 49 s).
    definitions = _ann_index_definitions(pg)
    with pg.database.session() as session:
        for name, _ in definitions:
            session.execute(text(f"DROP INDEX {name}"))
    truth = ExactTop(qvec)
    seconds = {"pg": 0.0, "lite": 0.0}
    start = time.perf_counter()
    for number, (batch, vectors) in enumerate(synthetic_batches(seed, mixture, chunks, DOC_CHUNKS)):
        n = number * DOC_CHUNKS
        seconds["pg"] += _write(pg, *projects["pg"], n, batch, vectors)
        seconds["lite"] += _write(lite, *projects["lite"], n, batch, vectors)
        truth.add(vectors)
        if number % 200 == 0:
            log(f"  {n + len(batch):,} chunks written ({time.perf_counter() - start:.0f} s)")
    engine = pg.database.engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name, value in INDEX_BUILD_SETTINGS.items():
            conn.exec_driver_sql(f"SET {name} = '{value}'")
        start = time.perf_counter()
        for _, definition in definitions:
            conn.exec_driver_sql(definition)
        index_s = time.perf_counter() - start
        start = time.perf_counter()
        conn.exec_driver_sql("VACUUM ANALYZE chunks")
        vacuum_s = time.perf_counter() - start
        sizes = conn.exec_driver_sql(
            "SELECT sum(pg_relation_size(indexrelid)) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname LIKE 'ix_chunks_embedding_hnsw_%%'"
        ).scalar()
    log(f"PostgreSQL: rows {seconds['pg']:.0f} s, HNSW index {index_s:.0f} s, VACUUM ANALYZE {vacuum_s:.0f} s")
    lite.database.dispose()
    load = "load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())
    total = seconds["pg"] + index_s + vacuum_s
    stats, real_stats = truth.stats(), neighbour_stats(seed.vectors, qvec)
    figures = [
        Figure(f"index build, {chunks:,} chunks, PostgreSQL: rows, HNSW, VACUUM ANALYZE ({load})", total, "s",
               "SQLite", seconds["lite"]),
        Figure("  rows written through write_document (no ANN index yet)", seconds["pg"], "s", "SQLite",
               seconds["lite"]),
        Figure("  HNSW CREATE INDEX", index_s, "s", "rows written", seconds["pg"]),
        Figure("  HNSW index size", float(sizes or 0) / 2**20, "MB", "the float32 vectors", chunks * 384 * 4 / 2**20),
    ]  # fmt: skip
    for stat, value in stats.items():
        figures.append(Figure(f"corpus: questions' {stat} at {chunks:,} chunks", value, "", f"real chunks "
                              f"({len(seed):,})", real_stats[stat]))  # fmt: skip
    top10 = [[f"syn-{int(r)}" for r in rows[:10]] for rows in truth.rows]
    built = Built(chunks, projects["pg"][0], projects["lite"][0], top10, [f.__dict__ for f in figures])
    built.query_embedder = pg.embedder.name
    return built


def _serve(home: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DOCSAGE_HOME": str(home),
        "DOCSAGE_DATABASE_URL": url,
        "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "0",
        "DOCSAGE_JOB_WORKERS": "0",
    }
    exe = Path(sys.executable).with_name("docsage")
    return subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"docsage serve on port {port} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"docsage serve on port {port} did not start")


def peak_rss_mb(pid: int) -> float:
    """The process's highest resident set so far (Linux's VmHWM), MB; 0 where /proc does not say."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kb = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), "0")
    return int(kb) / 1024


def replica_memory(cache: Path, url: str, built: Built, queries: list[str]) -> list[Figure]:
    """RSS of a real `docsage serve` per backend after it answered /retrieval/, and its first answer's time."""
    from bench.api import free_port

    results: dict[str, tuple[float, float, float]] = {}
    for name, home, db_url, project in (
        ("pg", cache / "pg-home", url, built.pg_project),
        ("lite", cache / "sqlite-home", "", built.lite_project),
    ):
        services = Services(Settings(home=home, database_url=db_url))
        key = services.projects.create_key(project).secret
        services.database.dispose()
        port = free_port()
        proc = _serve(home, db_url, port)
        try:
            wait_healthy(port, proc)
            path = f"http://127.0.0.1:{port}/query/v1/projects/{project}/retrieval/"
            with httpx.Client(timeout=600, headers={"X-API-KEY": key}) as client:
                start = time.perf_counter()
                client.post(path, json={"query": queries[0]}).raise_for_status()
                first = time.perf_counter() - start
                for q in queries[1:20]:
                    client.post(path, json={"query": q}).raise_for_status()
            results[name] = (psutil.Process(proc.pid).memory_info().rss / 2**20, first, peak_rss_mb(proc.pid))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    (pg_rss, pg_first, pg_peak), (lite_rss, lite_first, lite_peak) = results["pg"], results["lite"]
    return [
        Figure(f"replica RSS after /retrieval/ at {built.chunks:,} chunks, PostgreSQL", pg_rss, "MB", "SQLite",
               lite_rss),
        Figure("  replica peak RSS (VmHWM: start, reading the project, 20 answers)", pg_peak, "MB", "SQLite",
               lite_peak),
        Figure("  first /retrieval/ answer of a fresh replica (reads the project)", pg_first, "s", "SQLite",
               lite_first),
    ]  # fmt: skip


def live_writes(pg: Services, lite: Services, built: Built, docs: int = 8) -> list[Figure]:
    """Chunks written into the live HNSW index, then what the next search pays to follow the write and the
    deletion that undoes it (the replica's sync), beside SQLite doing the same."""
    assert built.seed is not None and built.mixture is not None
    batches = list(synthetic_batches(built.seed, built.mixture, docs * DOC_CHUNKS, DOC_CHUNKS, rng_seed=99))
    rates, follow_write, follow_delete, steady = {}, {}, {}, {}
    for name, services, project in (("pg", pg, built.pg_project), ("lite", lite, built.lite_project)):
        source = services.projects.list_sources(project)[0].id
        seconds = 0.0
        for number, (batch, vectors) in enumerate(batches):
            seconds += _write(services, project, source, 10**9 + number * DOC_CHUNKS, batch, vectors)
        rates[name] = docs * DOC_CHUNKS / seconds
        follow_write[name] = _search_ms(services, project)
        steady[name] = _search_ms(services, project)
        with services.database.session() as session:
            ids = [r[0] for r in session.execute(text("SELECT id FROM documents WHERE url LIKE 'bench://doc/1000%'"))]
            services.index.delete_documents(session, project, ids)
            session.execute(text("DELETE FROM documents WHERE url LIKE 'bench://doc/1000%'"))
        follow_delete[name] = _search_ms(services, project)
    return [
        Figure(f"writes into the live index at {built.chunks:,} chunks, PostgreSQL", rates["pg"], "chunks/s",
               "SQLite", rates["lite"]),
        Figure(f"  first search after {docs * DOC_CHUNKS:,} chunks were added (replica syncs), PostgreSQL",
               follow_write["pg"], "ms", "SQLite", follow_write["lite"]),
        Figure("  first search after they were deleted, PostgreSQL", follow_delete["pg"], "ms", "SQLite",
               follow_delete["lite"]),
        Figure("  a search with nothing to follow, PostgreSQL", steady["pg"], "ms", "SQLite", steady["lite"]),
    ]  # fmt: skip


def _search_ms(services: Services, project: str) -> float:
    start = time.perf_counter()
    services.retrieval.search(project, "How do I stream responses?", top_k=10)
    return (time.perf_counter() - start) * 1000
