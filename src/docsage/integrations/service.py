"""Questions and feedback from chat apps (Slack, Discord): which integration answers a workspace, server or
channel, a chat app's thread continued as a docsage thread, and each delivery taken on once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from docsage.chat.feedback import FeedbackService
from docsage.chat.service import ChatRequest, ChatService, EndUserInfo, collect, sources_of
from docsage.db.chat_apps import ChatAppRepository
from docsage.db.engine import Database
from docsage.db.integrations import IntegrationRepository
from docsage.db.models import utcnow
from docsage.db.projects import ProjectRepository
from docsage.errors import ProviderError
from docsage.ratelimit import RateLimiter, enforce

# Per platform, the integration types a question is routed through: its channel's first, then its workspace's.
ROUTING = {
    "slack": ("SLACK_CHANNEL", "SLACK_WORKSPACE"),
    "discord": ("DISCORD_CHANNEL", "DISCORD_SERVER"),
}
# Slack retries an event for about an hour at most; a day leaves a wide margin and a small table.
DELIVERY_MEMORY = timedelta(days=1)


@dataclass(frozen=True)
class Route:
    """The integration (and so the project and team) that answers a chat app's channel or workspace."""

    integration_id: str
    integration_type: str
    project_id: str
    team_id: str


@dataclass(frozen=True)
class ChatAppAnswer:
    """A stored answer: markdown citing pages as [[n]](url), and the pages in that numbering."""

    text: str
    sources: list[dict[str, Any]]
    question_answer_id: str
    thread_id: str
    is_uncertain: bool


class ChatAppService:
    """`chat` is called when the first question is answered, on the thread answering it: building the chat
    service loads the embedding model (seconds), which must never delay the acknowledgement Slack and Discord
    want within 3 s (measured: the first Slack event waited 5.4 s for it on PostgreSQL)."""

    def __init__(
        self,
        database: Database,
        chat: Callable[[], ChatService],
        feedback: FeedbackService,
        rate_limiter: RateLimiter,
        chat_per_min: int,
    ) -> None:
        self.database = database
        self.chat = chat
        self.feedback = feedback
        self.rate_limiter = rate_limiter
        self.chat_per_min = chat_per_min

    def route(self, platform: str, channel_id: str | None, workspace_id: str | None) -> Route | None:
        """The enabled integration for this channel, else for its workspace (Slack team, Discord guild);
        None when neither is connected to a project."""
        channel_type, workspace_type = ROUTING[platform]
        with self.database.session() as session:
            repo = IntegrationRepository(session)
            for integration_type, external_id in ((channel_type, channel_id), (workspace_type, workspace_id)):
                if not external_id:
                    continue
                found = repo.by_external_id(integration_type, external_id)
                if found is not None and found.is_enabled:
                    project = ProjectRepository(session).get(found.project_id)
                    assert project is not None  # integrations are deleted with their project
                    return Route(found.id, found.integration_type, found.project_id, project.team_id)
        return None

    def take_delivery(self, platform: str, delivery_id: str) -> bool:
        """True the first time a delivery (a Slack message, a Discord interaction) is seen, in any replica;
        False for a retry or a replay of one already taken on."""
        now = utcnow()
        with self.database.session() as session:
            repo = ChatAppRepository(session)
            repo.forget_deliveries(now - DELIVERY_MEMORY)
            return repo.claim_delivery(platform, delivery_id, now)

    def admit(self, route: Route) -> None:
        """Count a question against its team's chat budget (RateLimitedError past it): chat apps are
        server-side callers, like the team's API keys."""
        enforce(self.rate_limiter, f"chat:{route.team_id}", self.chat_per_min, "chat")

    def ask(
        self,
        platform: str,
        route: Route,
        question: str,
        *,
        user: EndUserInfo,
        conversation_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ChatAppAnswer:
        """Answer and store a question; with a conversation key (a Slack thread), the conversation's earlier
        turns are its history and a new conversation becomes a new docsage thread."""
        key = f"{route.integration_id}:{conversation_key}" if conversation_key else None
        thread_id = None
        if key is not None:
            with self.database.session() as session:
                thread_id = ChatAppRepository(session).thread_id(platform, key)
        request = ChatRequest(
            project_id=route.project_id,
            query=question,
            thread_id=thread_id,
            integration_id=route.integration_id,
            user=user,
            metadata=metadata or {},
            require_integration_match=True,
        )
        done = collect(self.chat().stream(request))
        if done.ids is None:
            raise ProviderError("the answer was not stored")
        if key is not None and thread_id is None:
            with self.database.session() as session:
                # Two first questions of one conversation at once: the first mapping wins, and the other
                # answer stays in a thread of its own.
                ChatAppRepository(session).link_thread(platform, key, done.ids.thread_id)
        return ChatAppAnswer(
            text=done.text,
            sources=sources_of(done.hits),
            question_answer_id=done.ids.question_answer_id,
            thread_id=done.ids.thread_id,
            is_uncertain=done.meta.is_uncertain if done.meta else True,
        )

    def rate(self, route: Route, question_answer_id: str, user_identifier: str, reaction: str) -> None:
        """Feedback from a button under an answer, into the one feedback store (only on answers given
        through this integration; NotFoundError otherwise)."""
        self.feedback.upsert(
            route.project_id,
            question_answer_id,
            user_identifier,
            reaction,
            None,
            integration_id=route.integration_id,
        )
