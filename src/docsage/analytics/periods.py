"""Analysis periods of the coverage-gap and top-question APIs: calendar weeks (ISO, from Monday), months and
quarters in UTC, each with an id derived from what it is, so that nothing needs storing and every replica
names the same period the same way."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from docsage.errors import InvalidInputError

Interval = Literal["weekly", "monthly", "quarterly"]
Kind = Literal["coverage-gaps", "top-questions"]
INTERVALS: tuple[Interval, ...] = ("weekly", "monthly", "quarterly")
_NAMESPACE = uuid.UUID("6f0d3c1e-8a52-4b1f-9f57-2d1c0e6b7a90")  # fixed forever: ids are derived from it


def start_of(day: date, interval: Interval) -> date:
    """The first day of the period of `interval` that holds `day`."""
    if interval == "weekly":
        return day - timedelta(days=day.weekday())
    if interval == "monthly":
        return day.replace(day=1)
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def after(start: date, interval: Interval) -> date:
    """The first day of the period that follows the one starting on `start`."""
    if interval == "weekly":
        return start + timedelta(weeks=1)
    months = 1 if interval == "monthly" else 3
    month = start.month - 1 + months
    return start.replace(year=start.year + month // 12, month=month % 12 + 1, day=1)


def before(start: date, interval: Interval) -> date:
    """The first day of the period that precedes the one starting on `start`."""
    return start_of(start - timedelta(days=1), interval)


@dataclass(frozen=True)
class Period:
    """One calendar period of one project, as seen by one of the two analyses."""

    kind: Kind
    project_id: str
    interval: Interval
    start: date

    @property
    def id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.kind}|{self.project_id}|{self.interval}|{self.start.isoformat()}"))

    @property
    def end(self) -> date:
        """The last day, inclusive (as Kapa's `end_date`)."""
        return after(self.start, self.interval) - timedelta(days=1)

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def ends_before(self) -> datetime:
        """The first instant after the period (its data is `starts_at <= t < ends_before`)."""
        return datetime.combine(after(self.start, self.interval), time.min, tzinfo=UTC)

    def complete(self, now: datetime) -> bool:
        return self.ends_before <= now


def newest_first(kind: Kind, project_id: str, interval: Interval, first: date, last: date) -> list[Period]:
    """Every period from the one holding `last` back to the one holding `first`."""
    out: list[Period] = []
    start, floor = start_of(last, interval), start_of(first, interval)
    while start >= floor:
        out.append(Period(kind, project_id, interval, start))
        start = before(start, interval)
    return out


def _encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError("invalid cursor") from exc


def period_cursor(interval: Interval, start: date) -> str:
    """Where a listing of periods goes on: the start of the next (older) period to list."""
    return _encode(f"{interval}|{start.isoformat()}")


def read_period_cursor(cursor: str, interval: Interval) -> date:
    kind, _, value = _decode(cursor).partition("|")
    try:
        start = date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInputError("invalid cursor") from exc
    if kind != interval or start_of(start, interval) != start:
        raise InvalidInputError("invalid cursor (it belongs to a listing of another interval)")
    return start


def cluster_cursor(period_id: str, offset: int) -> str:
    return _encode(f"{period_id}|{offset}")


def read_cluster_cursor(cursor: str, period_id: str) -> int:
    owner, _, value = _decode(cursor).partition("|")
    if owner != period_id or not (value.isascii() and value.isdigit()):
        raise InvalidInputError("invalid cursor (it belongs to another period)")
    return int(value)
