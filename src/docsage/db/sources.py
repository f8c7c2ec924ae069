"""Repository for sources and their ingest runs."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docsage.db.models import Document, IngestRun, Source


class SourceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, source: Source) -> Source:
        self.session.add(source)
        self.session.flush()
        return source

    def get(self, source_id: str) -> Source | None:
        return self.session.get(Source, source_id)

    def list(self, project_id: str) -> list[Source]:
        stmt = select(Source).where(Source.project_id == project_id).order_by(Source.created_at)
        return list(self.session.scalars(stmt))

    def delete(self, source: Source) -> None:
        self.session.delete(source)

    def document_counts(self, project_id: str) -> dict[str, int]:
        stmt = (
            select(Document.source_id, func.count(Document.id))
            .where(Document.project_id == project_id)
            .group_by(Document.source_id)
        )
        return {source_id: int(n) for source_id, n in self.session.execute(stmt)}


class IngestRunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, run: IngestRun) -> IngestRun:
        self.session.add(run)
        self.session.flush()
        return run

    def get(self, run_id: str) -> IngestRun | None:
        return self.session.get(IngestRun, run_id)

    def latest(self, source_id: str) -> IngestRun | None:
        stmt = select(IngestRun).where(IngestRun.source_id == source_id).order_by(IngestRun.started_at.desc())
        return self.session.scalars(stmt).first()

    def running(self, source_id: str) -> list[IngestRun]:
        stmt = select(IngestRun).where(IngestRun.source_id == source_id, IngestRun.status == "running")
        return list(self.session.scalars(stmt))
