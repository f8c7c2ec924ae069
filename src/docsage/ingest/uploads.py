"""Uploaded documents: indexed at once into the project's "Uploads" source, listed, deleted for good."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from docsage.db.documents import DocumentRepository
from docsage.db.engine import Database
from docsage.db.models import Source
from docsage.db.sources import SourceRepository
from docsage.errors import InvalidInputError, NotFoundError
from docsage.index.base import IndexBackend
from docsage.ingest.connectors.folder import FORMATS, looks_binary
from docsage.ingest.documents import FetchedDocument
from docsage.ingest.service import IngestService

UPLOAD_TYPES = {".md", ".markdown", ".mdx", ".txt", ".html", ".htm", ".pdf", ".rst"}
UPLOADS_SOURCE = "Uploads"


def _doc_json(doc: Any, status: str = "ready", error: str = "") -> dict[str, Any]:
    return {
        "id": doc.id,
        "filename": doc.url.removeprefix("upload://"),
        "title": doc.title,
        "status": status,
        "error": error or None,
        "chunks": doc.chunk_count,
        "characters": len(doc.content),
        "created_at": doc.created_at,
        "updated_at": doc.updated_at,
    }


class UploadService:
    def __init__(self, database: Database, index: IndexBackend, ingest: IngestService) -> None:
        self.database = database
        self.index = index
        self.ingest = ingest

    def _source(self, project_id: str) -> Source:
        with self.database.session() as session:
            repo = SourceRepository(session)
            for source in repo.list(project_id):
                if source.type == "upload" and source.name == UPLOADS_SOURCE:
                    return source
            return repo.add(Source(project_id=project_id, type="upload", name=UPLOADS_SOURCE, location="upload://"))

    def add(self, project_id: str, filename: str, data: bytes) -> dict[str, Any]:
        """Index one file now; the same file name uploaded again replaces the earlier version."""
        name = PurePosixPath(filename.replace("\\", "/")).name.strip()
        suffix = PurePosixPath(name).suffix.lower()
        if suffix not in UPLOAD_TYPES:
            raise InvalidInputError(
                f"unsupported file type {suffix or '(none)'}; upload {', '.join(sorted(UPLOAD_TYPES))}"
            )
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
        source = self._source(project_id)
        url = f"upload://{name}"
        summary = self.ingest.ingest_items(source, [FetchedDocument(url=url, raw=data, fmt=fmt)])
        if summary.failed:
            raise InvalidInputError(f"{name} could not be indexed: {summary.failures[0]['reason']}")
        with self.database.session() as session:
            doc = next(iter(DocumentRepository(session).by_urls(project_id, [url])), None)
            if doc is None:
                raise InvalidInputError(f"{name} produced no indexable text")
            return _doc_json(doc)

    def list(self, project_id: str) -> list[dict[str, Any]]:
        source = self._source(project_id)
        with self.database.session() as session:
            docs = DocumentRepository(session)
            return [_doc_json(d) for d in docs.list_for_source(source.id)]

    def delete(self, project_id: str, document_id: str) -> None:
        with self.database.session() as session:
            docs = DocumentRepository(session)
            doc = docs.get(document_id)
            source = SourceRepository(session).get(doc.source_id) if doc else None
            if doc is None or doc.project_id != project_id or source is None or source.type != "upload":
                raise NotFoundError(f"document {document_id} not found")
            self.index.delete_documents(session, project_id, [doc.id])
            session.delete(doc)
