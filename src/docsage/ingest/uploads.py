"""Uploaded documents: accepted at once and indexed by a background job, listed with their status, deleted
for good (the document, every chunk and vector, and any bytes still waiting to be indexed)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from docsage.db.documents import DocumentRepository
from docsage.db.engine import Database
from docsage.db.jobs import JobRepository, PendingUploadRepository
from docsage.db.models import Document, Job, PendingUpload, Source, new_id, utcnow
from docsage.db.sources import SourceRepository
from docsage.errors import ConflictError, InvalidInputError, NotFoundError
from docsage.index.base import IndexBackend
from docsage.ingest.connectors.folder import FORMATS, looks_binary
from docsage.ingest.documents import FetchedDocument
from docsage.ingest.service import IngestService, JobProgress
from docsage.jobs.service import JobContext, JobService

UPLOAD_TYPES = {".md", ".markdown", ".mdx", ".txt", ".html", ".htm", ".pdf", ".rst"}
UPLOADS_SOURCE = "Uploads"
INDEX_UPLOAD = "index_upload"
JOB_STATUS = {"queued": "queued", "running": "processing", "failed": "failed"}


def _doc_json(doc: Document, status: str = "ready", error: str = "", job_id: str | None = None) -> dict[str, Any]:
    return {
        "id": doc.id,
        "filename": doc.url.removeprefix("upload://"),
        "title": doc.title,
        "status": status,
        "error": error or None,
        "job_id": job_id,
        "chunks": doc.chunk_count,
        "characters": len(doc.content),
        "created_at": doc.created_at,
        "updated_at": doc.updated_at,
    }


def _pending_json(upload: PendingUpload, job: Job | None) -> dict[str, Any]:
    return {
        "id": upload.document_id,
        "filename": upload.filename,
        "title": "",
        "status": JOB_STATUS.get(job.status, "queued") if job else "queued",
        "error": (job.error or None) if job and job.status == "failed" else None,
        "job_id": upload.job_id,
        "chunks": 0,
        "characters": 0,
        "created_at": upload.created_at,
        "updated_at": upload.created_at,
    }


def _check(filename: str, data: bytes) -> tuple[str, str]:
    """(file name without any path, parser format) of an acceptable upload."""
    name = PurePosixPath(filename.replace("\\", "/")).name.strip()
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise InvalidInputError(f"unsupported file type {suffix or '(none)'}; upload {', '.join(sorted(UPLOAD_TYPES))}")
    if not data:
        raise InvalidInputError("the file is empty")
    fmt = FORMATS[suffix]
    if fmt != "pdf":
        if looks_binary(data):
            raise InvalidInputError("the file looks binary, not text")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError("the file is not valid UTF-8 text") from None
    return name, fmt


class UploadService:
    def __init__(self, database: Database, index: IndexBackend, ingest: IngestService, jobs: JobService) -> None:
        self.database = database
        self.index = index
        self.ingest = ingest
        self.jobs = jobs

    def _source(self, project_id: str) -> Source:
        with self.database.session() as session:
            repo = SourceRepository(session)
            for source in repo.list(project_id):
                if source.type == "upload" and source.name == UPLOADS_SOURCE:
                    return source
            return repo.add(Source(project_id=project_id, type="upload", name=UPLOADS_SOURCE, location="upload://"))

    def add(self, project_id: str, filename: str, data: bytes) -> dict[str, Any]:
        """Accept a file for indexing (the same file name again replaces the earlier version once indexed):
        the bytes and the job that indexes them are stored in one transaction, so nothing accepted is lost."""
        name, fmt = _check(filename, data)
        source = self._source(project_id)
        url = f"upload://{name}"
        with self.database.session() as session:
            # The same name again is the same document: indexed already, or still waiting to be.
            existing = next(iter(DocumentRepository(session).by_urls(project_id, [url])), None)
            waiting = PendingUploadRepository(session).by_filename(project_id, name)
            document_id = existing.id if existing else waiting.document_id if waiting else new_id()
            earlier = JobRepository(session).get(waiting.job_id) if waiting else None
            if earlier is not None and earlier.status == "queued":  # replaced before it ran: never index it
                earlier.status, earlier.finished_at = "cancelled", utcnow()
            job = self.jobs.enqueue(
                INDEX_UPLOAD,
                project_id=project_id,
                source_id=source.id,
                lock_key=f"source:{source.id}",  # uploads of a project index one at a time, like any source
                payload={"document_id": document_id},
                session=session,
            )
            upload = PendingUploadRepository(session).put(
                PendingUpload(
                    document_id=document_id,
                    project_id=project_id,
                    source_id=source.id,
                    filename=name,
                    fmt=fmt,
                    data=data,
                    job_id=job.id,
                )
            )
            out = _pending_json(upload, job)
        self.jobs.notify()
        return out

    def status(self, project_id: str, document_id: str) -> dict[str, Any]:
        """One upload as the listing shows it (polled while an upload waits: two lookups, no listing)."""
        with self.database.session() as session:
            waiting = PendingUploadRepository(session).status(project_id, document_id)
            doc = DocumentRepository(session).get(document_id)
            source = SourceRepository(session).get(doc.source_id) if doc is not None else None
            if doc is not None and (doc.project_id != project_id or source is None or source.type != "upload"):
                doc = None
            if waiting is not None:
                pending = _pending_json(*waiting)
                return _doc_json(doc, pending["status"], pending["error"], pending["job_id"]) if doc else pending
            if doc is None:
                raise NotFoundError(f"document {document_id} not found")
            return _doc_json(doc)

    def index_job(self, context: JobContext) -> dict[str, Any]:
        """The `index_upload` job: parse, chunk, embed and index one pending upload."""
        document_id = context.payload["document_id"]
        with self.database.session() as session:
            upload = PendingUploadRepository(session).get(document_id)
            if upload is None or upload.job_id != context.job_id:
                return {"skipped": "deleted or replaced by a newer upload"}
            source = SourceRepository(session).get(upload.source_id)
            if source is None:
                return {"skipped": "the uploads source was removed"}
            item = FetchedDocument(
                url=f"upload://{upload.filename}", raw=upload.data, fmt=upload.fmt, document_id=document_id
            )
        summary = self.ingest.ingest_items(source, [item], JobProgress(context), job_id=context.job_id)
        if summary.status != "succeeded":
            raise InvalidInputError(f"{upload.filename} could not be indexed: {summary.error}")
        if summary.failed:
            raise InvalidInputError(f"{upload.filename} could not be indexed: {summary.failures[0]['reason']}")
        with self.database.session() as session:
            doc = DocumentRepository(session).get(document_id)
            if doc is None:
                raise InvalidInputError(f"{upload.filename} produced no indexable text")
            pending = PendingUploadRepository(session)
            current = pending.get(document_id)
            if current is not None and current.job_id == context.job_id:
                pending.remove(document_id)
            return {"document_id": document_id, "chunks": doc.chunk_count}

    def list(self, project_id: str) -> list[dict[str, Any]]:
        source = self._source(project_id)
        with self.database.session() as session:
            pending = {
                u.document_id: _pending_json(u, j) for u, j in PendingUploadRepository(session).for_project(project_id)
            }
            out = []
            for doc in DocumentRepository(session).list_for_source(source.id):
                waiting = pending.pop(doc.id, None)
                # A new version on its way: the indexed one still answers meanwhile.
                out.append(
                    _doc_json(doc, waiting["status"], waiting["error"], waiting["job_id"])
                    if waiting
                    else _doc_json(doc)
                )
            return out + list(pending.values())

    def delete(self, project_id: str, document_id: str) -> None:
        with self.database.session() as session:
            upload = PendingUploadRepository(session).get(document_id)
            job_id = upload.job_id if upload is not None and upload.project_id == project_id else None
        if job_id is not None and not self.jobs.cancel(job_id) and self.jobs.get(job_id).status == "running":
            raise ConflictError("the document is being indexed right now; delete it again in a moment")
        with self.database.session() as session:
            if job_id is not None:
                PendingUploadRepository(session).remove(document_id)
            docs = DocumentRepository(session)
            doc = docs.get(document_id)
            source = SourceRepository(session).get(doc.source_id) if doc else None
            if doc is None or doc.project_id != project_id or source is None or source.type != "upload":
                if job_id is not None:
                    return  # it never got indexed: removing the waiting bytes was all there was to delete
                raise NotFoundError(f"document {document_id} not found")
            self.index.delete_documents(session, project_id, [doc.id])
            session.delete(doc)
