"""Analytics and export: activity over time, threads, question-answers and end users of a project."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from docsage.chat.service import owns_session
from docsage.db.conversations import (
    EndUserRepository,
    FeedbackRepository,
    QuestionAnswerRepository,
    ThreadRepository,
    TicketOutcomeRepository,
    UsageRepository,
)
from docsage.db.engine import Database
from docsage.db.integrations import IntegrationRepository
from docsage.db.models import EndUser, Feedback, Integration, QuestionAnswer, Thread
from docsage.errors import InvalidInputError, NotFoundError

PERIODS = ("HOUR", "DAY", "WEEK", "MONTH", "YEAR")
MAX_PERIODS = 10_000


EARLIEST_YEAR, LATEST_YEAR = 1970, 9000  # dates outside cannot be questions, and near year 1 or 9999 the calendar
# arithmetic of the buckets (and of time zones) overflows


def in_range(value: date | datetime, name: str) -> None:
    """InvalidInputError unless the date lies between EARLIEST_YEAR and LATEST_YEAR."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise InvalidInputError(f"{name} must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def period_start(value: datetime, period: str) -> datetime:
    v = as_utc(value)
    if period == "HOUR":
        return v.replace(minute=0, second=0, microsecond=0)
    day = v.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "DAY":
        return day
    if period == "WEEK":  # ISO weeks start on Monday
        return day - timedelta(days=day.weekday())
    if period == "MONTH":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def next_period(value: datetime, period: str) -> datetime:
    if period == "HOUR":
        return value + timedelta(hours=1)
    if period == "DAY":
        return value + timedelta(days=1)
    if period == "WEEK":
        return value + timedelta(weeks=1)
    if period == "MONTH":
        return value.replace(year=value.year + value.month // 12, month=value.month % 12 + 1)
    return value.replace(year=value.year + 1)


@dataclass
class ThreadView:
    thread: Thread
    integration: Integration | None
    question_answers: list[tuple[QuestionAnswer, list[Feedback]]]


def encode_cursor(thread: Thread) -> str:
    raw = f"{as_utc(thread.created_at).isoformat()}|{thread.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, thread_id = raw.split("|", 1)
        when = datetime.fromisoformat(created)
        in_range(when, "cursor")
        return when, thread_id
    except (ValueError, UnicodeDecodeError, InvalidInputError) as exc:
        raise InvalidInputError("invalid cursor") from exc


class AnalyticsService:
    def __init__(self, database: Database) -> None:
        self.database = database

    def activity(
        self, project_id: str, start: datetime, end: datetime, period: str, integration_id: str | None
    ) -> dict[str, Any]:
        if period not in PERIODS:
            raise InvalidInputError(f"aggregation_period must be one of {', '.join(PERIODS)}")
        start, end = as_utc(start), as_utc(end)
        if end < start:
            raise InvalidInputError("end_date_time must not be before start_date_time")
        buckets: list[datetime] = []
        cursor = period_start(start, period)
        while cursor <= end:
            buckets.append(cursor)
            if len(buckets) > MAX_PERIODS:
                raise InvalidInputError(f"the range holds more than {MAX_PERIODS} periods of {period}")
            cursor = next_period(cursor, period)
        with self.database.session() as session:
            qas = QuestionAnswerRepository(session).in_range(project_id, start, end, integration_id)
            feedback = FeedbackRepository(session).for_question_answers([qa.id for qa in qas])
            integrations = {i.id: i for i in IntegrationRepository(session).list(project_id)}
            tickets = TicketOutcomeRepository(session).in_range(project_id, start, end, integration_id)
        series: dict[datetime, dict[str, Any]] = {
            b: {"period": b, "total_count": 0, "total_uncertain_count": 0, "by": {}} for b in buckets
        }
        upvotes = downvotes = uncertain_or_down = 0
        for qa in qas:
            point = series[period_start(qa.created_at, period)]
            point["total_count"] += 1
            point["total_uncertain_count"] += int(qa.is_uncertain)
            key = qa.integration_id or ""
            point["by"][key] = point["by"].get(key, 0) + 1
            reactions = [f.reaction for f in feedback.get(qa.id, [])]
            upvotes += reactions.count("upvote")
            downvotes += reactions.count("downvote")
            uncertain_or_down += int(qa.is_uncertain or "downvote" in reactions)

        def by_integration(counts: dict[str, int]) -> list[dict[str, Any]]:
            out = []
            for iid, n in counts.items():
                integration = integrations.get(iid)
                out.append({
                    "integration_type": integration.integration_type if integration else "UNKNOWN",
                    "count": n,
                    "description": integration.name if integration else "no integration",
                    "id": iid,
                })  # fmt: skip
            return out

        return {
            "time_series": [
                {k: v for k, v in p.items() if k != "by"} | {"count_by_integration": by_integration(p["by"])}
                for p in series.values()
            ],
            "aggregate_statistics": {
                "total_questions": len(qas),
                "total_upvotes": upvotes,
                "total_downvotes": downvotes,
                "total_questions_uncertain": sum(qa.is_uncertain for qa in qas),
                "total_questions_uncertain_or_downvoted": uncertain_or_down,
                "total_unique_users": len({qa.end_user_id for qa in qas if qa.end_user_id}),
                "total_support_tickets_deflected": sum(t.deflected for t in tickets),
                "total_support_tickets_not_deflected": sum(not t.deflected for t in tickets),
            },
        }

    def _view(self, session: Any, threads: list[Thread]) -> list[ThreadView]:
        qas = QuestionAnswerRepository(session).for_threads([t.id for t in threads])
        feedback = FeedbackRepository(session).for_question_answers([qa.id for lst in qas.values() for qa in lst])
        integrations = IntegrationRepository(session)
        return [
            ThreadView(
                t,
                integrations.get(t.integration_id) if t.integration_id else None,
                [(qa, feedback.get(qa.id, [])) for qa in qas[t.id]],
            )
            for t in threads
        ]

    def thread(self, project_id: str, thread_id: str) -> ThreadView:
        with self.database.session() as session:
            thread = ThreadRepository(session).get(thread_id)
            if thread is None or thread.project_id != project_id:
                raise NotFoundError(f"thread {thread_id} not found")
            return self._view(session, [thread])[0]

    def threads(self, project_id: str, cursor: str | None, page_size: int) -> tuple[list[ThreadView], str | None]:
        if not 1 <= page_size <= 500:
            raise InvalidInputError("page_size must be between 1 and 500")
        after = decode_cursor(cursor) if cursor else None
        with self.database.session() as session:
            rows = ThreadRepository(session).page_after(project_id, after, page_size + 1)
            views = self._view(session, rows[:page_size])
        return views, encode_cursor(rows[page_size - 1]) if len(rows) > page_size else None

    def question_answers(
        self, project_id: str, ordering: str, page: int, page_size: int
    ) -> tuple[int, list[tuple[QuestionAnswer, list[Feedback]]]]:
        with self.database.session() as session:
            total, rows = QuestionAnswerRepository(session).page(
                project_id, ordering, (page - 1) * page_size, page_size
            )
            feedback = FeedbackRepository(session).for_question_answers([qa.id for qa in rows])
        return total, [(qa, feedback.get(qa.id, [])) for qa in rows]

    def end_users(
        self, project_id: str, has_email: bool | None, search: str, ordering: str, page: int, page_size: int
    ) -> tuple[int, list[tuple[EndUser, int, str | None, str | None]]]:
        """(total, [(user, question count, latest thread id, that thread's first question)])."""
        with self.database.session() as session:
            total, rows = EndUserRepository(session).page(
                project_id,
                has_email=has_email,
                search=search,
                ordering=ordering,
                offset=(page - 1) * page_size,
                limit=page_size,
            )
            qa_repo = QuestionAnswerRepository(session)
            out = []
            for user, n, thread_id in rows:
                first = qa_repo.for_thread(thread_id)[:1] if thread_id else []
                out.append((user, n, thread_id, first[0].question if first else None))
        return total, out

    def usage(
        self, project_id: str, api_key_id: str | None, start: datetime | None, end: datetime | None
    ) -> list[tuple[str, int, int, int, float]]:
        with self.database.session() as session:
            return UsageRepository(session).by_model(project_id, api_key_id, start, end)

    def sessions(
        self,
        project_id: str,
        api_key_id: str | None,
        page: int,
        per_page: int,
        *,
        thread_id: str | None = None,
        session_token: str | None = None,
        require_token: bool = False,
    ) -> tuple[list[tuple[Thread, datetime, int, str]], bool]:
        """(the sessions of page `page`, whether another page follows); with thread_id only that session, and
        with require_token only if the caller holds its token (a public key's own session)."""
        with self.database.session() as session:
            rows = UsageRepository(session).sessions(
                project_id, api_key_id, (page - 1) * per_page, per_page + 1, thread_id=thread_id
            )
        if require_token:
            rows = [r for r in rows if owns_session(r[0], api_key_id, session_token)]
        return rows[:per_page], len(rows) > per_page

    def search_conversations(
        self, project_id: str, text: str, limit: int = 100
    ) -> list[tuple[QuestionAnswer, list[Feedback]]]:
        with self.database.session() as session:
            rows = QuestionAnswerRepository(session).search(project_id, text, limit)
            feedback = FeedbackRepository(session).for_question_answers([qa.id for qa in rows])
        return [(qa, feedback.get(qa.id, [])) for qa in rows]
