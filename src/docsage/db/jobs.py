"""Repository for background jobs and the uploads they index: enqueue, claim, heartbeat, finish, reap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, defer

from docsage.db.models import IngestRun, Job, PendingUpload

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class QueueHealth:
    ready: int  # queued jobs that may start now
    oldest_ready_at: datetime | None
    running: int
    stale: int  # running jobs whose worker stopped reporting
    failed: int  # jobs that failed since the time asked
    workers: list[str]  # runners that reported on a job since the time asked (idle runners leave no trace)


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def health(
        self, now: datetime, stale_after: timedelta, workers_since: datetime, failed_since: datetime
    ) -> QueueHealth:
        """How the queue stands: what waits, what runs, what lost its worker, what failed, who has worked."""
        ready, oldest = self.session.execute(
            select(func.count(Job.id), func.min(Job.run_after)).where(Job.status == "queued", Job.run_after <= now)
        ).one()
        running = self.session.scalar(select(func.count(Job.id)).where(Job.status == "running")) or 0
        stale = self.session.scalar(
            select(func.count(Job.id)).where(
                Job.status == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < now - stale_after)
            )
        )
        failed = self.session.scalar(
            select(func.count(Job.id)).where(Job.status == "failed", Job.finished_at >= failed_since)
        )
        workers = self.session.scalars(
            select(Job.worker)
            .where(Job.heartbeat_at >= workers_since, Job.worker != "")
            .distinct()
            .order_by(Job.worker)
        )
        return QueueHealth(int(ready), oldest, int(running), int(stale or 0), int(failed or 0), list(workers))

    def add(self, job: Job) -> Job:
        self.session.add(job)
        self.session.flush()
        return job

    def get(self, job_id: str) -> Job | None:
        return self.session.get(Job, job_id)

    def recent(
        self,
        *,
        project_id: str | None = None,
        source_id: str | None = None,
        statuses: tuple[str, ...] = (),
        limit: int = 50,
    ) -> list[Job]:
        stmt = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if project_id is not None:
            stmt = stmt.where(Job.project_id == project_id)
        if source_id is not None:
            stmt = stmt.where(Job.source_id == source_id)
        if statuses:
            stmt = stmt.where(Job.status.in_(statuses))
        return list(self.session.scalars(stmt))

    def active_for_lock(self, lock_key: str, kind: str) -> Job | None:
        """A queued or running job of this kind on this lock (so a second click does not queue a duplicate)."""
        stmt = select(Job).where(Job.lock_key == lock_key, Job.kind == kind, Job.status.in_(ACTIVE))
        return self.session.scalars(stmt.order_by(Job.created_at)).first()

    def next_claimable(self, now: datetime, kinds: tuple[str, ...]) -> list[str]:
        """Ids of queued jobs that may start now, oldest first, skipping locks a running job holds."""
        held = select(Job.lock_key).where(Job.status == "running", Job.lock_key.is_not(None))
        stmt = (
            select(Job.id)
            .where(
                Job.status == "queued",
                Job.run_after <= now,
                Job.kind.in_(kinds),
                or_(Job.lock_key.is_(None), Job.lock_key.not_in(held)),
            )
            .order_by(Job.created_at)
            .limit(8)
        )
        return list(self.session.scalars(stmt))

    def claim(self, job_id: str, worker: str, now: datetime) -> bool:
        """Move one queued job to running for this worker in one UPDATE; False if another worker got it first.

        A second running job on the same lock violates the partial unique index: the caller's transaction
        fails with IntegrityError, which means "locked, try later".
        """
        claimed = self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(status="running", worker=worker, attempts=Job.attempts + 1, started_at=now, heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(claimed, "rowcount", 0) == 1)

    def heartbeat(self, job_ids: list[str], worker: str, now: datetime) -> None:
        if job_ids:
            self.session.execute(
                update(Job)
                .where(Job.id.in_(job_ids), Job.status == "running", Job.worker == worker)
                .values(heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )

    def set_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        self.session.execute(
            update(Job).where(Job.id == job_id).values(progress=progress).execution_options(synchronize_session=False)
        )

    def stale(self, now: datetime, stale_after: timedelta) -> list[Job]:
        """Running jobs whose worker stopped beating (killed, or its machine gone)."""
        stmt = select(Job).where(
            Job.status == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < now - stale_after)
        )
        return list(self.session.scalars(stmt))

    def interrupt_orphan_runs(self, now: datetime, stale_after: timedelta) -> int:
        """Mark ingest runs 'interrupted' whose job is no longer running with a live worker (or that have no job
        and no live job on their source): after a kill -9 they would otherwise read 'running' forever."""
        live = select(Job.id).where(Job.status == "running", Job.heartbeat_at >= now - stale_after)
        live_sources = select(Job.source_id).where(
            Job.status == "running", Job.heartbeat_at >= now - stale_after, Job.source_id.is_not(None)
        )
        orphan = and_(
            IngestRun.status == "running",
            or_(
                and_(IngestRun.job_id.is_not(None), IngestRun.job_id.not_in(live)),
                and_(IngestRun.job_id.is_(None), IngestRun.source_id.not_in(live_sources)),
            ),
        )
        result = self.session.execute(
            update(IngestRun)
            .where(orphan)
            .values(status="interrupted", finished_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class PendingUploadRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def put(self, upload: PendingUpload) -> PendingUpload:
        """Store an upload, replacing a pending one for the same document."""
        self.session.execute(delete(PendingUpload).where(PendingUpload.document_id == upload.document_id))
        self.session.add(upload)
        self.session.flush()
        return upload

    def get(self, document_id: str) -> PendingUpload | None:
        return self.session.get(PendingUpload, document_id)

    def by_filename(self, project_id: str, filename: str) -> PendingUpload | None:
        stmt = (
            select(PendingUpload)
            .options(defer(PendingUpload.data))
            .where(PendingUpload.project_id == project_id, PendingUpload.filename == filename)
        )
        return self.session.scalars(stmt).first()

    def status(self, project_id: str, document_id: str) -> tuple[PendingUpload, Job | None] | None:
        """One pending upload of a project (without its bytes) with its job."""
        stmt = (
            select(PendingUpload, Job)
            .options(defer(PendingUpload.data))
            .outerjoin(Job, Job.id == PendingUpload.job_id)
            .where(PendingUpload.project_id == project_id, PendingUpload.document_id == document_id)
        )
        row = self.session.execute(stmt).first()
        return (row[0], row[1]) if row else None

    def for_project(self, project_id: str) -> list[tuple[PendingUpload, Job | None]]:
        """Pending uploads of a project (without their bytes) with their jobs."""
        stmt = (
            select(PendingUpload, Job)
            .options(defer(PendingUpload.data))
            .outerjoin(Job, Job.id == PendingUpload.job_id)
            .where(PendingUpload.project_id == project_id)
            .order_by(PendingUpload.created_at)
        )
        return [(u, j) for u, j in self.session.execute(stmt)]

    def remove(self, document_id: str) -> None:
        self.session.execute(delete(PendingUpload).where(PendingUpload.document_id == document_id))
