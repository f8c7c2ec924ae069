"""Repository for integrations."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from docsage.db.models import Integration


class IntegrationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, integration: Integration) -> Integration:
        self.session.add(integration)
        self.session.flush()
        return integration

    def get(self, integration_id: str) -> Integration | None:
        return self.session.get(Integration, integration_id)

    def list(self, project_id: str, types: list[str] | None = None) -> list[Integration]:
        stmt = select(Integration).where(Integration.project_id == project_id).order_by(Integration.created_at)
        if types:
            stmt = stmt.where(Integration.integration_type.in_(types))
        return list(self.session.scalars(stmt))

    def by_external_id(self, integration_type: str, external_id: str) -> Integration | None:
        stmt = select(Integration).where(
            Integration.integration_type == integration_type, Integration.external_id == external_id
        )
        return self.session.scalar(stmt)
