"""Change-only ingestion: fetch, parse, chunk, embed and index a source's documents, run by run."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import numpy as np
from sqlalchemy.orm import Session

from docsage.config import Settings
from docsage.db.documents import DocumentRepository
from docsage.db.engine import Database
from docsage.db.models import Document, IngestRun, Job, Source, utcnow
from docsage.db.sources import IngestRunRepository, SourceRepository
from docsage.embed.base import Embedder
from docsage.errors import DocsageError, NotFoundError
from docsage.index.base import ChunkWrite, IndexBackend
from docsage.ingest.chunk import ChunkDraft, Chunker, chunk_id
from docsage.ingest.connectors import build_connector
from docsage.ingest.documents import ConnectorItem, FetchedDocument, FetchFailure
from docsage.ingest.parse import ParseLimits, parse
from docsage.jobs.service import JobContext, JobFailedError, JobService

log = logging.getLogger(__name__)
EMBED_POOL = 256  # chunks gathered before one embed + write transaction; bigger pools batch by length better
# Identical chunk texts (boilerplate repeated across pages: a licence footer, a shared admonition) are embedded
# once per run; the vectors kept for reuse are capped (384-d float32: 20,000 vectors are 31 MB).
RUN_VECTOR_CACHE = 20_000


class _RunVectors:
    """Vectors already computed in this run, by embed text: a repeated chunk is embedded once."""

    def __init__(self, embedder: Embedder, limit: int = RUN_VECTOR_CACHE) -> None:
        self.embedder = embedder
        self.limit = limit
        self.vectors: dict[bytes, np.ndarray] = {}
        self.reused = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.blake2b(t.encode(), digest_size=16).digest() for t in texts]
        todo: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self.vectors:
                todo.setdefault(key, text)
        fresh = dict(zip(todo, self.embedder.embed_documents(list(todo.values())), strict=True)) if todo else {}
        self.reused += len(texts) - len(todo)
        rows = [fresh[k] if k in fresh else self.vectors[k] for k in keys]
        for key, vector in fresh.items():
            if len(self.vectors) >= self.limit:
                break
            self.vectors[key] = vector
        return np.stack(rows).astype(np.float32, copy=False)


class IngestProgress(Protocol):
    def documents(self, seen: int) -> None: ...

    def chunks(self, produced: int) -> None: ...

    def embedded(self, done: int) -> None: ...


class JobProgress:
    """Ingest progress written onto the job that runs it (throttled by the job context)."""

    def __init__(self, context: JobContext) -> None:
        self.context = context

    def documents(self, seen: int) -> None:
        self.context.report(documents=seen)

    def chunks(self, produced: int) -> None:
        self.context.report(chunks=produced)

    def embedded(self, done: int) -> None:
        self.context.report(embedded=done)


INGEST_SOURCE = "ingest_source"


def chunk_window(embedder: Embedder, settings: Settings) -> int:
    """The longest chunk in the embedder's tokens: DOCSAGE_CHUNK_TOKENS, or the embedder's own chunk size when it
    is 0, capped at the embedder's window."""
    return min(settings.chunk_tokens or embedder.chunk_tokens, embedder.max_tokens)


def index_stamp(embedder: Embedder, window: int) -> str:
    """What a document's chunks were made with: the embedder, and the chunk size when it is not the whole window.
    A document whose stamp differs from the current one is chunked and embedded again at its next ingest."""
    return embedder.name if window >= embedder.max_tokens else f"{embedder.name}; chunks of {window} tokens"


def enqueue_ingest(jobs: JobService, project_id: str, source_id: str, session: Session | None = None) -> Job:
    """Queue one run of a source (or return the run already queued or running for it); in the caller's
    transaction when given one (the caller then commits and calls `jobs.notify()`)."""
    return jobs.enqueue(
        INGEST_SOURCE,
        project_id=project_id,
        source_id=source_id,
        lock_key=f"source:{source_id}",
        payload={"source_id": source_id},
        reuse_active=True,
        session=session,
    )


class _NoProgress:
    def documents(self, seen: int) -> None:
        pass

    def chunks(self, produced: int) -> None:
        pass

    def embedded(self, done: int) -> None:
        pass


@dataclass
class IngestSummary:
    run_id: str
    source_id: str
    status: str = "running"
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    skipped: int = 0
    chunks: int = 0
    seconds: float = 0.0
    error: str = ""
    failures: list[dict[str, str]] = field(default_factory=list)


@dataclass
class _Pending:
    doc: FetchedDocument
    title: str
    content: str
    drafts: list[ChunkDraft]
    existing_id: str | None


class IngestService:
    def __init__(self, database: Database, index: IndexBackend, embedder: Embedder, settings: Settings) -> None:
        self.database = database
        self.index = index
        self.embedder = embedder
        self.settings = settings
        window = chunk_window(embedder, settings)
        self.chunker = Chunker(embedder.count_tokens, window)
        self.stamp = index_stamp(embedder, window)

    @property
    def parse_limits(self) -> ParseLimits:
        return ParseLimits(self.settings.parse_max_pdf_pages, self.settings.parse_max_chars)

    def run_job(self, context: JobContext) -> dict[str, Any]:
        """The `ingest_source` job: one run of a source, its progress reported on the job."""
        summary = self.run(context.payload["source_id"], JobProgress(context), job_id=context.job_id)
        if summary.status != "succeeded":
            raise JobFailedError(summary.error or "ingest failed", asdict(summary))
        return asdict(summary)

    def run(self, source_id: str, progress: IngestProgress | None = None, job_id: str | None = None) -> IngestSummary:
        """Ingest one source from its connector; deletions only happen after a complete listing."""
        with self.database.session() as session:
            source = SourceRepository(session).get(source_id)
            if source is None:
                raise NotFoundError(f"source {source_id} not found")
            connector = build_connector(source.type, source.location, dict(source.options), self.settings)
        return self.ingest_items(source, connector.iter_documents(), progress, complete_listing=True, job_id=job_id)

    def ingest_items(
        self,
        source: Source,
        items: Iterable[ConnectorItem],
        progress: IngestProgress | None = None,
        *,
        complete_listing: bool = False,
        job_id: str | None = None,
    ) -> IngestSummary:
        """Index the given items; with complete_listing, documents absent from them are deleted."""
        progress = progress or _NoProgress()
        started = time.perf_counter()
        with self.database.session() as session:
            runs = IngestRunRepository(session)
            for stale in runs.running(source.id):  # a run killed mid-way (kill -9): the next run completes it
                stale.status = "interrupted"
                stale.finished_at = utcnow()
            run = runs.add(IngestRun(project_id=source.project_id, source_id=source.id, job_id=job_id))
            known = DocumentRepository(session).fingerprints(source.id)
        summary = IngestSummary(run_id=run.id, source_id=source.id)
        seen: set[str] = set()
        pending: list[_Pending] = []
        pending_chunks = 0
        embedded = 0
        produced = 0
        run_vectors = _RunVectors(self.embedder)
        try:
            for item in items:
                if isinstance(item, FetchFailure):
                    if item.skipped:
                        summary.skipped += 1
                    else:
                        seen.add(item.url)  # keep the old version of a document that failed this time
                        summary.failed += 1
                    summary.failures.append(
                        {"url": item.url, "reason": item.reason, "kind": "skipped" if item.skipped else "failed"}
                    )
                    continue
                if item.url in seen:
                    continue
                seen.add(item.url)
                progress.documents(len(seen))
                prior = known.get(item.url)
                if prior and prior[1] == item.hash and prior[2] == self.stamp:
                    summary.unchanged += 1
                    continue
                try:
                    parsed = parse(item.raw, item.fmt, item.url, item.title, self.parse_limits)
                    drafts = self.chunker.chunk(parsed)
                except DocsageError as exc:
                    self._fail(summary, item.url, exc.message)
                    continue
                except Exception as exc:  # a parser bug on one document must not abort the run
                    log.exception("parsing %s failed", item.url)
                    self._fail(summary, item.url, f"{type(exc).__name__}: {exc}")
                    continue
                pending.append(_Pending(item, parsed.title, parsed.text, drafts, prior[0] if prior else None))
                pending_chunks += len(drafts)
                produced += len(drafts)
                progress.chunks(produced)
                if pending_chunks >= EMBED_POOL:
                    embedded += self._flush(source, pending, summary, run_vectors)
                    progress.embedded(embedded)
                    pending, pending_chunks = [], 0
            embedded += self._flush(source, pending, summary, run_vectors)
            progress.embedded(embedded)
            if run_vectors.reused:
                log.info("source %s: %d repeated chunk texts reused their vector", source.id, run_vectors.reused)
            if complete_listing:
                gone = [doc_id for url, (doc_id, _, _) in known.items() if url not in seen]
                self._delete(source.project_id, gone)
                summary.deleted = len(gone)
            summary.status = "succeeded"
        except DocsageError as exc:
            summary.status, summary.error = "failed", exc.message
        except BaseException as exc:
            summary.status, summary.error = "failed", f"{type(exc).__name__}: {exc}"
            self._finish(source, summary, started)
            raise
        self._finish(source, summary, started)
        return summary

    @staticmethod
    def _fail(summary: IngestSummary, url: str, reason: str) -> None:
        summary.failed += 1
        summary.failures.append({"url": url, "reason": reason, "kind": "failed"})

    def _flush(self, source: Source, pending: list[_Pending], summary: IngestSummary, run_vectors: _RunVectors) -> int:
        """Embed the pooled chunks (each distinct text once per run), then write the pooled documents in one
        transaction."""
        if not pending:
            return 0
        texts = [d.embed_text for p in pending for d in p.drafts]
        vectors = run_vectors.embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        offset = 0
        with self.database.session() as session:
            docs = DocumentRepository(session)
            for p in pending:
                n = len(p.drafts)
                doc = docs.get(p.existing_id) if p.existing_id else None
                if doc is None:
                    doc = docs.add(
                        Document(
                            **({"id": p.doc.document_id} if p.doc.document_id else {}),
                            project_id=source.project_id,
                            source_id=source.id,
                            url=p.doc.url,
                            content_hash=p.doc.hash,
                        )
                    )
                    summary.added += 1
                else:
                    summary.updated += 1
                doc.title, doc.content, doc.content_hash = p.title, p.content, p.doc.hash
                doc.chunk_count, doc.embedder = n, self.stamp
                writes = [
                    ChunkWrite(
                        chunk_id(source.id, p.doc.url, d.ordinal, d.text),
                        d.ordinal,
                        d.heading_path,
                        d.text,
                        d.token_count,
                    )
                    for d in p.drafts
                ]
                self.index.write_document(
                    session, source.project_id, source.id, doc.id, p.title, writes, vectors[offset : offset + n]
                )
                offset += n
                summary.chunks += n
        return len(texts)

    def _delete(self, project_id: str, document_ids: list[str]) -> None:
        if not document_ids:
            return
        with self.database.session() as session:
            self.index.delete_documents(session, project_id, document_ids)
            docs = DocumentRepository(session)
            for doc_id in document_ids:
                doc = docs.get(doc_id)
                if doc is not None:
                    session.delete(doc)

    def _finish(self, source: Source, summary: IngestSummary, started: float) -> None:
        summary.seconds = time.perf_counter() - started
        with self.database.session() as session:
            run = IngestRunRepository(session).get(summary.run_id)
            if run is not None:
                run.status, run.error, run.finished_at = summary.status, summary.error, utcnow()
                run.added, run.updated, run.unchanged = summary.added, summary.updated, summary.unchanged
                run.deleted, run.failed, run.chunks = summary.deleted, summary.failed, summary.chunks
                run.seconds, run.failures = summary.seconds, summary.failures[:200]
            stored = SourceRepository(session).get(source.id)
            if stored is not None and summary.status == "succeeded":
                stored.ingested_at = utcnow()
                if stored.refresh_interval_s:  # scheduled or by hand, the next refresh is one interval after it
                    stored.next_refresh_at = stored.ingested_at + timedelta(seconds=stored.refresh_interval_s)
