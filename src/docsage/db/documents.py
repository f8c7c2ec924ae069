"""Repository for documents."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from docsage.db.models import Document


class DocumentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, document: Document) -> Document:
        self.session.add(document)
        self.session.flush()
        return document

    def get(self, document_id: str) -> Document | None:
        return self.session.get(Document, document_id)

    def fingerprints(self, source_id: str) -> dict[str, tuple[str, str, str]]:
        """url → (document id, content hash, embedder) for every document of a source."""
        stmt = select(Document.url, Document.id, Document.content_hash, Document.embedder).where(
            Document.source_id == source_id
        )
        return {url: (doc_id, h, emb) for url, doc_id, h, emb in self.session.execute(stmt)}

    def by_urls(self, project_id: str, urls: list[str]) -> list[Document]:
        stmt = select(Document).where(Document.project_id == project_id, Document.url.in_(urls))
        return list(self.session.scalars(stmt))

    def list_for_source(self, source_id: str) -> list[Document]:
        stmt = select(Document).where(Document.source_id == source_id).order_by(Document.created_at)
        return list(self.session.scalars(stmt))

    def ids_for_source(self, source_id: str) -> list[str]:
        return list(self.session.scalars(select(Document.id).where(Document.source_id == source_id)))
