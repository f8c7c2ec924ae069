"""The one seam for background work: enqueue a named job, let any worker claim it, follow its status.

Jobs live in the database (the one source of truth), so the embedded default needs nothing else: the server
runs them on a thread of its own, `docsage ingest` runs its own inline, and `docsage worker` processes
can share the load. A job whose worker dies (kill -9) stops beating and is claimed again; a job that raises a
DocsageError failed for a reason a user must fix and is not retried.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docsage.db.engine import Database
from docsage.db.jobs import ACTIVE, JobRepository
from docsage.db.models import Job, utcnow
from docsage.errors import DocsageError, NotFoundError

log = logging.getLogger(__name__)
FINISHED = ("succeeded", "failed", "cancelled")
PROGRESS_EVERY_S = 1.0  # progress is written at most this often: a row update per embedded batch is too many


ProgressListener = Callable[[dict[str, Any]], None]


@dataclass
class JobContext:
    """What a handler gets: its job's id and payload, and a way to report progress (stored at most once a
    second; a listener in the same process, such as the CLI's progress bars, hears every report)."""

    job_id: str
    payload: dict[str, Any]
    _store: ProgressListener
    _listener: ProgressListener | None = None
    _last: float = 0.0
    progress: dict[str, Any] = field(default_factory=dict)

    def report(self, **values: Any) -> None:
        self.progress.update(values)
        if self._listener is not None:
            self._listener(dict(self.progress))
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            self._store(dict(self.progress))


JobHandler = Callable[[JobContext], dict[str, Any]]


@dataclass
class PeriodicTask:
    """Work every long-running job runner does now and then (queueing the scheduled refreshes that are due)."""

    name: str
    every_s: float
    run: Callable[[], object]


class JobFailedError(DocsageError):
    """A job that failed for a reason a user must fix (not retried), with what it got done (its result)."""

    code = "job_failed"

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


def _process_space() -> str:
    """This host and PID namespace: where a process id means the same process (containers sharing a host name
    have namespaces of their own)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:[").removesuffix("]")
    except OSError:
        namespace = "?"
    return f"{socket.gethostname()}/{namespace}"


def worker_name() -> str:
    """space:pid:random — unique per runner, readable in job listings, and telling whether it still lives."""
    return f"{_process_space()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _dead(worker: str) -> bool:
    """Whether a worker in this process space has exited (a kill -9 leaves no other trace): its job need not
    wait for its heartbeat to go stale. Workers elsewhere are judged by their heartbeat alone."""
    parts = worker.rsplit(":", 2)
    if len(parts) != 3:
        return False
    space, pid, _ = parts
    if space != _process_space() or "?" in space or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobService:
    def __init__(self, database: Database, stale_after_s: float = 60.0) -> None:
        self.database = database
        self.stale_after = timedelta(seconds=stale_after_s)
        self.handlers: dict[str, JobHandler] = {}
        self.periodic: list[PeriodicTask] = []
        self.enqueued = threading.Event()  # wakes this process's runners at once (others poll)
        self.announce: Callable[[], object] | None = None  # wakes other processes' runners too (set with Redis)

    def register(self, kind: str, handler: JobHandler) -> None:
        self.handlers[kind] = handler

    def every(self, name: str, every_s: float, run: Callable[[], object]) -> None:
        """Have every started runner (`docsage serve`'s, each `docsage worker`) call `run` about every `every_s`
        seconds on its heartbeat thread; runners on several hosts all call it, so it must be safe to race."""
        self.periodic.append(PeriodicTask(name, every_s, run))

    # producing -------------------------------------------------------------------------------------------
    def enqueue(
        self,
        kind: str,
        *,
        project_id: str | None = None,
        source_id: str | None = None,
        lock_key: str | None = None,
        payload: dict[str, Any] | None = None,
        max_attempts: int = 3,
        reuse_active: bool = False,
        session: Session | None = None,
    ) -> Job:
        """Queue a job (in the caller's transaction when given one, so the job and what it works on are stored
        together); with reuse_active, a queued or running job of the same kind and lock is returned instead of
        a duplicate (a double click on "re-ingest" queues one run)."""
        if kind not in self.handlers:
            raise NotFoundError(f"no handler for job kind {kind!r}")
        if session is not None:  # the caller commits, then calls notify()
            return self._add(session, kind, project_id, source_id, lock_key, payload or {}, max_attempts, reuse_active)
        with self.database.session() as own:
            job = self._add(own, kind, project_id, source_id, lock_key, payload or {}, max_attempts, reuse_active)
        self.notify()
        return job

    def notify(self) -> None:
        """Wake this process's runners now; runners elsewhere hear it through `announce` when it is set (Redis),
        or find new jobs on their next poll."""
        self.enqueued.set()
        if self.announce is not None:
            self.announce()

    @staticmethod
    def _add(
        session: Session,
        kind: str,
        project_id: str | None,
        source_id: str | None,
        lock_key: str | None,
        payload: dict[str, Any],
        max_attempts: int,
        reuse_active: bool,
    ) -> Job:
        repo = JobRepository(session)
        if reuse_active and lock_key:
            existing = repo.active_for_lock(lock_key, kind)
            if existing is not None:
                return existing
        return repo.add(
            Job(
                kind=kind,
                project_id=project_id,
                source_id=source_id,
                lock_key=lock_key,
                payload=payload,
                max_attempts=max_attempts,
                status="queued",
                run_after=utcnow(),
            )
        )

    def get(self, job_id: str) -> Job:
        with self.database.session() as session:
            job = JobRepository(session).get(job_id)
            if job is None:
                raise NotFoundError(f"job {job_id} not found")
            return job

    def recent(
        self,
        *,
        project_id: str | None = None,
        source_id: str | None = None,
        statuses: tuple[str, ...] = (),
        limit: int = 50,
    ) -> list[Job]:
        with self.database.session() as session:
            return JobRepository(session).recent(
                project_id=project_id, source_id=source_id, statuses=statuses, limit=limit
            )

    def cancel(self, job_id: str) -> bool:
        """Cancel a job that has not started; False when it is already running or finished."""
        with self.database.session() as session:
            job = JobRepository(session).get(job_id)
            if job is None or job.status != "queued":
                return False
            job.status, job.finished_at = "cancelled", utcnow()
            return True

    def wait(self, job_id: str, timeout_s: float, poll_s: float = 0.05) -> Job:
        """The job once finished, or as it stands after timeout_s (blocking: call from a worker thread)."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.get(job_id)
            if job.status in FINISHED or time.monotonic() >= deadline:
                return job
            time.sleep(poll_s)

    # consuming -------------------------------------------------------------------------------------------
    def claim(self, worker: str, job_id: str | None = None) -> Job | None:
        """Claim the given job, or the oldest one that may start now; None when there is nothing to claim."""
        now = utcnow()
        with self.database.session() as session:
            candidates = [job_id] if job_id else JobRepository(session).next_claimable(now, tuple(self.handlers))
        for candidate in candidates:
            try:
                with self.database.session() as session:
                    repo = JobRepository(session)
                    if repo.claim(candidate, worker, now):
                        job = repo.get(candidate)
                        assert job is not None
                        session.refresh(job)
                        return job
            except IntegrityError:
                continue  # its lock is held by a running job: it waits in the queue
        return None

    def heartbeat(self, worker: str, job_ids: list[str]) -> None:
        with self.database.session() as session:
            JobRepository(session).heartbeat(job_ids, worker, utcnow())

    def execute(self, job: Job, worker: str, on_progress: ProgressListener | None = None) -> Job:
        """Run a claimed job's handler and record how it ended."""
        handler = self.handlers[job.kind]

        def store(progress: dict[str, Any]) -> None:
            with self.database.session() as session:
                JobRepository(session).set_progress(job.id, progress)

        context = JobContext(job.id, dict(job.payload), store, on_progress)
        try:
            result = handler(context)
        except DocsageError as exc:
            partial = exc.result if isinstance(exc, JobFailedError) else None
            return self._finish(job.id, worker, "failed", context.progress, result=partial, error=exc.message)
        except Exception as exc:
            log.exception("job %s (%s) raised", job.id, job.kind)
            return self._finish(
                job.id, worker, "failed", context.progress, error=f"{type(exc).__name__}: {exc}", retry=True
            )
        return self._finish(job.id, worker, "succeeded", context.progress, result=result)

    def _finish(
        self,
        job_id: str,
        worker: str,
        status: str,
        progress: dict[str, Any],
        *,
        result: dict[str, Any] | None = None,
        error: str = "",
        retry: bool = False,
    ) -> Job:
        with self.database.session() as session:
            job = JobRepository(session).get(job_id)
            if job is None:
                raise NotFoundError(f"job {job_id} not found")  # deleted with its project while it ran
            if job.status != "running" or job.worker != worker:
                return job  # reaped and re-claimed by another worker meanwhile: that run's outcome counts
            job.progress, job.result, job.error = progress, result or {}, error
            if retry and job.attempts < job.max_attempts:
                job.status, job.run_after = "queued", utcnow() + timedelta(seconds=5 * 2**job.attempts)
            else:
                job.status, job.finished_at = status, utcnow()
        if job.status == "queued":
            self.enqueued.set()
        return job

    def reap(self) -> list[Job]:
        """Requeue running jobs whose worker stopped beating, or whose worker process on this host is gone (or
        fail them after their last attempt), and mark ingest runs that no live job owns as interrupted. Every
        runner calls this now and then."""
        now = utcnow()
        with self.database.session() as session:
            repo = JobRepository(session)
            reaped = repo.stale(now, self.stale_after)
            reaped += [j for j in repo.recent(statuses=("running",), limit=1000) if j not in reaped and _dead(j.worker)]
            for job in reaped:
                log.warning("job %s (%s) lost its worker %s; %s", job.id, job.kind, job.worker,
                            "requeued" if job.attempts < job.max_attempts else "giving up")  # fmt: skip
                job.error = f"worker {job.worker} stopped during attempt {job.attempts}"
                if job.attempts < job.max_attempts:
                    job.status = "queued"
                else:
                    job.status, job.finished_at = "failed", now
            session.flush()
            repo.interrupt_orphan_runs(now, self.stale_after)
        if reaped:
            self.enqueued.set()
        return reaped

    def pending(self, project_id: str | None = None) -> int:
        with self.database.session() as session:
            return len(JobRepository(session).recent(project_id=project_id, statuses=ACTIVE, limit=10_000))
