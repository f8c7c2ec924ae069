"""Runs jobs on threads of this process: `docsage serve` (embedded default) and `docsage worker` use it."""

from __future__ import annotations

import logging
import threading
import time

from docsage.db.models import Job
from docsage.jobs.service import FINISHED, JobService, ProgressListener, worker_name

log = logging.getLogger(__name__)


class JobRunner:
    """`concurrency` threads claim and run jobs; one more thread beats for the running ones and reaps jobs
    whose workers died. Stopping waits for the running jobs (a job cut short is retried by the next worker)."""

    def __init__(self, jobs: JobService, concurrency: int = 1, poll_s: float = 1.0) -> None:
        self.jobs = jobs
        self.concurrency = max(1, concurrency)
        self.poll_s = poll_s
        self.worker = worker_name()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._beating = False
        self._serving = False  # started (server, worker): also runs the periodic tasks; run_here alone does not
        self._last_run: dict[str, float] = {}

    def start(self) -> JobRunner:
        self.jobs.reap()  # runs left 'running' by a killed process read as interrupted from the start
        self._serving = True
        workers = [
            threading.Thread(target=self._work, name=f"job-runner-{i}", daemon=True) for i in range(self.concurrency)
        ]
        for thread in workers:
            thread.start()
        self._threads += workers
        self._ensure_beat()
        return self

    def _ensure_beat(self) -> None:
        with self._lock:
            if self._beating:
                return
            self._beating = True
        beat_s = max(0.2, min([self.jobs.stale_after.total_seconds() / 4, *(t.every_s for t in self.jobs.periodic)]))
        beat = threading.Thread(target=self._beat, args=(beat_s,), name="job-heartbeat", daemon=True)
        beat.start()
        self._threads.append(beat)

    def run_here(self, job_id: str, on_progress: ProgressListener | None = None, poll_s: float = 0.25) -> Job:
        """Run one job on the calling thread (the CLI's `ingest`); when another worker already runs it, or
        holds its lock, follow it until it ends. Returns the finished job."""
        while True:
            job = self.jobs.claim(self.worker, job_id)
            if job is not None:
                self._ensure_beat()
                finished = self._run(job, on_progress)
                if finished is not None and finished.status in FINISHED:
                    return finished
                continue  # requeued for another attempt
            self.jobs.reap()  # its worker may be dead (a killed `docsage ingest`): then it is ours to run
            job = self.jobs.get(job_id)
            if job.status in FINISHED:
                return job
            if on_progress is not None and job.progress:
                on_progress(dict(job.progress))
            time.sleep(poll_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self.jobs.enqueued.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def run_pending(self) -> int:
        """Run queued jobs on the calling thread until none is left (tests and one-shot workers)."""
        done = 0
        while (job := self.jobs.claim(self.worker)) is not None:
            self._run(job)
            done += 1
        return done

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.jobs.claim(self.worker)
            except Exception:
                log.exception("claiming a job failed; retrying")
                job = None
            if job is None:
                self.jobs.enqueued.wait(self.poll_s)
                self.jobs.enqueued.clear()
                continue
            self._run(job)

    def _run(self, job: Job, on_progress: ProgressListener | None = None) -> Job | None:
        with self._lock:
            self._running[job.id] = job
        try:
            return self.jobs.execute(job, self.worker, on_progress)
        except Exception:
            log.exception("job %s could not be recorded as finished", job.id)
            return None
        finally:
            with self._lock:
                self._running.pop(job.id, None)

    def _beat(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            with self._lock:
                running = list(self._running)
            try:
                if running:
                    self.jobs.heartbeat(self.worker, running)
                self.jobs.reap()
            except Exception:
                log.exception("job heartbeat failed; retrying")
            if self._serving:
                self._run_periodic()

    def _run_periodic(self) -> None:
        now = time.monotonic()
        for task in self.jobs.periodic:
            if now - self._last_run.get(task.name, float("-inf")) < task.every_s:
                continue
            self._last_run[task.name] = now
            try:
                task.run()
            except Exception:
                log.exception("periodic task %s failed; retrying on the next beat", task.name)
