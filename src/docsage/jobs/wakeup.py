"""Idle job runners in every process woken when a job is queued anywhere (with Redis; they poll otherwise)."""

from __future__ import annotations

from docsage.jobs.service import JobService
from docsage.pubsub import RedisBus

JOBS_CHANNEL = "docsage:jobs"


def wake_across_processes(jobs: JobService, bus: RedisBus) -> None:
    """A queued job is announced; an announcement heard wakes this process's runners at once. The queue itself
    stays in the database: a lost announcement only means the next poll (JobRunner.poll_s) finds the job."""
    bus.subscribe(JOBS_CHANNEL, lambda _message: jobs.enqueued.set())
    jobs.announce = lambda: bus.publish(JOBS_CHANNEL)
