"""Background jobs: one seam for ingests and uploads, run in-process or by `docsage worker` processes."""

from docsage.jobs.runner import JobRunner
from docsage.jobs.service import JobContext, JobService

__all__ = ["JobContext", "JobRunner", "JobService"]
