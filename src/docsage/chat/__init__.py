"""Conversations shared by every chat surface."""

from docsage.chat.service import ChatRequest, ChatService, EndUserInfo

__all__ = ["ChatRequest", "ChatService", "EndUserInfo"]
