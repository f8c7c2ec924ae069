"""Bearer keys on the agent surfaces (MCP over HTTP, the OpenAI-compatible API): one project's key, its scopes,
and the rate budget it draws on."""

from __future__ import annotations

from dataclasses import dataclass

from docsage.api.deps import Principal, limit_chat, limit_public_chat, limit_retrieval
from docsage.errors import AuthError, ForbiddenError
from docsage.projects.service import is_public
from docsage.services import Services


@dataclass(frozen=True)
class BearerKey:
    """An authenticated bearer key: the project it belongs to, what it may do, and where the call came from."""

    principal: Principal
    scopes: frozenset[str]
    public: bool = False  # a key with allowed origins: it sits in web pages, so anyone may hold it
    client_ip: str | None = None

    @property
    def project_id(self) -> str:
        return self.principal.project_id

    def require(self, scope: str) -> None:
        """ForbiddenError unless the key carries `scope`, saying what the key may do and how to widen it."""
        require_scope(scope, self.scopes, self.public, self.principal.key_id, self.project_id)

    def limit_chat(self, services: Services) -> None:
        self._limit(services, "chat")

    def limit_retrieval(self, services: Services) -> None:
        self._limit(services, "retrieval")

    def _limit(self, services: Services, kind: str) -> None:
        # A public key's calls count against the anonymous budgets, per client and per key, whatever they do:
        # visitors of a page must never use up the team's server-side budget.
        if self.public:
            limit_public_chat(services, self.principal.key_id, self.client_ip)
        elif kind == "chat":
            limit_chat(services, self.principal)
        else:
            limit_retrieval(services, self.principal)


def require_scope(scope: str, scopes: frozenset[str], public: bool, key_id: str, project_id: str) -> None:
    """ForbiddenError unless `scopes` holds `scope`, saying what the key may do and the command that widens it."""
    if scope not in scopes:
        kind = "public key (it has allowed origins)" if public else "key"
        widened = " ".join(f"--scope {s}" for s in [*sorted(scopes), scope])
        raise ForbiddenError(
            f"this {kind} lacks the '{scope}' scope; its scopes are {', '.join(sorted(scopes)) or 'none'}. "
            f"Grant it with `docsage key scopes {key_id} --project {project_id} {widened}`, "
            "or use a server-side key (no allowed origins)."
        )


def bearer_secret(authorization: str | None) -> str | None:
    """The key in an `Authorization: Bearer <key>` header value, if there is one."""
    if not authorization or authorization[:7].lower() != "bearer ":
        return None
    return authorization[7:].strip() or None


def authenticate_bearer(
    services: Services, authorization: str | None, origin: str | None = None, client_ip: str | None = None
) -> BearerKey:
    """The bearer key of `Authorization: Bearer <key>`; AuthError when it is missing, unknown, revoked or an
    X-API-KEY key (those are for /query/v1), ForbiddenError for a browser origin the key does not allow."""
    secret = bearer_secret(authorization)
    if secret is None:
        raise AuthError("missing API key: send Authorization: Bearer <key> (docsage key create --scheme bearer)")
    found = services.projects.authenticate(secret)
    if found is None:
        raise AuthError("invalid API key")
    if found.key.scheme != "bearer":
        raise AuthError(
            "this is an X-API-KEY key for the Kapa API; create a bearer key with "
            "`docsage key create --project ID --scheme bearer`"
        )
    if origin is not None and origin.rstrip("/").lower() not in found.key.allowed_origins:
        raise ForbiddenError(f"origin {origin} is not allowed for this key")
    return BearerKey(
        Principal(found.key.id, found.key.project_id, found.team_id),
        frozenset(found.key.scopes),
        is_public(found.key),
        client_ip,
    )
