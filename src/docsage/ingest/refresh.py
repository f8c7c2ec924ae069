"""Scheduled re-sync: refresh intervals per source, and the scheduler that queues the refreshes that are due."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from docsage.db.engine import Database
from docsage.db.models import Source, utcnow
from docsage.db.sources import SourceRepository
from docsage.errors import InvalidInputError
from docsage.ingest.service import enqueue_ingest
from docsage.jobs.service import JobService

log = logging.getLogger(__name__)

# Kapa re-crawls websites weekly by default; a folder, repository or spec changes when someone edits it, and
# re-reading it on a timer is the operator's choice.
WEEK_S = 7 * 24 * 3600
DEFAULT_REFRESH_S: dict[str, int | None] = {"web": WEEK_S}
UNITS = {"w": WEEK_S, "d": 24 * 3600, "h": 3600, "m": 60, "s": 1}
OFF = ("off", "none", "never", "0")
_PART = re.compile(r"(\d+)([wdhms])")
DUE_BATCH = 100  # sources claimed per tick; more wait for the next tick, longest overdue first


def parse_interval(text: str) -> int | None:
    """'30m', '1h', '7d', '2w', '1h30m' (or seconds: '90s') -> seconds; 'off' -> None (no scheduled refresh)."""
    value = text.strip().lower().replace(" ", "")
    if value in OFF:
        return None
    parts = _PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise InvalidInputError(f"refresh interval must look like 30m, 1h, 7d or off; got {text!r}")
    seconds = sum(int(n) * UNITS[u] for n, u in parts)
    if seconds < 1:
        raise InvalidInputError("a refresh interval must be at least 1 s (or off)")
    return seconds


def format_interval(seconds: int | None) -> str:
    """The inverse of parse_interval: 604800 -> '7d', 5400 -> '1h30m', None -> 'off'."""
    if not seconds:
        return "off"
    out, rest = [], seconds
    for unit, size in UNITS.items():
        if unit == "w":
            continue  # days read better than weeks ('14d', not '2w')
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)


def default_interval(source_type: str) -> int | None:
    return DEFAULT_REFRESH_S.get(source_type)


def first_refresh(interval_s: int | None, ingested_at: datetime | None, now: datetime) -> datetime | None:
    """When a source's next refresh falls once its interval is set: one interval after its last ingest (which
    may already be past: then at the next tick), or after now when it was never ingested."""
    if interval_s is None:
        return None
    return (ingested_at or now) + timedelta(seconds=interval_s)


def check_refreshable(source: Source, interval_s: int | None) -> None:
    if source.type == "upload" and interval_s is not None:
        raise InvalidInputError("an upload source has nothing to re-read; its refresh stays off")


class RefreshScheduler:
    """Queues an `ingest_source` job for every source whose next refresh is due.

    Every job runner (the server's, each `docsage worker`) ticks this; several of them, on several hosts, may
    see the same source due at once. Each moves the source's `next_refresh_at` forward with a conditional
    UPDATE (WHERE next_refresh_at = the value it saw) in the transaction that queues the job, so exactly one
    of them queues the refresh, and a runner killed in between leaves neither the move nor the job.
    """

    def __init__(self, database: Database, jobs: JobService) -> None:
        self.database = database
        self.jobs = jobs

    def tick(self) -> int:
        """Queue the refreshes that are due now; returns how many this runner queued."""
        now = utcnow()
        queued = sum(self.queue(source, now) for source in self.due(now))
        if queued:
            self.jobs.notify()
        return queued

    def due(self, now: datetime) -> list[Source]:
        with self.database.session() as session:
            return list(SourceRepository(session).due_for_refresh(now, DUE_BATCH))

    def queue(self, source: Source, now: datetime) -> bool:
        """Queue the refresh of a source seen due, unless another runner has queued it since (then False)."""
        seen, interval_s = source.next_refresh_at, source.refresh_interval_s
        if seen is None or interval_s is None:
            return False
        with self.database.session() as session:
            if not SourceRepository(session).claim_refresh(source.id, seen, now + timedelta(seconds=interval_s)):
                return False
            job = enqueue_ingest(self.jobs, source.project_id, source.id, session=session)
        log.info("scheduled refresh of source %s (%s): job %s", source.id, source.name, job.id)
        return True
