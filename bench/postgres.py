"""PostgreSQL vs SQLite at scale (issue 11), in one run on the same chunks and vectors.

The corpus (bench/corpus.py) is synthetic but realistic: distinct vectors from a mixture fitted to real
MiniLM embeddings, texts recombined from real documentation chunks. Its neighbour statistics are printed
beside the real embeddings'. Built once per size and kept in `--cache DIR` (PostgreSQL data directory,
SQLite home, exact neighbours, build timings), so later runs measure without rebuilding.

- index build: rows written through the backends' write_document, the HNSW index built after them
  (CREATE INDEX, as a deployment loads a big corpus), its size, and writes into the live index after;
- each replica's memory: a real `docsage serve` per backend, RSS after its first /retrieval/ answer;
- retrieval p50/p95 (hybrid, dense, lexical; query embedding included) on both backends, alternated;
- ANN recall@10 against exact search (numpy over every vector) across hnsw.ef_search (or ivfflat.probes)
  values, with the dense p50 of each, and PostgreSQL's own exact scan;
- what a replica pays to follow a write and a deletion; data_version() on both backends;
- up to 100k chunks: BM25 as SQL over a postings table (the design not chosen) vs the in-memory postings.

With `--eval DIR` instead: `docsage eval`'s nDCG@10 etc. on a BEIR set on SQLite, on PostgreSQL, and on
PostgreSQL with the HNSW path forced however small the set is (below 20,000 chunks the backend scans exactly).

Run from the repository root: `python -m bench.postgres [--chunks 100000] [--cache DIR] | --eval DIR`.
It starts its own PostgreSQL 16 + pgvector 0.6 (the `pgserver` wheel from the dev extra).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import pgbuild
from bench.pgbuild import Built, log
from docsage.benchmarks import Figure
from docsage.config import Settings
from docsage.db.vector_index import default_probes, describe
from docsage.index.cache import top_rows
from docsage.index.lexical import analyze
from docsage.index.postgres import PostgresIndex
from docsage.index.postings import K1, B
from docsage.retrieval.service import Mode, RetrievalService
from docsage.services import Services

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "eval"
MODES: tuple[Mode, ...] = ("hybrid", "dense", "lexical")
EF_SWEEP = (300, 400, 600, 800, 1000)  # hnsw.ef_search values; below the candidate depth the list runs short
PROBES_SWEEP = (10, 20, 40, 80)  # ivfflat.probes values
SQL_BM25_UP_TO = 100_000  # the postings table takes minutes to build past this


def timed(fn: Callable[..., object], *args: Any, **kwargs: Any) -> float:
    """Milliseconds one call takes."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def load_average() -> str:
    return "load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())


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
SQL_BM25_CLEANUP = "DROP TABLE IF EXISTS bench_postings, bench_doclen, bench_df"


def in_memory(arrays: Any, terms: list[str], depth: int) -> Any:
    """What the backend does for the lexical list: BM25 over the replica's postings, top `depth` rows."""
    mask = arrays.mask(None)
    scores = arrays.lexical.score(terms, mask)
    return top_rows(scores, mask & (scores > 0), depth)


def bench_sql_bm25(pg: Services, project_id: str, queries: list[str], depth: int) -> list[Figure]:
    """BM25 in PostgreSQL over a postings table vs the replica's in-memory postings, top `depth`."""
    with pg.database.session() as session:
        conn = session.connection()
        conn.exec_driver_sql(SQL_BM25_CLEANUP)
        start = time.perf_counter()
        for statement in SQL_POSTINGS.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement, {"p": project_id})
        log(f"(postings table for the SQL BM25 built in {time.perf_counter() - start:.1f} s)")
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
    with pg.database.session() as session:
        session.connection().exec_driver_sql(SQL_BM25_CLEANUP)
    sql_p50, mem_p50 = percentiles(sql_ms)[0], percentiles(memory_ms)[0]
    return [
        Figure("BM25 top-300 in SQL (postings table) p50", sql_p50, "ms", "in-memory postings, same queries", mem_p50),
        Figure("queries whose SQL BM25 top-10 scores equal the in-memory ones", agree, "", "queries", len(queries)),
    ]


def compare_eval(dataset: str, url: str, tmp: Path) -> list[Figure]:
    """nDCG@10 and Recall@10 of every retriever on PostgreSQL (exact, then HNSW forced) beside SQLite's."""
    from docsage.evaluation.runner import run_eval

    base = Settings(home=tmp / "eval", database_url="", embedding_provider="local")
    results = {"SQLite": run_eval(dataset, base)}
    log(f"SQLite: {results['SQLite'].chunks:,} chunks")
    results["PostgreSQL"] = run_eval(dataset, base.model_copy(update={"database_url": url}))
    forced = {"database_url": url, "pgvector_exact_below": 0}  # every dense list from the HNSW index
    results["PostgreSQL, HNSW forced"] = run_eval(dataset, base.model_copy(update=forced))
    figures = []
    for name in ("PostgreSQL", "PostgreSQL, HNSW forced"):
        for mine, theirs in zip(results[name].results, results["SQLite"].results, strict=True):
            for metric in ("ndcg@10", "recall@10"):
                label = f"{results[name].dataset} {mine.mode} {metric}, {name}"
                figures.append(Figure(label, mine.metrics[metric], "", "SQLite", theirs.metrics[metric]))
            label = f"{results[name].dataset} {mine.mode} p50, {name}"
            figures.append(Figure(label, mine.p50_ms, "ms", "SQLite", theirs.p50_ms))
    return figures


def bench_latency(pg: Services, lite: Services, built: Built, queries: list[str]) -> list[Figure]:
    figures = []
    for mode in MODES:
        samples: dict[str, list[float]] = {"pg": [], "lite": []}
        for q in queries:  # alternated, so a burst of foreign load lands on both sides
            samples["lite"].append(timed(lite.retrieval.search, built.lite_project, q, mode=mode))
            samples["pg"].append(timed(pg.retrieval.search, built.pg_project, q, mode=mode))
        (pg50, pg95), (l50, l95) = percentiles(samples["pg"]), percentiles(samples["lite"])
        name = f"{mode} retrieval at {built.chunks:,} chunks, PostgreSQL ({load_average()})"
        figures.append(Figure(f"{name} p50", pg50, "ms", "SQLite", l50))
        figures.append(Figure(f"{name} p95", pg95, "ms", "SQLite", l95))
    return figures


def bench_recall(pg: Services, built: Built, queries: list[str]) -> list[Figure]:
    """Recall@10 of the dense list against the exact neighbours, and its p50, for each hnsw.ef_search (or each
    ivfflat.probes, when the index was rebuilt as IVFFlat with `docsage vector-index`)."""
    figures = []
    with pg.database.engine.connect() as conn:
        index = describe(conn, pg.embedder.dimension)
    make: Callable[[int], PostgresIndex]
    if index is not None and index.method == "ivfflat":
        knob, default = "ivfflat.probes", pg.settings.pgvector_ivfflat_probes or default_probes(index.lists or 1)
        values, make = {*PROBES_SWEEP, default}, lambda n: PostgresIndex(ivfflat_probes=n)
    else:
        knob, default = "hnsw.ef_search", pg.settings.pgvector_ef_search or pg.settings.retrieval_candidates
        values, make = {*EF_SWEEP, default}, lambda n: PostgresIndex(ef_search=n)
    for value in sorted(values):
        service = RetrievalService(pg.database, make(value), pg.embedder, pg.settings)
        service.search(built.pg_project, "warm up", mode="dense")
        recalls, ms = [], []
        for q, truth in zip(queries, built.truth, strict=True):
            start = time.perf_counter()
            found = {h.chunk_id for h in service.search(built.pg_project, q, top_k=10, mode="dense")}
            ms.append((time.perf_counter() - start) * 1000)
            recalls.append(len(found & set(truth)) / len(truth))
        shown = index.parameters if index is not None else "no index"
        label = f"{shown}: dense recall@10 vs exact, {knob} {value}"
        figures.append(Figure(label, float(np.mean(recalls)), "", "target", 0.98))
        figures.append(Figure(f"  dense p50 at that {knob} ({load_average()})", percentiles(ms)[0], "ms", "", 0.0))
    exact = RetrievalService(pg.database, PostgresIndex(exact_below=1 << 62), pg.embedder, pg.settings)
    few = queries[: 10 if built.chunks <= 200_000 else 3]
    exact_ms = [timed(exact.search, built.pg_project, q, mode="dense") for q in few]
    ann_ms = [timed(pg.retrieval.search, built.pg_project, q, mode="dense") for q in few]
    ann_p50, exact_p50 = percentiles(ann_ms)[0], percentiles(exact_ms)[0]
    figures.append(
        Figure("dense p50, vector index (same queries)", ann_p50, "ms", "exact scan in PostgreSQL", exact_p50)
    )
    return figures


def bench_scale(cache: Path, queries: list[str], chunks: int, pages: Path, sql_bm25: bool) -> list[Figure]:
    settings = Settings(home=cache / "settings-home", database_url="", embedding_provider="local")
    server, url = pgbuild.start_postgres(cache / "pgdata")
    try:
        built, figures = pgbuild.build(cache, url, settings, chunks, pages, queries)
        pg = Services(settings.model_copy(update={"home": cache / "pg-home", "database_url": url}))
        lite = Services(settings.model_copy(update={"home": cache / "sqlite-home"}))
        figures += pgbuild.replica_memory(cache, url, built, queries)
        for services, project in ((pg, built.pg_project), (lite, built.lite_project)):
            services.retrieval.search(project, "warm up the caches", top_k=10)
        figures += bench_latency(pg, lite, built, queries)
        figures += bench_recall(pg, built, queries)
        figures += pgbuild.live_writes(pg, lite, built)
        if sql_bm25 and built.chunks <= SQL_BM25_UP_TO:
            figures += bench_sql_bm25(pg, built.pg_project, queries, pg.settings.retrieval_candidates)
        costs = {
            name: min(timed(s.database.data_version) for _ in range(200)) * 1000
            for name, s in (("pg", pg), ("lite", lite))
        }
        figures.append(Figure("data_version() read, PostgreSQL", costs["pg"], "µs", "SQLite", costs["lite"]))
        lite.database.dispose()
        pg.database.dispose()
    finally:
        server.cleanup()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", help="BEIR folder: compare retrieval quality instead of speed at scale")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--cache", help="keep the built corpus (and its PostgreSQL) here and reuse it")
    parser.add_argument("--pages", default=str(SHARED / "anthropic_docs" / "pages"))
    parser.add_argument("--queries", default=str(SHARED / "anthropic_docs" / "queries.jsonl"))
    parser.add_argument("--no-sql-bm25", action="store_true", help="skip BM25 as SQL (minutes to set up)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    queries = [json.loads(line)["text"] for line in Path(args.queries).read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="docsage-bench-pg-") as tmp:
        if args.eval:
            server, url = pgbuild.start_postgres(Path(tmp) / "pgdata")
            try:
                figures = compare_eval(args.eval, url, Path(tmp))
            finally:
                server.cleanup()
        else:
            cache = Path(args.cache) / f"{args.chunks}" if args.cache else Path(tmp)
            cache.mkdir(parents=True, exist_ok=True)
            figures = bench_scale(cache, queries, args.chunks, Path(args.pages), not args.no_sql_bm25)
    if args.json:
        print(json.dumps([{**f.__dict__, "ratio": f.ratio} for f in figures], indent=2))
    else:
        for f in figures:
            print(f.line(), flush=True)
    return 0


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        raise SystemExit(main())
