"""`docsage eval`: ingest a BEIR corpus into a throwaway project and score lexical, dense and hybrid retrieval."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from docsage.config import Settings
from docsage.db.models import Source
from docsage.evaluation.beir import BeirDataset, load_beir
from docsage.evaluation.metrics import dedupe, evaluate
from docsage.ingest.documents import ConnectorItem, FetchedDocument
from docsage.ingest.service import IngestProgress
from docsage.retrieval.service import PASSAGE_ZSCORE, Mode
from docsage.services import Services

# (reported name, mode, fusion): the RRF and passage-by-passage rows show what the default fusion (z-scores,
# pages ranked by all of their passages) is measured against in the same run.
VARIANTS: tuple[tuple[str, Mode, str | None], ...] = (
    ("lexical", "lexical", None),
    ("dense", "dense", None),
    ("hybrid-rrf", "hybrid", "rrf"),
    ("hybrid-passages", "hybrid", PASSAGE_ZSCORE),
    ("hybrid", "hybrid", None),
)


@dataclass
class ModeResult:
    mode: str
    metrics: dict[str, float]
    p50_ms: float
    p95_ms: float


@dataclass
class EvalResult:
    dataset: str
    documents: int
    chunks: int
    queries: int
    ingest_seconds: float
    results: list[ModeResult] = field(default_factory=list)
    runs: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "documents": self.documents,
            "chunks": self.chunks,
            "queries": self.queries,
            "ingest_seconds": round(self.ingest_seconds, 2),
            "results": {
                r.mode: {
                    **{k: round(v, 4) for k, v in r.metrics.items()},
                    "p50_ms": round(r.p50_ms, 2),
                    "p95_ms": round(r.p95_ms, 2),
                }
                for r in self.results
            },
        }


def corpus_items(dataset: BeirDataset) -> Iterator[ConnectorItem]:
    for doc in dataset.corpus:
        yield FetchedDocument(url=doc.url, raw=doc.text.encode("utf-8"), fmt="markdown", title=doc.title)


def run_eval(
    dataset_path: str | Path,
    settings: Settings,
    *,
    depth: int = 300,
    progress: IngestProgress | None = None,
    on_query: Callable[[int], None] | None = None,
    workdir: str | None = None,
) -> EvalResult:
    dataset = load_beir(dataset_path)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        # A throwaway SQLite file, unless PostgreSQL is configured: then its index backend is the one measured,
        # in a project of that database whose source (documents, chunks, vectors) is removed afterwards.
        on_postgres = settings.resolved_database_url().startswith("postgresql")
        database_url = settings.database_url if on_postgres else ""
        eval_settings = settings.model_copy(update={"home": Path(tmp), "database_url": database_url})
        services = Services(eval_settings)
        project = services.projects.create_project(f"eval-{dataset.name}")
        source = services.projects.add_source(project.id, "upload", f"beir://{dataset.name}", name=dataset.name)
        ingest = services.ingest.ingest_items(_reload(services, source), corpus_items(dataset), progress)
        url_to_id = {doc.url: doc.id for doc in dataset.corpus}
        result = EvalResult(dataset.name, len(dataset.corpus), ingest.chunks, len(dataset.queries), ingest.seconds)
        # Warm-up: load the vector matrix and the FTS pages once so the first timed query is not a cold read.
        services.retrieval.search(project.id, "warm up", top_k=10)
        for name, mode, fusion in VARIANTS:
            run: dict[str, list[str]] = {}
            latencies: list[float] = []
            for i, (qid, text) in enumerate(dataset.queries.items()):
                start = time.perf_counter()
                hits = services.retrieval.search(
                    project.id, text, top_k=depth, candidates=depth, mode=mode, fusion=fusion
                )
                latencies.append((time.perf_counter() - start) * 1000)
                run[qid] = dedupe([url_to_id.get(h.source_url, h.source_url) for h in hits])
                if on_query:
                    on_query(i + 1)
            result.runs[name] = run
            result.results.append(
                ModeResult(
                    name,
                    evaluate(dataset.qrels, run),
                    float(np.percentile(latencies, 50)),
                    float(np.percentile(latencies, 95)),
                )
            )
        if on_postgres:
            services.projects.remove_source(source.id)
        services.database.engine.dispose()
    return result


def _reload(services: Services, source: Source) -> Source:
    return services.projects.get_source(source.id)
