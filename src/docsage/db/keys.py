"""Repository for API keys (only hashes are stored)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from docsage.db.models import ApiKey, Project


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        self.session.flush()
        return key

    def get(self, key_id: str) -> ApiKey | None:
        return self.session.get(ApiKey, key_id)

    def by_hash(self, key_hash: str) -> tuple[ApiKey, str] | None:
        """The key with that hash and its project's team id (one query: this runs on every API request)."""
        row = self.session.execute(
            select(ApiKey, Project.team_id)
            .join(Project, Project.id == ApiKey.project_id)
            .where(ApiKey.key_hash == key_hash)
        ).first()
        return (row[0], row[1]) if row else None

    def list(self, project_id: str | None = None) -> list[ApiKey]:
        stmt = select(ApiKey).order_by(ApiKey.created_at)
        if project_id:
            stmt = stmt.where(ApiKey.project_id == project_id)
        return list(self.session.scalars(stmt))

    def revoke(self, key: ApiKey, when: datetime) -> None:
        key.revoked_at = when
