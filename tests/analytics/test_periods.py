"""Calendar periods of the coverage-gap and top-question APIs: boundaries, listing order, ids and cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from docsage.analytics.periods import (
    Interval,
    Period,
    after,
    before,
    cluster_cursor,
    newest_first,
    period_cursor,
    read_cluster_cursor,
    read_period_cursor,
    start_of,
)
from docsage.errors import InvalidInputError


@pytest.mark.parametrize(
    ("day", "interval", "start", "following"),
    [
        (date(2026, 12, 3), "weekly", date(2026, 11, 30), date(2026, 12, 7)),  # a Thursday: from Monday
        (date(2026, 11, 30), "weekly", date(2026, 11, 30), date(2026, 12, 7)),
        (date(2027, 1, 2), "weekly", date(2026, 12, 28), date(2027, 1, 4)),  # ISO week across the year
        (date(2026, 12, 31), "monthly", date(2026, 12, 1), date(2027, 1, 1)),
        (date(2024, 2, 29), "monthly", date(2024, 2, 1), date(2024, 3, 1)),
        (date(2026, 3, 31), "quarterly", date(2026, 1, 1), date(2026, 4, 1)),
        (date(2026, 11, 15), "quarterly", date(2026, 10, 1), date(2027, 1, 1)),
    ],
)
def test_start_and_next_period(day: date, interval: Interval, start: date, following: date) -> None:
    assert start_of(day, interval) == start
    assert after(start, interval) == following
    assert before(following, interval) == start


def test_a_period_ends_the_day_before_the_next_and_is_complete_once_over() -> None:
    q = Period("coverage-gaps", "p", "quarterly", date(2026, 10, 1))
    assert q.end == date(2026, 12, 31)
    assert q.starts_at == datetime(2026, 10, 1, tzinfo=UTC) and q.ends_before == datetime(2027, 1, 1, tzinfo=UTC)
    assert not q.complete(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert q.complete(datetime(2027, 1, 1, tzinfo=UTC))


def test_listing_runs_newest_first_down_to_the_first_day() -> None:
    listed = newest_first("top-questions", "p", "monthly", date(2026, 9, 20), date(2026, 12, 3))
    assert [p.start for p in listed] == [date(2026, 12, 1), date(2026, 11, 1), date(2026, 10, 1), date(2026, 9, 1)]
    assert newest_first("top-questions", "p", "weekly", date(2026, 12, 3), date(2026, 11, 1)) == []


def test_ids_are_uuids_that_name_exactly_one_period() -> None:
    week = Period("coverage-gaps", "p", "weekly", date(2026, 11, 30))
    assert uuid.UUID(week.id).version == 5
    assert week.id == Period("coverage-gaps", "p", "weekly", date(2026, 11, 30)).id
    others = [
        Period("top-questions", "p", "weekly", date(2026, 11, 30)),
        Period("coverage-gaps", "q", "weekly", date(2026, 11, 30)),
        Period("coverage-gaps", "p", "weekly", date(2026, 12, 7)),
        Period("coverage-gaps", "p", "monthly", date(2026, 12, 1)),
    ]
    assert week.id not in {o.id for o in others}


def test_cursors_round_trip_and_refuse_what_they_do_not_belong_to() -> None:
    assert read_period_cursor(period_cursor("weekly", date(2026, 11, 23)), "weekly") == date(2026, 11, 23)
    assert read_cluster_cursor(cluster_cursor("period-a", 200), "period-a") == 200
    for cursor, reader in (
        (period_cursor("weekly", date(2026, 11, 23)), lambda c: read_period_cursor(c, "monthly")),
        (period_cursor("weekly", date(2026, 11, 24)), lambda c: read_period_cursor(c, "weekly")),  # not a Monday
        (cluster_cursor("period-a", 5), lambda c: read_cluster_cursor(c, "period-b")),
        ("cGVyaW9kLWF8wrI", lambda c: read_cluster_cursor(c, "period-a")),  # "period-a|²"
        ("%%%", lambda c: read_period_cursor(c, "weekly")),
        ("\ud800", lambda c: read_period_cursor(c, "weekly")),
    ):
        with pytest.raises(InvalidInputError):
            reader(cursor)
