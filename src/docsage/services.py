"""Wires settings, storage and providers into the services each surface uses (built lazily, once)."""

from __future__ import annotations

from functools import cached_property

from docsage.accounts import AdminAuth, KeyReveals, LoginPolicy, LoginThrottle
from docsage.analytics.insights import InsightsService
from docsage.analytics.service import AnalyticsService
from docsage.answer.base import AnswerProvider
from docsage.answer.service import AnswerService
from docsage.chat.custom import CustomChatService
from docsage.chat.feedback import FeedbackService
from docsage.chat.service import ChatService
from docsage.config import Settings, get_settings
from docsage.db.engine import Database, get_database
from docsage.embed.base import Embedder
from docsage.embed.registry import get_embedder
from docsage.index.base import IndexBackend
from docsage.index.registry import get_index_backend
from docsage.ingest.refresh import RefreshScheduler
from docsage.ingest.service import INGEST_SOURCE, IngestService
from docsage.ingest.uploads import INDEX_UPLOAD, UploadService
from docsage.integrations.service import ChatAppService
from docsage.invalidation import follow_commits
from docsage.jobs.service import JobService
from docsage.jobs.wakeup import wake_across_processes
from docsage.projects.service import ProjectService
from docsage.pubsub import RedisBus, get_bus
from docsage.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from docsage.retrieval.service import RetrievalService


class Services:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    @cached_property
    def database(self) -> Database:
        database = get_database(self.settings.resolved_database_url())
        if self.bus is not None:
            follow_commits(database, self.bus)
        return database

    @cached_property
    def bus(self) -> RedisBus | None:
        """Redis pub/sub shared by the replicas (DOCSAGE_REDIS_URL); None for one process alone."""
        return get_bus(self.settings.redis_url) if self.settings.redis_url else None

    @cached_property
    def index(self) -> IndexBackend:
        return get_index_backend(self.database, self.settings)

    @cached_property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings)

    @cached_property
    def projects(self) -> ProjectService:
        return ProjectService(self.database, self.index)

    @cached_property
    def retrieval(self) -> RetrievalService:
        return RetrievalService(self.database, self.index, self.embedder, self.settings)

    @cached_property
    def ingest(self) -> IngestService:
        return IngestService(self.database, self.index, self.embedder, self.settings)

    @cached_property
    def answer_provider(self) -> AnswerProvider:
        from docsage.answer.registry import get_answer_provider

        return get_answer_provider(self.settings, self.embedder.count_tokens)

    @cached_property
    def answers(self) -> AnswerService:
        return AnswerService(self.retrieval, self.answer_provider, self.settings)

    @cached_property
    def chat(self) -> ChatService:
        return ChatService(self.database, self.answers, self.settings.prices)

    @cached_property
    def custom_chat(self) -> CustomChatService:
        return CustomChatService(self.database, self.retrieval, self.answer_provider, self.settings)

    @cached_property
    def feedback(self) -> FeedbackService:
        return FeedbackService(self.database)

    @cached_property
    def chat_apps(self) -> ChatAppService:
        # A lambda on purpose: the chat service (and its embedding model) is built on the first answer.
        chat = lambda: self.chat  # noqa: E731
        return ChatAppService(
            self.database, chat, self.feedback, self.rate_limiter, self.settings.rate_limit_chat_per_min
        )

    @cached_property
    def analytics(self) -> AnalyticsService:
        return AnalyticsService(self.database)

    @cached_property
    def insights(self) -> InsightsService:
        """Coverage gaps and top questions per period, grouped like the dashboard's."""
        return InsightsService(self.database, self.embedder.embed_documents, self.retrieval)

    @cached_property
    def admin(self) -> AdminAuth:
        s = self.settings
        policy = LoginPolicy(s.admin_login_max_failures, s.admin_login_max_failures_per_ip, s.admin_login_lockout_s)
        return AdminAuth(self.database, LoginThrottle(self.rate_limiter, policy), s.admin_password)

    @cached_property
    def reveals(self) -> KeyReveals:
        return KeyReveals(self.database)

    @cached_property
    def uploads(self) -> UploadService:
        return UploadService(self.database, self.index, self.ingest, self.jobs)

    @cached_property
    def jobs(self) -> JobService:
        """Every kind of background job, registered up front so any runner can claim any job."""
        jobs = JobService(self.database, self.settings.job_stale_after_s)
        # Lambdas on purpose: the services are built on first use, not when the registry is.
        jobs.register(INGEST_SOURCE, lambda context: self.ingest.run_job(context))  # noqa: PLW0108
        jobs.register(INDEX_UPLOAD, lambda context: self.uploads.index_job(context))  # noqa: PLW0108
        if self.bus is not None:
            wake_across_processes(jobs, self.bus)
        jobs.every("refresh_sources", self.settings.refresh_check_s, RefreshScheduler(self.database, jobs).tick)
        return jobs

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """Shared by every replica through Redis when there is one; this process's own otherwise."""
        if self.settings.redis_url:
            return RedisRateLimiter(self.settings.redis_url)
        return MemoryRateLimiter()
