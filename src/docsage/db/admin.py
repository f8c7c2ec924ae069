"""Repository for admin users and their sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from docsage.db.models import AdminSession, AdminUser


class AdminRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def user_by_name(self, username: str) -> AdminUser | None:
        return self.session.scalars(select(AdminUser).where(AdminUser.username == username)).first()

    def add_user(self, user: AdminUser) -> AdminUser:
        self.session.add(user)
        self.session.flush()
        return user

    def add_session(self, login: AdminSession) -> AdminSession:
        self.session.add(login)
        self.session.flush()
        return login

    def session_by_hash(self, token_hash: str) -> AdminSession | None:
        return self.session.get(AdminSession, token_hash)

    def delete_session(self, token_hash: str) -> None:
        self.session.execute(delete(AdminSession).where(AdminSession.token_hash == token_hash))

    def purge_expired(self, now: datetime) -> None:
        self.session.execute(delete(AdminSession).where(AdminSession.expires_at < now))
