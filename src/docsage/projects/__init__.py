"""Projects, keys, integrations and sources."""

from docsage.projects.service import INTEGRATION_TYPES, KEY_SCHEMES, SOURCE_TYPES, CreatedKey, ProjectService

__all__ = ["INTEGRATION_TYPES", "KEY_SCHEMES", "SOURCE_TYPES", "CreatedKey", "ProjectService"]
