"""Pydantic wire models of the Kapa-compatible /query/v1 API (field names, limits and defaults per the seeds)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

IntegrationType = Literal[
    "SLACK_CHANNEL", "SLACK_WORKSPACE", "DISCORD_CHANNEL", "DISCORD_SERVER", "WIDGET", "SUPPORT_FORM_DEFLECTOR",
    "API", "DASHBOARD_CHAT",
]  # fmt: skip
GenerationModel = Literal[
    "gpt-4", "gpt-4-0613", "gpt-4-turbo-preview", "gpt-4-1106-preview", "gpt-4-0125-preview", "gpt-4o",
    "gpt-4o-2024-05-13", "gpt-4o-2024-08-06", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-3.5-turbo",
    "gpt-3.5-turbo-16k", "gpt-3.5-turbo-0125",
]  # fmt: skip


class EndUserMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    store_ip: bool = False


class EndUserInfo(BaseModel):
    """Optional user data for end-user tracking."""

    model_config = ConfigDict(extra="ignore")
    email: str | None = Field(default=None, max_length=320)
    unique_client_id: str | None = Field(default=None, max_length=200)
    fingerprint_id: str | None = Field(default=None, max_length=200)
    slack_id: str | None = Field(default=None, max_length=200)
    discord_id: str | None = Field(default=None, max_length=200)
    metadata: EndUserMetadata | None = None


class QueryInputMetadata(BaseModel):
    """Optional metadata for the query input, such as the page URL it was submitted from."""

    model_config = ConfigDict(extra="allow")


class ChatIn(BaseModel):
    integration_id: UUID | None = Field(default=None, description="Integration the user is interacting with.")
    query: str = Field(min_length=1, max_length=5000, description="The query to ask the bot.")
    user: EndUserInfo | None = None
    metadata: QueryInputMetadata | None = None
    redact_query: bool = Field(
        default=False,
        description="docsage extension: replace emails, phone and card numbers in the query before it is "
        "stored or searched (the answer then reports is_redacted in threads and exports).",
    )


class RelevantSource(BaseModel):
    source_url: str
    title: str
    contains_internal_data: bool


class ChatOut(BaseModel):
    answer: str
    thread_id: str
    question_answer_id: str
    is_uncertain: bool
    relevant_sources: list[RelevantSource]


class RetrievalIn(BaseModel):
    query: str = Field(min_length=1, max_length=5000)
    mode: Literal["default", "deep"] = "default"
    top_k: int = Field(default=15, ge=1, le=15)
    max_chars: int = Field(default=35000, ge=1, le=60000)
    source_group_ids_include: list[str] | None = None
    integration_id: UUID | None = None
    redact_query: bool = False
    user: EndUserInfo | None = None


class RetrievalResult(BaseModel):
    source_url: str
    content: str
    title: str


class DocumentsIn(BaseModel):
    urls: list[str] | None = Field(default=None, max_length=100)
    document_ids: list[UUID] | None = Field(default=None, max_length=100)
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=5, ge=1, le=100)
    source_group_ids_include: list[str] | None = None
    max_chars_per_document: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _names_something(self) -> DocumentsIn:
        if not self.urls and not self.document_ids:
            raise ValueError("give the documents' urls or document_ids")
        return self


class DocumentOut(BaseModel):
    document_id: str
    source_url: str | None
    title: str
    content: str | None
    total_chars: int
    truncated: bool


class DocumentsOut(BaseModel):
    results: list[DocumentOut]


class SearchIn(BaseModel):
    query: str = Field(min_length=1, max_length=5000)
    num_results: int = Field(default=10, ge=1, le=100)
    include_source_names: list[Annotated[str, Field(min_length=1)]] | None = None


class SearchResult(BaseModel):
    content: str
    source_url: str
    title: str
    source_type: str


class FeedbackComment(BaseModel):
    issue: str = ""
    incorrect: bool = False
    irrelevant: bool = False
    unaddressed: bool = False


class FeedbackIn(BaseModel):
    comment: FeedbackComment | None = None
    user_identifier: str = Field(min_length=1, max_length=200)
    reaction: Literal["upvote", "downvote"]
    question_answer: UUID


class FeedbackOut(BaseModel):
    id: int
    comment: FeedbackComment | None
    created_at: datetime
    updated_at: datetime
    user_identifier: str
    reaction: str
    question_answer: str


class ProjectOut(BaseModel):
    id: str
    team: str
    project_name: str


class IntegrationOut(BaseModel):
    id: str
    project: str
    name: str
    description: str
    integration_type: str
    is_setup_complete: bool
    is_enabled: bool
    updated_at: datetime
    created_at: datetime


class MarkdownPiiConfig(BaseModel):
    entities: list[str] = []


class SourceOut(BaseModel):
    project: str
    id: str
    name: str
    title_prefix: str
    description: str
    type: str
    contains_internal_data: bool
    ready_for_review: bool
    ingest_without_review: bool
    ingested_at: datetime | None
    created_at: datetime
    updated_at: datetime
    has_periodic_task: str
    next_run_at: str | None
    last_task_name: str | None
    last_task_status: str | None
    last_task_error: str | None
    periodic_task: str | None
    can_be_deleted: str
    can_be_refreshed: str
    can_be_duplicated: str
    deployed_markdown_items: int
    markdown_pii_config: MarkdownPiiConfig


class SourcePage(BaseModel):
    count: int
    next: str | None = None
    previous: str | None = None
    results: list[SourceOut]


class FeedbackItem(BaseModel):
    reaction: str
    comment: str | None
    incorrect: bool
    irrelevant: bool
    unaddressed: bool
    created_at: datetime


class QuestionAnswerOut(BaseModel):
    id: str
    thread_id: str
    question: str
    answer: str
    is_uncertain: bool
    is_redacted: bool
    end_user_id: str | None
    created_at: datetime
    feedback: list[FeedbackItem]
    relevant_sources: Any = None


class ThreadOut(BaseModel):
    id: str
    integration: IntegrationOut | None
    question_answers: list[QuestionAnswerOut]
    created_at: datetime


class ThreadPage(BaseModel):
    results: list[ThreadOut]
    next_cursor: str | None


class QuestionAnswerPage(BaseModel):
    count: int
    next: str | None = None
    previous: str | None = None
    results: list[QuestionAnswerOut]


class EndUserOut(BaseModel):
    id: str
    display_id: str
    email: str | None
    unique_client_id: str | None
    question_answer_count: int
    latest_thread_id: str | None
    latest_thread_first_question: str | None
    latest_activity_at: datetime
    first_activity_at: datetime
    company_name: str | None


class EndUserPage(BaseModel):
    count: int
    next: str | None = None
    previous: str | None = None
    results: list[EndUserOut]


class CountByIntegration(BaseModel):
    integration_type: str
    count: int
    description: str
    id: str


class TimeSeriesPoint(BaseModel):
    period: datetime
    total_count: int
    total_uncertain_count: int
    count_by_integration: list[CountByIntegration]


class AggregateStatistics(BaseModel):
    total_questions: int
    total_upvotes: int
    total_downvotes: int
    total_questions_uncertain: int
    total_questions_uncertain_or_downvoted: int
    total_unique_users: int
    total_support_tickets_deflected: int
    total_support_tickets_not_deflected: int


class ActivityOut(BaseModel):
    time_series: list[TimeSeriesPoint]
    aggregate_statistics: AggregateStatistics


class TicketOutcomeIn(BaseModel):
    question_answer: UUID
    ticket_filed: bool = Field(description="True when the user still filed the ticket after reading the answer.")
    integration_id: UUID | None = None


class TicketOutcomeOut(BaseModel):
    id: str
    question_answer: str
    integration_id: str | None
    deflected: bool
    created_at: datetime


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "query", "context"]
    content: str | None = Field(default=None, max_length=100_000)


class CustomChatIn(BaseModel):
    integration_id: UUID | None = None
    messages: list[Message] = Field(min_length=1, max_length=100)
    retrieval_query: str | None = Field(default=None, min_length=1, max_length=5000)
    persist_answer: bool = True
    use_retrieval: bool = True
    label_internal_sources: bool = False
    generation_model: GenerationModel = "gpt-4-0613"
    source_ids_include: list[UUID] | None = None
    response_format: Literal["json_object"] | None = None
    redact_conversation: bool = False


class CustomSource(BaseModel):
    source_url: str
    title: str
    contains_internal_data: bool
    content: str
    source_name: str


class CustomChatOut(BaseModel):
    answer: str
    thread_id: str | None
    question_answer_id: str | None
    messages: list[Message]
    relevant_sources: list[CustomSource]
