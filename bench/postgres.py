"""PostgreSQL vs SQLite at scale (issue 11), in one run on the same chunks and vectors.

- retrieval p50/p95 (hybrid, dense, lexical; query embedding included) on both backends, queries alternated;
- the HNSW index's recall@10 against exact search (SQLite's numpy scan over the same vectors);
- index build time on PostgreSQL (chunks written through the backend, HNSW maintained on insert) vs SQLite;
- memory a replica holds for the project (lexical postings only on PostgreSQL; postings and vectors on SQLite);
- BM25 computed in SQL over a postings table (the design not chosen) vs the in-memory postings, same queries;
- data_version() (the change signal read on every request) on both backends.

With `--eval DIR` instead: `docsage eval`'s nDCG@10 etc. on a BEIR set on SQLite, on PostgreSQL, and on
PostgreSQL with the HNSW path forced however small the set is (below 20,000 chunks the backend scans exactly).

Run from the repository root: `python -m bench.postgres [--chunks 100000 | --eval DIR]`. It starts its own
PostgreSQL 16 + pgvector (the `pgserver` wheel from the dev extra) in a temporary directory.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from sqlalchemy import select

from docsage.benchmarks import Figure, build_scaled_index
from docsage.config import Settings
from docsage.db.models import Chunk, Document
from docsage.index.base import ChunkWrite
from docsage.index.cache import top_rows
from docsage.index.lexical import K1, B, analyze
from docsage.index.postgres import PostgresIndex
from docsage.retrieval.service import Mode, RetrievalService
from docsage.services import Services

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "eval"
# A server set up as for production on this machine (defaults: 128 MB shared buffers, 64 MB for index builds).
SERVER_SETTINGS = {"shared_buffers": "2GB", "maintenance_work_mem": "1GB", "effective_cache_size": "8GB", "jit": "off"}
MODES: tuple[Mode, ...] = ("hybrid", "dense", "lexical")


def log(msg: str) -> None:
    print(msg, flush=True)


def start_postgres(directory: Path) -> Any:
    """pgserver's PostgreSQL, restarted once so settings that need a restart (shared_buffers) apply."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    import psycopg

    data = directory / "data"
    server = pgserver.get_server(data, cleanup_mode="stop")
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        for name, value in SERVER_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("CREATE DATABASE bench")
    server.cleanup()
    return pgserver.get_server(data, cleanup_mode="delete")


def copy_index(source: Services, target: Services, project_id: str, log: Callable[[str], None]) -> str:
    """The same project's chunks and vectors written to another backend through its index backend."""
    project = target.projects.create_project("bench-scale")
    src = target.projects.add_source(project.id, "upload", "bench://scale")
    with source.database.session() as session:
        docs = list(
            session.scalars(select(Document).where(Document.project_id == project_id).order_by(Document.created_at))
        )
    for n, doc in enumerate(docs):
        with source.database.session() as session:
            rows = list(session.scalars(select(Chunk).where(Chunk.document_id == doc.id).order_by(Chunk.pk)))
        writes = [ChunkWrite(r.chunk_id, r.ordinal, r.heading_path, r.text, r.token_count) for r in rows]
        vectors = np.frombuffer(b"".join(r.embedding for r in rows), dtype=np.float32).reshape(len(rows), -1)
        with target.database.session() as session:
            copy = Document(project_id=project.id, source_id=src.id, url=doc.url, title=doc.title, content_hash="x")
            session.add(copy)
            session.flush()
            target.index.write_document(session, project.id, src.id, copy.id, doc.title, writes, vectors)
        if n % 10 == 0:
            log(f"  copied {n + 1}/{len(docs)} documents")
    return project.id


def timed(fn: Callable[..., object], *args: Any, **kwargs: Any) -> float:
    """Milliseconds one call takes."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def rss_mb() -> float:
    gc.collect()
    return float(psutil.Process().memory_info().rss) / 2**20


SQL_POSTINGS = """
CREATE TABLE bench_postings AS
  SELECT c.pk, t.term, count(*)::real AS tf
  FROM chunks c, unnest(string_to_array(c.lex, ' ')) AS t(term)
  WHERE c.project_id = %(p)s AND c.lex <> '' GROUP BY c.pk, t.term;
CREATE INDEX ON bench_postings (term) INCLUDE (pk, tf);
CREATE TABLE bench_doclen AS
  SELECT pk, coalesce(array_length(string_to_array(nullif(lex, ''), ' '), 1), 0)::real AS len
  FROM chunks WHERE project_id = %(p)s;
ALTER TABLE bench_doclen ADD PRIMARY KEY (pk);
CREATE TABLE bench_df AS SELECT term, count(*) AS df FROM bench_postings GROUP BY term;
ALTER TABLE bench_df ADD PRIMARY KEY (term);
ANALYZE bench_postings; ANALYZE bench_doclen; ANALYZE bench_df;
"""
SQL_BM25 = f"""
WITH stats AS (SELECT count(*)::real AS n, avg(len)::real AS avgdl FROM bench_doclen),
q AS (SELECT d.term, ln(1 + (s.n - d.df + 0.5) / (d.df + 0.5)) AS idf FROM bench_df d, stats s
      WHERE d.term = ANY(%(terms)s))
SELECT p.pk, sum(q.idf * p.tf * {K1 + 1} / (p.tf + {K1} * (1 - {B} + {B} * l.len / s.avgdl))) AS score
FROM q JOIN bench_postings p ON p.term = q.term JOIN bench_doclen l ON l.pk = p.pk, stats s
GROUP BY p.pk ORDER BY score DESC LIMIT %(k)s
"""


def in_memory(arrays: Any, terms: list[str], depth: int) -> Any:
    """What the backend does for the lexical list: BM25 over the replica's postings, top `depth` rows."""
    mask = arrays.mask(None)
    scores = arrays.lexical.score(terms, mask)
    return top_rows(scores, mask & (scores > 0), depth)


def bench_sql_bm25(pg: Services, project_id: str, queries: list[str], depth: int) -> tuple[list[Figure], float]:
    """BM25 in PostgreSQL over a postings table vs the replica's in-memory postings, top `depth`."""
    with pg.database.session() as session:
        conn = session.connection()
        start = time.perf_counter()
        for statement in SQL_POSTINGS.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement, {"p": project_id})
        build_s = time.perf_counter() - start
    index = pg.index
    assert isinstance(index, PostgresIndex)
    sql_ms, memory_ms, agree = [], [], 0
    for q in queries:
        terms = list(dict.fromkeys(analyze(q)))
        with pg.database.session() as session:
            conn = session.connection()
            sql_ms.append(timed(lambda c, p: list(c.exec_driver_sql(SQL_BM25, p)), conn, {"terms": terms, "k": depth}))
            sql_top = [round(float(r[1]), 3) for r in conn.exec_driver_sql(SQL_BM25, {"terms": terms, "k": 10})]
            arrays = index._cache.get(session, project_id)

            memory_ms.append(timed(in_memory, arrays, terms, depth))
            scores = arrays.lexical.score(terms, arrays.mask(None))
            mem_top = [round(float(scores[r]), 3) for r in in_memory(arrays, terms, depth)[:10]]
            agree += sql_top == mem_top
    sql_p50, mem_p50 = percentiles(sql_ms)[0], percentiles(memory_ms)[0]
    figures = [
        Figure("BM25 top-300 in SQL (postings table) p50", sql_p50, "ms", "in-memory postings, same queries", mem_p50),
        Figure("queries whose SQL BM25 top-10 scores equal the in-memory ones", agree, "", "queries", len(queries)),
    ]
    return figures, build_s


def compare_eval(dataset: str, url: str, tmp: Path) -> list[Figure]:
    """nDCG@10 and Recall@10 of every retriever on PostgreSQL (exact, then HNSW forced) beside SQLite's."""
    import docsage.index.postgres as pg_index
    from docsage.evaluation.runner import run_eval
    from docsage.index import registry

    base = Settings(home=tmp / "eval", database_url="", embedding_provider="local")
    results = {"SQLite": run_eval(dataset, base)}
    log(f"SQLite: {results['SQLite'].chunks:,} chunks")
    results["PostgreSQL"] = run_eval(dataset, base.model_copy(update={"database_url": url}))
    pg_index.EXACT_BELOW = 0  # every dense list from the HNSW index
    registry._backends.clear()
    results["PostgreSQL, HNSW forced"] = run_eval(dataset, base.model_copy(update={"database_url": url}))
    figures = []
    for name in ("PostgreSQL", "PostgreSQL, HNSW forced"):
        for mine, theirs in zip(results[name].results, results["SQLite"].results, strict=True):
            for metric in ("ndcg@10", "recall@10"):
                label = f"{results[name].dataset} {mine.mode} {metric}, {name}"
                figures.append(Figure(label, mine.metrics[metric], "", "SQLite", theirs.metrics[metric]))
            label = f"{results[name].dataset} {mine.mode} p50, {name}"
            figures.append(Figure(label, mine.p50_ms, "ms", "SQLite", theirs.p50_ms))
    return figures


def bench_scale(url: str, tmp: Path, pages: Path, queries: list[str], chunks: int) -> list[Figure]:
    """Build time, memory, latency, recall, SQL BM25 and data_version() at `chunks` chunks on both backends."""
    figures: list[Figure] = []
    base = Settings(home=tmp / "sqlite", database_url="", embedding_provider="local")
    lite = Services(base)
    pg = Services(base.model_copy(update={"home": tmp / "pg", "database_url": url}))
    # The corpus is built once (embedded and replicated) in a scratch SQLite home, then written into both
    # backends the same way, so the build times compare the backends' writes alone.
    scratch = Services(base.model_copy(update={"home": tmp / "scratch"}))
    scratch_project, total = build_scaled_index(scratch, pages, chunks, log)
    builds: dict[str, float] = {}
    projects: dict[str, str] = {}
    for name, target in (("SQLite", lite), ("PostgreSQL", pg)):
        start = time.perf_counter()
        projects[name] = copy_index(scratch, target, scratch_project, log)
        builds[name] = time.perf_counter() - start
        log(f"{name}: {total:,} chunks written in {builds[name]:.0f} s")
    scratch.database.dispose()
    lite_project, pg_project = projects["SQLite"], projects["PostgreSQL"]
    figures.append(
        Figure(f"index build, {total:,} chunks, PostgreSQL", builds["PostgreSQL"], "s", "SQLite", builds["SQLite"])
    )

    before = rss_mb()
    pg.retrieval.search(pg_project, "warm up the caches", top_k=10)
    pg_rss = rss_mb() - before
    before = rss_mb()
    lite.retrieval.search(lite_project, "warm up the caches", top_k=10)
    lite_rss = rss_mb() - before
    figures.append(Figure("replica memory for the project (RSS growth)", pg_rss, "MB", "SQLite", lite_rss))

    dense_ms: list[float] = []
    for mode in MODES:
        samples: dict[str, list[float]] = {"pg": [], "lite": []}
        for q in queries:  # alternated, so a burst of foreign load lands on both sides
            samples["lite"].append(timed(lite.retrieval.search, lite_project, q, mode=mode))
            samples["pg"].append(timed(pg.retrieval.search, pg_project, q, mode=mode))
        (pg50, pg95), (l50, l95) = percentiles(samples["pg"]), percentiles(samples["lite"])
        dense_ms = samples["pg"] if mode == "dense" else dense_ms
        figures.append(Figure(f"{mode} retrieval p50 at {total:,} chunks, PostgreSQL", pg50, "ms", "SQLite", l50))
        figures.append(Figure(f"{mode} retrieval p95 at {total:,} chunks, PostgreSQL", pg95, "ms", "SQLite", l95))

    exact = RetrievalService(pg.database, PostgresIndex(exact_below=1 << 62), pg.embedder, pg.settings)
    recalls, exact_ms = [], []
    for q in queries:
        truth = {h.chunk_id for h in lite.retrieval.search(lite_project, q, top_k=10, mode="dense")}
        found = {h.chunk_id for h in pg.retrieval.search(pg_project, q, top_k=10, mode="dense")}
        recalls.append(len(truth & found) / max(len(truth), 1))
        exact_ms.append(timed(exact.search, pg_project, q, mode="dense"))
    figures.append(Figure("HNSW dense recall@10 vs exact search", float(np.mean(recalls)), "", "target", 0.98))
    hnsw_p50, exact_p50 = percentiles(dense_ms)[0], percentiles(exact_ms)[0]
    figures.append(Figure("dense retrieval p50, HNSW", hnsw_p50, "ms", "exact scan in PostgreSQL", exact_p50))

    sql_figures, postings_build_s = bench_sql_bm25(pg, pg_project, queries, pg.settings.retrieval_candidates)
    figures += sql_figures
    log(f"(postings table for the SQL BM25 built in {postings_build_s:.1f} s)")

    costs = {
        name: min(timed(s.database.data_version) for _ in range(200)) * 1000 for name, s in (("pg", pg), ("lite", lite))
    }
    figures.append(Figure("data_version() read, PostgreSQL", costs["pg"], "µs", "SQLite", costs["lite"]))
    lite.database.dispose()
    pg.database.dispose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", help="BEIR folder: compare retrieval quality instead of speed at scale")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--pages", default=str(SHARED / "anthropic_docs" / "pages"))
    parser.add_argument("--queries", default=str(SHARED / "anthropic_docs" / "queries.jsonl"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    queries = [json.loads(line)["text"] for line in Path(args.queries).read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="docsage-bench-pg-") as tmp:
        server = start_postgres(Path(tmp))
        url = server.get_uri("bench").replace("postgresql://", "postgresql+psycopg://", 1)
        try:
            if args.eval:
                figures = compare_eval(args.eval, url, Path(tmp))
            else:
                figures = bench_scale(url, Path(tmp), Path(args.pages), queries, args.chunks)
        finally:
            server.cleanup()
    if args.json:
        print(json.dumps([{**f.__dict__, "ratio": f.ratio} for f in figures], indent=2))
    else:
        for f in figures:
            print(f.line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
