"""Projects, keys, integrations and sources."""

from docsage.projects.service import (
    INTEGRATION_TYPES,
    KEY_SCHEMES,
    SCOPES,
    SOURCE_TYPES,
    CreatedKey,
    ProjectService,
    is_public,
)

__all__ = ["INTEGRATION_TYPES", "KEY_SCHEMES", "SCOPES", "SOURCE_TYPES", "CreatedKey", "ProjectService", "is_public"]
