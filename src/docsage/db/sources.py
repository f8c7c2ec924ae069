"""Repository for sources and their ingest runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
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

    def due_for_refresh(self, now: datetime, limit: int = 100) -> Sequence[Source]:
        """Sources on a refresh schedule whose next refresh is due, the longest overdue first."""
        stmt = (
            select(Source)
            .where(Source.next_refresh_at <= now, Source.refresh_interval_s.is_not(None))
            .order_by(Source.next_refresh_at)
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def claim_refresh(self, source_id: str, seen: datetime, next_at: datetime) -> bool:
        """Move a due source's next refresh from `seen` to `next_at` in one conditional UPDATE: of several
        schedulers that saw the same due time, exactly one gets True (the others' WHERE no longer matches)."""
        claimed = self.session.execute(
            update(Source)
            .where(Source.id == source_id, Source.next_refresh_at == seen)
            .values(next_refresh_at=next_at)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(claimed, "rowcount", 0) == 1)


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
