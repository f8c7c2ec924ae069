"""Authentication and scoping for /query/v1: an X-API-KEY belongs to exactly one project."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from docsage.api.deps import Principal, ServicesDep
from docsage.errors import AuthError, ForbiddenError


async def principal(
    services: ServicesDep,
    x_api_key: Annotated[str | None, Header(alias="X-API-KEY", description="API key of the project.")] = None,
) -> Principal:
    if not x_api_key:
        raise AuthError("Authentication credentials were not provided.")
    found = services.projects.authenticate(x_api_key)
    if found is None or found.key.scheme != "x-api-key":
        raise AuthError("Invalid API key.")
    return Principal(found.key.id, found.key.project_id, found.team_id)


PrincipalDep = Annotated[Principal, Depends(principal)]


def own_project(project_id: str, who: Principal) -> str:
    """The path's project, if the key belongs to it (another project's id is 403, and reveals nothing)."""
    if project_id != who.project_id:
        raise ForbiddenError("You do not have permission to perform this action.")
    return project_id
