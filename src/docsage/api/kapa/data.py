"""/query/v1 project, source, integration, conversation, end-user and activity endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Query, Request

from docsage.analytics.service import ThreadView, in_range
from docsage.api.deps import ServicesDep
from docsage.api.kapa.deps import PrincipalDep, own_project
from docsage.api.kapa.schemas import (
    ActivityOut,
    EndUserOut,
    EndUserPage,
    FeedbackItem,
    IntegrationOut,
    IntegrationType,
    ProjectOut,
    QuestionAnswerOut,
    QuestionAnswerPage,
    SourceOut,
    SourcePage,
    ThreadOut,
    ThreadPage,
)
from docsage.db.models import Feedback, Integration, QuestionAnswer, Source

router = APIRouter(prefix="/query/v1")
Page = Annotated[int, Query(ge=1, le=1_000_000_000, description="A page number within the paginated result set.")]
PageSize = Annotated[int, Query(ge=1, le=500, description="Number of results to return per page.")]


ORDERING_HELP = "Field to order by, `-` first for descending: {}. Other fields are ignored (default order)."
END_USER_ORDERINGS = ("latest_activity_at", "first_activity_at", "email", "question_answer_count")


def _page_url(request: Request, page: int, last: int) -> str | None:
    if page < 1 or page > last:
        return None
    return str(request.url.include_query_params(page=page))


def _links(request: Request, page: int, page_size: int, total: int) -> dict[str, str | None]:
    """`next` and `previous` page URLs of a page-numbered listing."""
    last = max(1, -(-total // page_size))
    return {"next": _page_url(request, page + 1, last), "previous": _page_url(request, page - 1, last)}


def integration_out(i: Integration) -> IntegrationOut:
    return IntegrationOut(
        id=i.id,
        project=i.project_id,
        name=i.name,
        description=i.description,
        integration_type=i.integration_type,
        is_setup_complete=i.is_setup_complete,
        is_enabled=i.is_enabled,
        updated_at=i.updated_at,
        created_at=i.created_at,
    )


def qa_out(qa: QuestionAnswer, feedback: list[Feedback], with_sources: bool = False) -> QuestionAnswerOut:
    items = [
        FeedbackItem(
            reaction=f.reaction,
            comment=(f.comment or {}).get("issue"),
            incorrect=bool((f.comment or {}).get("incorrect")),
            irrelevant=bool((f.comment or {}).get("irrelevant")),
            unaddressed=bool((f.comment or {}).get("unaddressed")),
            created_at=f.created_at,
        )
        for f in feedback
    ]
    sources: Any = None
    if with_sources:
        sources = ", ".join(s.get("source_url", "") for s in qa.relevant_sources)
    return QuestionAnswerOut(
        id=qa.id,
        thread_id=qa.thread_id,
        question=qa.question,
        answer=qa.answer,
        is_uncertain=qa.is_uncertain,
        is_redacted=qa.is_redacted,
        end_user_id=qa.end_user_id,
        created_at=qa.created_at,
        feedback=items,
        relevant_sources=sources,
    )


def source_description(source: Source) -> str:
    """What API clients see of a source's location: its URL without the parts credentials are pasted into
    (userinfo, query, fragment), or, for a folder, a spec file or an upload, the source's name: never a path on
    the server."""
    try:
        parts = urlsplit(source.location)
        port = parts.port
    except ValueError:
        return source.name
    host = parts.hostname
    if parts.scheme not in ("http", "https", "git", "ssh") or not host:
        return source.name
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def thread_out(view: ThreadView) -> ThreadOut:
    return ThreadOut(
        id=view.thread.id,
        integration=integration_out(view.integration) if view.integration else None,
        question_answers=[qa_out(qa, fb, with_sources=True) for qa, fb in view.question_answers],
        created_at=view.thread.created_at,
    )


@router.get("/projects/{project_id}/", response_model=ProjectOut, tags=["Projects"], summary="Retrieve a project")
def get_project(project_id: str, who: PrincipalDep, services: ServicesDep) -> ProjectOut:
    own_project(project_id, who)
    project = services.projects.get_project(project_id)
    return ProjectOut(id=project.id, team=project.team_id, project_name=project.name)


@router.get("/projects/{project_id}/sources/", response_model=SourcePage, tags=["Sources"], summary="List all sources")
def list_sources(
    project_id: str,
    request: Request,
    who: PrincipalDep,
    services: ServicesDep,
    page: Page = 1,
    page_size: PageSize = 100,
) -> SourcePage:
    """Sources with their latest ingest run's status, error and timestamps."""
    own_project(project_id, who)
    sources = services.projects.list_sources(project_id)
    status = services.projects.source_status(project_id)
    start = (page - 1) * page_size
    results = []
    for s in sources[start : start + page_size]:
        st = status.get(s.id, {})
        results.append(
            SourceOut(
                project=s.project_id,
                id=s.id,
                name=s.name,
                title_prefix="",
                description=source_description(s),
                type=s.type,
                contains_internal_data=s.contains_internal_data,
                ready_for_review=False,
                ingest_without_review=True,
                ingested_at=s.ingested_at,
                created_at=s.created_at,
                updated_at=s.updated_at,
                has_periodic_task="false",
                next_run_at=None,
                last_task_name="ingest" if st.get("last_status") != "never" else None,
                last_task_status=st.get("last_status") if st.get("last_status") != "never" else None,
                last_task_error=st.get("last_error") or None,
                periodic_task=None,
                can_be_deleted="true",
                can_be_refreshed="true" if s.type != "upload" else "false",
                can_be_duplicated="false",
                deployed_markdown_items=int(st.get("documents", 0)),
                markdown_pii_config={"entities": []},
            )
        )
    return SourcePage(
        count=len(sources),
        **_links(request, page, page_size, len(sources)),
        results=results,
    )


@router.get(
    "/projects/{project_id}/integrations/",
    response_model=list[IntegrationOut],
    tags=["Integrations"],
    summary="List all integrations",
)
def list_integrations(
    project_id: str,
    who: PrincipalDep,
    services: ServicesDep,
    integration_type: Annotated[
        list[IntegrationType] | None, Query(description="Filter by integration type(s).")
    ] = None,
) -> list[IntegrationOut]:
    own_project(project_id, who)
    return [integration_out(i) for i in services.projects.list_integrations(project_id, list(integration_type or []))]


@router.get("/projects/{project_id}/activity/", response_model=ActivityOut, tags=["Analytics"], summary="Activity")
def activity(
    project_id: str,
    who: PrincipalDep,
    services: ServicesDep,
    aggregation_period: Annotated[Literal["HOUR", "DAY", "WEEK", "MONTH", "YEAR"], Query()],
    start_date_time: Annotated[
        datetime | None, Query(description="ISO 8601, e.g. 2020-01-01T00:00:00Z (default: 30 days before the end).")
    ] = None,
    end_date_time: Annotated[datetime | None, Query(description="ISO 8601 (default: now).")] = None,
    integration_filter: Annotated[str | None, Query(description="Only this integration id.")] = None,
) -> Any:
    """Questions, uncertain answers, votes, unique users and support-ticket deflection, over time and in total."""
    own_project(project_id, who)
    for value, name in ((start_date_time, "start_date_time"), (end_date_time, "end_date_time")):
        if value is not None:
            in_range(value, name)
    end = end_date_time or datetime.now(UTC)
    start = start_date_time or end - timedelta(days=30)
    return services.analytics.activity(project_id, start, end, aggregation_period, integration_filter)


@router.get("/projects/{project_id}/threads/", response_model=ThreadPage, tags=["Threads"], summary="List threads")
def list_threads(
    project_id: str,
    who: PrincipalDep,
    services: ServicesDep,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ThreadPage:
    """Threads newest first with their question-answers; follow `next_cursor` until it is null."""
    own_project(project_id, who)
    views, next_cursor = services.analytics.threads(project_id, cursor, page_size)
    return ThreadPage(results=[thread_out(v) for v in views], next_cursor=next_cursor)


@router.get("/threads/{thread_id}/", response_model=ThreadOut, tags=["Threads"], summary="Retrieve a thread")
def get_thread(thread_id: str, who: PrincipalDep, services: ServicesDep) -> ThreadOut:
    return thread_out(services.analytics.thread(who.project_id, thread_id))


@router.get(
    "/projects/{project_id}/question-answers/",
    response_model=QuestionAnswerPage,
    tags=["Question answers"],
    summary="List Question Answers",
)
def list_question_answers(
    project_id: str,
    request: Request,
    who: PrincipalDep,
    services: ServicesDep,
    ordering: Annotated[str, Query(description=ORDERING_HELP.format("created_at"))] = "-created_at",
    page: Page = 1,
    page_size: PageSize = 100,
) -> QuestionAnswerPage:
    own_project(project_id, who)
    if ordering not in ("created_at", "-created_at"):
        ordering = "-created_at"
    total, rows = services.analytics.question_answers(project_id, ordering, page, page_size)
    return QuestionAnswerPage(
        count=total,
        **_links(request, page, page_size, total),
        results=[qa_out(qa, fb) for qa, fb in rows],
    )


def _end_users(
    project_id: str,
    request: Request,
    who: PrincipalDep,
    services: ServicesDep,
    has_email: Annotated[bool | None, Query(description="Only users with (true) or without (false) an email.")] = None,
    search: Annotated[str, Query(description="Filter by email, id or unique client id.")] = "",
    ordering: Annotated[
        str,
        Query(description=ORDERING_HELP.format("latest_activity_at, first_activity_at, email, question_answer_count")),
    ] = "-latest_activity_at",
    page: Page = 1,
    page_size: PageSize = 100,
) -> EndUserPage:
    own_project(project_id, who)
    if ordering.lstrip("-") not in END_USER_ORDERINGS:
        ordering = "-latest_activity_at"
    total, rows = services.analytics.end_users(project_id, has_email, search, ordering, page, page_size)
    return EndUserPage(
        count=total,
        **_links(request, page, page_size, total),
        results=[
            EndUserOut(
                id=u.id,
                display_id=u.email or u.unique_client_id or u.id[:8],
                email=u.email,
                unique_client_id=u.unique_client_id,
                question_answer_count=n,
                latest_thread_id=thread_id,
                latest_thread_first_question=first_question,
                latest_activity_at=u.latest_activity_at,
                first_activity_at=u.first_activity_at,
                company_name=u.company_name,
            )
            for u, n, thread_id, first_question in rows
        ],
    )


router.add_api_route(
    "/projects/{project_id}/end_users/", _end_users, methods=["GET"], response_model=EndUserPage,
    tags=["End users"], summary="List End Users",
)  # fmt: skip
router.add_api_route(
    "/projects/{project_id}/end-users/", _end_users, methods=["GET"], response_model=EndUserPage,
    tags=["End users"], summary="List End Users (alias)", include_in_schema=False,
)  # fmt: skip
