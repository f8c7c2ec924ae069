"""Coverage gaps and top questions per calendar period (Kapa's newer analytics), on the dashboard's clustering.

- Top questions: the conversations (threads) opened in a period, grouped by their first question.
- Coverage gaps: the uncertain answers given in a period, grouped by their question, each group with a finding
  and a suggestion for the docs (see suggestions.py).

Periods are listed when they are over, newest first, as Kapa does (the running one on request). Nothing is
stored: a period's groups are computed when asked for and kept in a small per-process cache keyed by the exact
rows they were computed from, so a cached answer can never outlive a change of its data, on any replica.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from docsage.analytics.clusters import group_by_meaning
from docsage.analytics.periods import (
    INTERVALS,
    Interval,
    Kind,
    Period,
    cluster_cursor,
    newest_first,
    period_cursor,
    read_cluster_cursor,
    read_period_cursor,
    start_of,
)
from docsage.analytics.service import as_utc
from docsage.analytics.suggestions import suggest
from docsage.db.conversations import QuestionAnswerRepository, ThreadRepository
from docsage.db.engine import Database
from docsage.db.models import QuestionAnswer, Thread
from docsage.embed.base import Vectors
from docsage.errors import InvalidInputError, NotFoundError
from docsage.retrieval.service import RetrievalService

MAX_PAGE_SIZE = 500
THREADS_PER_CLUSTER = 100  # as Kapa: the most recent ones; `thread_count` says how many there are
EXAMPLES_IN_SUMMARY = 3
CACHED_PERIODS = 64
_CLUSTER_NAMESPACE = uuid.UUID("0b9f7c2a-55e1-4d6b-8c3e-7a41f2d9e610")


@dataclass(frozen=True)
class PeriodView:
    period: Period
    total_conversations: int
    is_complete: bool


@dataclass(frozen=True)
class ThreadSummary:
    id: str
    created_at: datetime
    initial_question: str
    initial_answer: str
    question: str  # the question that put the thread in the cluster (its first one, for top questions)


@dataclass(frozen=True)
class ClusterView:
    id: str
    title: str
    summary: str
    suggestion: str | None
    thread_count: int
    num_unique_users: int
    threads: list[ThreadSummary]


@dataclass(frozen=True)
class _Item:
    """One clustered question, with the conversation it belongs to."""

    key: str  # what the cache fingerprint and the cluster ids are made of
    question: str
    asked_at: datetime
    uncertain: bool
    user: str | None
    thread: Thread
    first: QuestionAnswer


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class InsightsService:
    def __init__(self, database: Database, embed: Callable[[list[str]], Vectors], retrieval: RetrievalService) -> None:
        self.database = database
        self.embed = embed
        self.retrieval = retrieval
        self._groups: OrderedDict[str, list[list[int]]] = OrderedDict()
        self._lock = threading.Lock()

    # --- periods ------------------------------------------------------------------------------------------

    def _first_day(self, project_id: str) -> date | None:
        with self.database.session() as session:
            first = QuestionAnswerRepository(session).first_created_at(project_id)
        return as_utc(first).date() if first else None

    def periods(
        self,
        project_id: str,
        kind: Kind,
        interval: Interval,
        *,
        cursor: str | None,
        page_size: int,
        include_current: bool = False,
        now: datetime | None = None,
    ) -> tuple[list[PeriodView], str | None]:
        """Newest first, from the last one that is over (or the running one) back to the project's first."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInputError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        now = now or datetime.now(UTC)
        start = read_period_cursor(cursor, interval) if cursor else None
        first = self._first_day(project_id)
        running = start_of(now.date(), interval)
        last = now.date() if include_current else running - timedelta(days=1)
        if first is None or last < first:
            return [], None
        listed = newest_first(kind, project_id, interval, first, min(last, start) if start else last)
        page, more = listed[:page_size], listed[page_size:]
        if not page:
            return [], None
        counts = self._conversations(project_id, kind, interval, page[-1].starts_at, page[0].ends_before)
        views = [PeriodView(p, counts.get(p.start, 0), p.complete(now)) for p in page]
        return views, period_cursor(interval, more[0].start) if more else None

    def _conversations(
        self, project_id: str, kind: Kind, interval: Interval, start: datetime, end: datetime
    ) -> dict[date, int]:
        """Conversations per period start: threads opened (top questions), or threads with an uncertain answer."""
        with self.database.session() as session:
            if kind == "top-questions":
                opened = ThreadRepository(session).start_times(project_id, start, end)
                return dict(Counter(start_of(as_utc(when).date(), interval) for when in opened))
            rows = QuestionAnswerRepository(session).uncertain_threads(project_id, start, end)
        threads: dict[date, set[str]] = {}
        for when, thread_id in rows:
            threads.setdefault(start_of(as_utc(when).date(), interval), set()).add(thread_id)
        return {day: len(ids) for day, ids in threads.items()}

    def resolve(self, project_id: str, kind: Kind, period_id: str, now: datetime | None = None) -> Period:
        """The period of this project and analysis with this id (ids are derived, so they are recomputed)."""
        first = self._first_day(project_id)
        if first is not None:
            today = (now or datetime.now(UTC)).date()
            for interval in INTERVALS:
                for period in newest_first(kind, project_id, interval, first, today):
                    if period.id == period_id:
                        return period
        raise NotFoundError(f"period {period_id} not found")

    # --- clusters -----------------------------------------------------------------------------------------

    def period(
        self,
        project_id: str,
        kind: Kind,
        period_id: str,
        *,
        cursor: str | None,
        page_size: int,
        now: datetime | None = None,
    ) -> tuple[PeriodView, list[ClusterView], str | None]:
        """One period's clusters, the most asked first, with a suggestion for each coverage gap."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInputError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        now = now or datetime.now(UTC)
        period = self.resolve(project_id, kind, period_id, now)
        offset = read_cluster_cursor(cursor, period.id) if cursor else 0
        items = self._items(period)
        groups = self._cached_groups(period, items)
        conversations = len({item.thread.id for item in items})
        view = PeriodView(period, conversations, period.complete(now))
        page = groups[offset : offset + page_size]
        clusters = [self._cluster(period, [items[i] for i in members]) for members in page]
        more = offset + page_size < len(groups)
        return view, clusters, cluster_cursor(period.id, offset + page_size) if more else None

    def _items(self, period: Period) -> list[_Item]:
        with self.database.session() as session:
            threads_repo, qa_repo = ThreadRepository(session), QuestionAnswerRepository(session)
            if period.kind == "top-questions":
                threads = threads_repo.started_between(period.project_id, period.starts_at, period.ends_before)
                turns = qa_repo.for_threads([t.id for t in threads])
                return [
                    _Item(t.id, turns[t.id][0].question, t.created_at, turns[t.id][0].is_uncertain,
                          t.end_user_id, t, turns[t.id][0])
                    for t in threads if turns[t.id]
                ]  # fmt: skip
            qas = qa_repo.uncertain_between(period.project_id, period.starts_at, period.ends_before)
            ids = list(dict.fromkeys(qa.thread_id for qa in qas))
            turns = qa_repo.for_threads(ids)
            by_id = threads_repo.by_ids(ids)
        return [
            _Item(qa.id, qa.question, qa.created_at, True, qa.end_user_id, by_id[qa.thread_id], turns[qa.thread_id][0])
            for qa in qas
            if qa.thread_id in by_id
        ]

    def _cached_groups(self, period: Period, items: list[_Item]) -> list[list[int]]:
        """Indexes into `items` per group, the most conversations first; cached by the items' exact keys."""
        digest = hashlib.sha256("\n".join([period.id, *(i.key for i in items)]).encode()).hexdigest()
        with self._lock:
            if digest in self._groups:
                self._groups.move_to_end(digest)
                return self._groups[digest]
        groups = group_by_meaning(list(range(len(items))), lambda i: items[i].question, self.embed)
        # Ranked by conversations (a thread asking twice counts once), then by answers; ties keep their order.
        ranked = sorted((g.members for g in groups), key=lambda m: (-len({items[i].thread.id for i in m}), -len(m)))
        with self._lock:
            self._groups[digest] = ranked
            while len(self._groups) > CACHED_PERIODS:
                self._groups.popitem(last=False)
        return ranked

    def _cluster(self, period: Period, members: list[_Item]) -> ClusterView:
        title = members[0].question
        latest: dict[str, _Item] = {}
        for item in sorted(members, key=lambda i: i.asked_at, reverse=True):
            latest.setdefault(item.thread.id, item)
        threads = [
            ThreadSummary(
                id=item.thread.id,
                created_at=item.thread.created_at,
                initial_question=item.first.question,
                initial_answer=item.first.answer,
                question=item.question,
            )
            for item in sorted(latest.values(), key=lambda i: i.thread.created_at, reverse=True)
        ]
        users = len({item.user for item in members if item.user})
        by = f" by {_plural(users, 'user')}" if users else ""
        suggestion = None
        if period.kind == "coverage-gaps":
            asked = list(dict.fromkeys(item.question for item in members))
            examples = ", ".join(f"“{q}”" for q in asked[:EXAMPLES_IN_SUMMARY]) + (
                "…" if len(asked) > EXAMPLES_IN_SUMMARY else ""
            )
            summary = (
                f"{_plural(len(members), 'question')} the docs could not answer, in "
                f"{_plural(len(threads), 'conversation')}{by}: {examples}"
            )
            suggestion = suggest(self.retrieval, period.project_id, title)
        else:
            uncertain = sum(item.uncertain for item in members)
            outcome = (
                f"{uncertain} of the first answers said the docs may not cover it"
                if uncertain
                else "answered from the docs each time"
            )
            summary = f"Asked in {_plural(len(threads), 'conversation')}{by}; {outcome}."
        return ClusterView(
            id=str(uuid.uuid5(_CLUSTER_NAMESPACE, f"{period.id}|{members[0].key}")),
            title=title,
            summary=summary,
            suggestion=suggestion,
            thread_count=len(threads),
            num_unique_users=users,
            threads=threads[:THREADS_PER_CLUSTER],
        )
