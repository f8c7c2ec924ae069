"""With Redis, a job queued by one process wakes an idle runner of another at once instead of at its next poll.
Two job services with their own database connections and Redis buses stand for the two processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docsage.db.engine import Database
from docsage.jobs import JobContext, JobRunner, JobService
from docsage.jobs.wakeup import wake_across_processes
from docsage.pubsub import RedisBus

POLL_S = 30.0  # the runner's own poll: far longer than any wake-up may take


@pytest.fixture
def processes(tmp_path: Path, redis_url: str) -> Iterator[tuple[JobService, JobService]]:
    url = f"sqlite:///{tmp_path / 'docsage.db'}"
    made: list[tuple[Database, RedisBus]] = []

    def process() -> JobService:
        database, bus = Database(url), RedisBus(redis_url)
        made.append((database, bus))
        jobs = JobService(database)
        jobs.register("echo", lambda context: {"echo": context.payload})
        wake_across_processes(jobs, bus)
        return jobs

    try:
        yield process(), process()
    finally:
        for database, bus in made:
            bus.close()
            database.engine.dispose()


def test_a_job_queued_elsewhere_starts_within_a_second(processes: tuple[JobService, JobService]) -> None:
    producer, consumer = processes
    ran: list[float] = []

    def handler(context: JobContext) -> dict[str, Any]:
        ran.append(time.monotonic())
        return {"echo": context.payload}

    consumer.register("echo", handler)
    runner = JobRunner(consumer, poll_s=POLL_S).start()
    try:
        time.sleep(0.5)  # the runner has found the queue empty and waits
        for n in range(3):
            queued = time.monotonic()
            job = producer.enqueue("echo", payload={"n": n})
            done = producer.wait(job.id, timeout_s=5)
            assert done.status == "succeeded" and done.result == {"echo": {"n": n}}
            assert ran[-1] - queued < 1.0
    finally:
        runner.stop()
