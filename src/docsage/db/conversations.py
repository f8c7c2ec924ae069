"""Repositories for end users, threads, question-answers, feedback and ticket outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from docsage.db.models import EndUser, Feedback, QuestionAnswer, Thread, TicketOutcome


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere (% and _ in user input are not wildcards)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class EndUserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, end_user_id: str) -> EndUser | None:
        return self.session.get(EndUser, end_user_id)

    def find(self, project_id: str, **identifiers: str) -> EndUser | None:
        """The end user matching any given identifier (email, unique_client_id, fingerprint_id, …)."""
        clauses = [getattr(EndUser, k) == v for k, v in identifiers.items() if v]
        if not clauses:
            return None
        stmt = (
            select(EndUser).where(EndUser.project_id == project_id, or_(*clauses)).order_by(EndUser.first_activity_at)
        )
        return self.session.scalars(stmt).first()

    def add(self, user: EndUser) -> EndUser:
        self.session.add(user)
        self.session.flush()
        return user

    def page(
        self, project_id: str, *, has_email: bool | None, search: str, ordering: str, offset: int, limit: int
    ) -> tuple[int, list[tuple[EndUser, int, str | None]]]:
        """(total, [(user, question count, latest thread id)]) for one page."""
        qa_count = (
            select(func.count(QuestionAnswer.id)).where(QuestionAnswer.end_user_id == EndUser.id).scalar_subquery()
        )
        latest_thread = (
            select(Thread.id)
            .where(Thread.end_user_id == EndUser.id)
            .order_by(Thread.created_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        stmt = select(EndUser, qa_count, latest_thread).where(EndUser.project_id == project_id)
        if has_email is True:
            stmt = stmt.where(EndUser.email.is_not(None), EndUser.email != "")
        elif has_email is False:
            stmt = stmt.where(or_(EndUser.email.is_(None), EndUser.email == ""))
        if search:
            like = contains_pattern(search)
            stmt = stmt.where(
                or_(
                    EndUser.email.ilike(like, escape="\\"),
                    EndUser.id.ilike(like, escape="\\"),
                    EndUser.unique_client_id.ilike(like, escape="\\"),
                )
            )
        total = int(self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        descending = ordering.startswith("-")
        column = {
            "email": EndUser.email,
            "first_activity_at": EndUser.first_activity_at,
            "latest_activity_at": EndUser.latest_activity_at,
            "question_answer_count": qa_count,
        }.get(ordering.lstrip("-"), EndUser.latest_activity_at)
        stmt = stmt.order_by(column.desc() if descending else column.asc(), EndUser.id).offset(offset).limit(limit)
        return total, [(u, int(n or 0), t) for u, n, t in self.session.execute(stmt)]


class ThreadRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, thread_id: str) -> Thread | None:
        return self.session.get(Thread, thread_id)

    def add(self, thread: Thread) -> Thread:
        self.session.add(thread)
        self.session.flush()
        return thread

    def delete(self, thread: Thread) -> None:
        self.session.delete(thread)

    def page_after(self, project_id: str, cursor: tuple[datetime, str] | None, limit: int) -> list[Thread]:
        """Threads newest first, strictly after the (created_at, id) cursor."""
        stmt = select(Thread).where(Thread.project_id == project_id)
        if cursor is not None:
            created, tid = cursor
            stmt = stmt.where(or_(Thread.created_at < created, (Thread.created_at == created) & (Thread.id < tid)))
        stmt = stmt.order_by(Thread.created_at.desc(), Thread.id.desc()).limit(limit)
        return list(self.session.scalars(stmt))

    def by_ids(self, thread_ids: list[str]) -> dict[str, Thread]:
        if not thread_ids:
            return {}
        return {t.id: t for t in self.session.scalars(select(Thread).where(Thread.id.in_(thread_ids)))}

    def _answered_between(self, project_id: str, start: datetime, end: datetime) -> Select[Any]:
        answered = select(QuestionAnswer.thread_id).where(QuestionAnswer.project_id == project_id)
        return select(Thread).where(
            Thread.project_id == project_id,
            Thread.created_at >= start,
            Thread.created_at < end,
            Thread.id.in_(answered),
        )

    def started_between(self, project_id: str, start: datetime, end: datetime) -> list[Thread]:
        """Threads opened in [start, end) that hold at least one question-answer, oldest first."""
        stmt = self._answered_between(project_id, start, end).order_by(Thread.created_at, Thread.id)
        return list(self.session.scalars(stmt))

    def start_times(self, project_id: str, start: datetime, end: datetime) -> list[datetime]:
        """When each thread of `started_between` was opened (no rows loaded)."""
        stmt = self._answered_between(project_id, start, end).with_only_columns(Thread.created_at)
        return list(self.session.scalars(stmt))


class QuestionAnswerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, qa_id: str) -> QuestionAnswer | None:
        return self.session.get(QuestionAnswer, qa_id)

    def add(self, qa: QuestionAnswer) -> QuestionAnswer:
        self.session.add(qa)
        self.session.flush()
        return qa

    def for_thread(self, thread_id: str) -> list[QuestionAnswer]:
        stmt = select(QuestionAnswer).where(QuestionAnswer.thread_id == thread_id).order_by(QuestionAnswer.created_at)
        return list(self.session.scalars(stmt))

    def for_threads(self, thread_ids: list[str]) -> dict[str, list[QuestionAnswer]]:
        out: dict[str, list[QuestionAnswer]] = {t: [] for t in thread_ids}
        if thread_ids:
            stmt = (
                select(QuestionAnswer)
                .where(QuestionAnswer.thread_id.in_(thread_ids))
                .order_by(QuestionAnswer.created_at)
            )
            for qa in self.session.scalars(stmt):
                out[qa.thread_id].append(qa)
        return out

    def search(self, project_id: str, text: str, limit: int) -> list[QuestionAnswer]:
        """Newest first; with text, only question-answers whose question or answer contains it."""
        stmt = select(QuestionAnswer).where(QuestionAnswer.project_id == project_id)
        if text:
            like = contains_pattern(text)
            stmt = stmt.where(
                or_(QuestionAnswer.question.ilike(like, escape="\\"), QuestionAnswer.answer.ilike(like, escape="\\"))
            )
        return list(self.session.scalars(stmt.order_by(QuestionAnswer.created_at.desc()).limit(limit)))

    def page(self, project_id: str, ordering: str, offset: int, limit: int) -> tuple[int, list[QuestionAnswer]]:
        base = select(QuestionAnswer).where(QuestionAnswer.project_id == project_id)
        total = int(self.session.scalar(select(func.count()).select_from(base.subquery())) or 0)
        column = QuestionAnswer.created_at
        order = column.asc() if ordering == "created_at" else column.desc()
        return total, list(self.session.scalars(base.order_by(order, QuestionAnswer.id).offset(offset).limit(limit)))

    def first_created_at(self, project_id: str) -> datetime | None:
        """When the project's first question was asked."""
        return self.session.scalar(
            select(func.min(QuestionAnswer.created_at)).where(QuestionAnswer.project_id == project_id)
        )

    def _uncertain_between(self, project_id: str, start: datetime, end: datetime) -> Select[Any]:
        return select(QuestionAnswer).where(
            QuestionAnswer.project_id == project_id,
            QuestionAnswer.is_uncertain.is_(True),
            QuestionAnswer.created_at >= start,
            QuestionAnswer.created_at < end,
        )

    def uncertain_between(self, project_id: str, start: datetime, end: datetime) -> list[QuestionAnswer]:
        """Uncertain answers given in [start, end), oldest first."""
        stmt = self._uncertain_between(project_id, start, end).order_by(QuestionAnswer.created_at, QuestionAnswer.id)
        return list(self.session.scalars(stmt))

    def uncertain_threads(self, project_id: str, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
        """(when, thread id) of each uncertain answer given in [start, end) (no rows loaded)."""
        stmt = self._uncertain_between(project_id, start, end).with_only_columns(
            QuestionAnswer.created_at, QuestionAnswer.thread_id
        )
        return [(when, thread_id) for when, thread_id in self.session.execute(stmt)]

    def in_range(
        self, project_id: str, start: datetime, end: datetime, integration_id: str | None
    ) -> list[QuestionAnswer]:
        stmt = select(QuestionAnswer).where(
            QuestionAnswer.project_id == project_id,
            QuestionAnswer.created_at >= start,
            QuestionAnswer.created_at <= end,
        )
        if integration_id:
            stmt = stmt.where(QuestionAnswer.integration_id == integration_id)
        return list(self.session.scalars(stmt))


class FeedbackRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, qa_id: str, user_identifier: str) -> Feedback | None:
        stmt = select(Feedback).where(Feedback.question_answer_id == qa_id, Feedback.user_identifier == user_identifier)
        return self.session.scalars(stmt).first()

    def add(self, feedback: Feedback) -> Feedback:
        self.session.add(feedback)
        self.session.flush()
        return feedback

    def for_question_answers(self, qa_ids: list[str]) -> dict[str, list[Feedback]]:
        out: dict[str, list[Feedback]] = {q: [] for q in qa_ids}
        if qa_ids:
            stmt = select(Feedback).where(Feedback.question_answer_id.in_(qa_ids)).order_by(Feedback.created_at)
            for fb in self.session.scalars(stmt):
                out[fb.question_answer_id].append(fb)
        return out


class TicketOutcomeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def for_question_answer(self, qa_id: str) -> TicketOutcome | None:
        return self.session.scalars(select(TicketOutcome).where(TicketOutcome.question_answer_id == qa_id)).first()

    def add(self, outcome: TicketOutcome) -> TicketOutcome:
        self.session.add(outcome)
        self.session.flush()
        return outcome

    def in_range(
        self, project_id: str, start: datetime, end: datetime, integration_id: str | None
    ) -> list[TicketOutcome]:
        stmt = select(TicketOutcome).where(
            TicketOutcome.project_id == project_id,
            TicketOutcome.created_at >= start,
            TicketOutcome.created_at <= end,
        )
        if integration_id:
            stmt = stmt.where(TicketOutcome.integration_id == integration_id)
        return list(self.session.scalars(stmt))


class UsageRepository:
    """Aggregates over question-answers for the chatbot API's usage and sessions endpoints."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_model(
        self, project_id: str, api_key_id: str | None, start: datetime | None, end: datetime | None
    ) -> list[tuple[str, int, int, int, float]]:
        """(model, requests, input tokens, output tokens, cost) per model."""
        stmt = select(
            QuestionAnswer.model,
            func.count(QuestionAnswer.id),
            func.coalesce(func.sum(QuestionAnswer.prompt_tokens), 0),
            func.coalesce(func.sum(QuestionAnswer.completion_tokens), 0),
            func.coalesce(func.sum(QuestionAnswer.cost), 0.0),
        ).where(QuestionAnswer.project_id == project_id)
        if api_key_id:
            stmt = stmt.where(QuestionAnswer.api_key_id == api_key_id)
        if start:
            stmt = stmt.where(QuestionAnswer.created_at >= start)
        if end:
            stmt = stmt.where(QuestionAnswer.created_at < end)
        stmt = stmt.group_by(QuestionAnswer.model).order_by(QuestionAnswer.model)
        return [(m or "", int(n), int(i), int(o), float(c)) for m, n, i, o, c in self.session.execute(stmt)]

    def sessions(
        self, project_id: str, api_key_id: str | None, offset: int, limit: int, thread_id: str | None = None
    ) -> list[tuple[Thread, datetime, int, str]]:
        """(thread, last activity, total tokens, last answer) newest first; threads without answers are skipped."""
        last_at = func.max(QuestionAnswer.created_at)
        tokens = func.sum(QuestionAnswer.prompt_tokens + QuestionAnswer.completion_tokens)
        stmt = (
            select(Thread, last_at, tokens)
            .join(QuestionAnswer, QuestionAnswer.thread_id == Thread.id)
            .where(Thread.project_id == project_id)
            .group_by(Thread.id)
            .order_by(last_at.desc(), Thread.id)
            .offset(offset)
            .limit(limit)
        )
        if api_key_id:
            stmt = stmt.where(Thread.api_key_id == api_key_id)
        if thread_id:
            stmt = stmt.where(Thread.id == thread_id)
        rows = list(self.session.execute(stmt))
        out = []
        for thread, last, total in rows:
            latest = self.session.scalars(
                select(QuestionAnswer.answer)
                .where(QuestionAnswer.thread_id == thread.id)
                .order_by(QuestionAnswer.created_at.desc())
                .limit(1)
            ).first()
            out.append((thread, last, int(total or 0), latest or ""))
        return out
