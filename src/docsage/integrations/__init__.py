"""Chat apps (Slack, Discord) answering through the shared chat and feedback services."""

from docsage.integrations.service import ChatAppAnswer, ChatAppService, Route

__all__ = ["ChatAppAnswer", "ChatAppService", "Route"]
