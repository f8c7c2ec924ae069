"""Repository for teams and projects."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from docsage.db.models import Project, Team


class ProjectRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_or_create_team(self, name: str) -> Team:
        team = self.session.scalars(select(Team).where(Team.name == name)).first()
        if team is None:
            team = Team(name=name)
            self.session.add(team)
            self.session.flush()
        return team

    def create(self, name: str, team: Team) -> Project:
        project = Project(name=name, team_id=team.id)
        self.session.add(project)
        self.session.flush()
        return project

    def get(self, project_id: str) -> Project | None:
        return self.session.get(Project, project_id)

    def list(self) -> list[Project]:
        return list(self.session.scalars(select(Project).order_by(Project.created_at)))

    def bump_index_generation(self, project_id: str) -> None:
        self.session.execute(
            update(Project).where(Project.id == project_id).values(index_generation=Project.index_generation + 1)
        )

    def index_generation(self, project_id: str) -> int:
        return int(self.session.scalar(select(Project.index_generation).where(Project.id == project_id)) or 0)
