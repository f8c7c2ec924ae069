"""/query/v1 coverage gaps and top questions: completed periods of a project, and the clusters of one period.

The paths, parameters and fields are Kapa's (as its official and third-party clients call them): both analyses
list periods at `projects/{id}/<analysis>/periods/` (`interval`, `page_size` ≤ 500, `cursor` → `{periods,
next_cursor}`) and return one period's clusters at `<analysis>/periods/{period_id}/` (`{clusters, next_cursor}`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from docsage.analytics.insights import ClusterView, PeriodView
from docsage.analytics.periods import Interval, Kind
from docsage.api.deps import ServicesDep
from docsage.api.kapa.deps import PrincipalDep, own_project

router = APIRouter(prefix="/query/v1")

IntervalParam = Annotated[Interval, Query(description="Calendar weeks (from Monday), months or quarters, in UTC.")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]
PageSize = Annotated[int, Query(ge=1, le=500, description="Items per page (at most 500).")]
IncludeCurrent = Annotated[
    bool,
    Query(description="docsage extension: also list the period still running (first, with `is_complete: false`)."),
]


class PeriodOut(BaseModel):
    id: str = Field(description="Stable id of the period (a UUID).")
    interval: Interval
    start_date: date
    end_date: date = Field(description="The period's last day, inclusive.")
    total_conversations: int = Field(
        description="Top questions: conversations opened in the period. Coverage gaps: conversations with an "
        "uncertain answer in it."
    )
    is_complete: bool = Field(description="docsage extension: false only for the running period.")


class PeriodPage(BaseModel):
    periods: list[PeriodOut]
    next_cursor: str | None


class TopQuestionThread(BaseModel):
    id: str
    created_at: datetime
    initial_question: str
    initial_answer: str


class GapThread(BaseModel):
    id: str
    created_at: datetime
    initial_question: str
    question: str = Field(description="docsage extension: the uncertain question (a later turn of the thread, too).")


class TopQuestionCluster(BaseModel):
    id: str
    title: str = Field(description="The cluster's first question, which the others were compared with.")
    summary: str | None
    thread_count: int = Field(description="Conversations in the cluster (more than `threads` lists past 100).")
    num_unique_users: int
    threads: list[TopQuestionThread] = Field(description="The 100 most recent conversations, newest first.")


class CoverageGapCluster(BaseModel):
    id: str
    title: str
    summary: str | None = Field(description="The finding: how often, by whom, and examples of the questions.")
    suggestion: str | None = Field(description="What to change in the docs, from what retrieval finds today.")
    thread_count: int
    num_unique_users: int
    threads: list[GapThread]


class TopQuestionsPeriod(BaseModel):
    clusters: list[TopQuestionCluster]
    next_cursor: str | None
    period: PeriodOut = Field(description="docsage extension: the period these clusters belong to.")


class CoverageGapsPeriod(BaseModel):
    clusters: list[CoverageGapCluster]
    next_cursor: str | None
    period: PeriodOut = Field(description="docsage extension: the period these clusters belong to.")


def period_out(view: PeriodView) -> PeriodOut:
    p = view.period
    return PeriodOut(
        id=p.id,
        interval=p.interval,
        start_date=p.start,
        end_date=p.end,
        total_conversations=view.total_conversations,
        is_complete=view.is_complete,
    )


def _list_periods(
    kind: Kind,
    project_id: str,
    who: PrincipalDep,
    services: ServicesDep,
    interval: IntervalParam,
    cursor: Cursor,
    page_size: PageSize,
    include_current: IncludeCurrent,
) -> PeriodPage:
    own_project(project_id, who)
    views, next_cursor = services.insights.periods(
        project_id, kind, interval, cursor=cursor, page_size=page_size, include_current=include_current
    )
    return PeriodPage(periods=[period_out(v) for v in views], next_cursor=next_cursor)


@router.get(
    "/projects/{project_id}/coverage-gaps/periods/",
    response_model=PeriodPage,
    tags=["Analytics"],
    summary="List coverage gaps periods",
)
def coverage_gap_periods(
    project_id: str,
    who: PrincipalDep,
    services: ServicesDep,
    interval: IntervalParam = "weekly",
    cursor: Cursor = None,
    page_size: PageSize = 100,
    include_current: IncludeCurrent = False,
) -> PeriodPage:
    """Periods whose uncertain answers were grouped into coverage gaps, newest first; only periods that are
    over, from the one of the project's first question on (empty ones included)."""
    return _list_periods("coverage-gaps", project_id, who, services, interval, cursor, page_size, include_current)


@router.get(
    "/projects/{project_id}/top-questions/periods/",
    response_model=PeriodPage,
    tags=["Analytics"],
    summary="List top questions periods",
)
def top_question_periods(
    project_id: str,
    who: PrincipalDep,
    services: ServicesDep,
    interval: IntervalParam = "weekly",
    cursor: Cursor = None,
    page_size: PageSize = 100,
    include_current: IncludeCurrent = False,
) -> PeriodPage:
    """Periods whose conversations were grouped into top questions, newest first; only periods that are over,
    from the one of the project's first question on (empty ones included)."""
    return _list_periods("top-questions", project_id, who, services, interval, cursor, page_size, include_current)


@router.get(
    "/coverage-gaps/periods/{period_id}/",
    response_model=CoverageGapsPeriod,
    tags=["Analytics"],
    summary="Retrieve coverage gaps period",
)
def coverage_gaps(
    period_id: str, who: PrincipalDep, services: ServicesDep, cursor: Cursor = None, page_size: PageSize = 100
) -> CoverageGapsPeriod:
    """The period's uncertain answers grouped by meaning (the dashboard's grouping), the most conversations
    first; each cluster with a finding, a suggestion for the docs and its conversations."""
    view, clusters, next_cursor = services.insights.period(
        who.project_id, "coverage-gaps", period_id, cursor=cursor, page_size=page_size
    )
    return CoverageGapsPeriod(clusters=[_gap(c) for c in clusters], next_cursor=next_cursor, period=period_out(view))


@router.get(
    "/top-questions/periods/{period_id}/",
    response_model=TopQuestionsPeriod,
    tags=["Analytics"],
    summary="Retrieve top questions period",
)
def top_questions(
    period_id: str, who: PrincipalDep, services: ServicesDep, cursor: Cursor = None, page_size: PageSize = 100
) -> TopQuestionsPeriod:
    """The conversations opened in the period grouped by their first question, the most asked first."""
    view, clusters, next_cursor = services.insights.period(
        who.project_id, "top-questions", period_id, cursor=cursor, page_size=page_size
    )
    return TopQuestionsPeriod(clusters=[_top(c) for c in clusters], next_cursor=next_cursor, period=period_out(view))


def _top(c: ClusterView) -> TopQuestionCluster:
    return TopQuestionCluster(
        id=c.id,
        title=c.title,
        summary=c.summary,
        thread_count=c.thread_count,
        num_unique_users=c.num_unique_users,
        threads=[
            TopQuestionThread(
                id=t.id, created_at=t.created_at, initial_question=t.initial_question, initial_answer=t.initial_answer
            )
            for t in c.threads
        ],
    )


def _gap(c: ClusterView) -> CoverageGapCluster:
    return CoverageGapCluster(
        id=c.id,
        title=c.title,
        summary=c.summary,
        suggestion=c.suggestion,
        thread_count=c.thread_count,
        num_unique_users=c.num_unique_users,
        threads=[
            GapThread(id=t.id, created_at=t.created_at, initial_question=t.initial_question, question=t.question)
            for t in c.threads
        ],
    )
