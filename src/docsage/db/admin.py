"""Repository for admin users, their sessions and the key secrets waiting to be shown to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from docsage.db.models import AdminSession, AdminUser, KeyReveal


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


class KeyRevealRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, reveal: KeyReveal) -> KeyReveal:
        self.session.add(reveal)
        self.session.flush()
        return reveal

    def take(self, token_hash: str, user_id: str, now: datetime) -> str | None:
        """The sealed secret, deleted as it is read: only its user gets it, once, before it expires (of two
        replicas taking it at once, only the one whose delete removed the row)."""
        reveal = self.session.get(KeyReveal, token_hash)
        if reveal is None or reveal.user_id != user_id:
            return None
        taken = self.session.execute(
            delete(KeyReveal)
            .where(KeyReveal.token_hash == token_hash, KeyReveal.user_id == user_id)
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) != 1 or reveal.expires_at < now:
            return None
        return reveal.sealed

    def purge_expired(self, now: datetime) -> None:
        self.session.execute(delete(KeyReveal).where(KeyReveal.expires_at < now))
