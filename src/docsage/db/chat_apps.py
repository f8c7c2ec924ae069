"""Repository for chat apps' threads (a Slack thread as a docsage thread) and the deliveries already taken on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docsage.db.models import ChatAppDelivery, ChatAppThread


class ChatAppRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim_delivery(self, platform: str, delivery_id: str, now: datetime) -> bool:
        """Record a delivery; False when it was recorded before (in any process: the primary key decides)."""
        try:
            with self.session.begin_nested():
                self.session.add(ChatAppDelivery(platform=platform, delivery_id=delivery_id, received_at=now))
        except IntegrityError:
            return False
        return True

    def forget_deliveries(self, before: datetime) -> None:
        self.session.execute(delete(ChatAppDelivery).where(ChatAppDelivery.received_at < before))

    def thread_id(self, platform: str, conversation_key: str) -> str | None:
        stmt = select(ChatAppThread.thread_id).where(
            ChatAppThread.platform == platform, ChatAppThread.conversation_key == conversation_key
        )
        return self.session.scalar(stmt)

    def link_thread(self, platform: str, conversation_key: str, thread_id: str) -> bool:
        """Map a conversation to a thread; False when another answer mapped it first."""
        try:
            with self.session.begin_nested():
                self.session.add(
                    ChatAppThread(platform=platform, conversation_key=conversation_key, thread_id=thread_id)
                )
        except IntegrityError:
            return False
        return True
