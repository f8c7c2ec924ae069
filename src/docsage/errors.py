"""One error hierarchy: every expected failure is a DocsageError with a code and an HTTP status."""

from __future__ import annotations


class DocsageError(Exception):
    """Base of every error docsage reports to a user; surfaces render it in their own format."""

    code = "error"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(DocsageError):
    code = "not_found"
    http_status = 404


class InvalidInputError(DocsageError):
    code = "invalid_input"
    http_status = 422


class ConflictError(DocsageError):
    code = "conflict"
    http_status = 409


class AuthError(DocsageError):
    code = "unauthorized"
    http_status = 401


class ForbiddenError(DocsageError):
    code = "forbidden"
    http_status = 403


class ProviderError(DocsageError):
    """An embedding or LLM provider failed (network, protocol, bad config)."""

    code = "provider_error"
    http_status = 502


class ConnectorError(DocsageError):
    """A connector could not list or fetch its documents."""

    code = "connector_error"
    http_status = 400
