"""Projects, API keys, integrations and sources: creation, listing and removal rules."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.orm import Session

from docsage.config import get_settings
from docsage.db.documents import DocumentRepository
from docsage.db.engine import Database
from docsage.db.integrations import IntegrationRepository
from docsage.db.jobs import JobRepository
from docsage.db.keys import ApiKeyRepository
from docsage.db.models import ApiKey, Document, Integration, Project, Source, utcnow
from docsage.db.projects import ProjectRepository
from docsage.db.sources import IngestRunRepository, SourceRepository
from docsage.errors import ConflictError, InvalidInputError, NotFoundError
from docsage.index.base import IndexBackend
from docsage.ingest.connectors.registry import CONNECTORS, build_connector
from docsage.ingest.refresh import check_refreshable, default_interval, first_refresh, format_interval

DEFAULT_TEAM = "default"
KEY_SCHEMES = ("x-api-key", "bearer")
INTEGRATION_TYPES = (
    "API",
    "WIDGET",
    "SLACK_CHANNEL",
    "SLACK_WORKSPACE",
    "DISCORD_CHANNEL",
    "DISCORD_SERVER",
    "SUPPORT_FORM_DEFLECTOR",
    "DASHBOARD_CHAT",
)
# Chat apps answer questions from a workspace, server or channel (its id is the integration's external id).
CHAT_APP_TYPES = ("SLACK_CHANNEL", "SLACK_WORKSPACE", "DISCORD_CHANNEL", "DISCORD_SERVER")
SOURCE_TYPES = ("folder", "web", "git", "openapi", "upload")
# What a key may do. A bearer key with allowed origins is embedded in public web pages, so anyone can read it:
# by default it may only chat and rate answers (and read its own session, bound to the browser that opened it).
SCOPES = ("chat", "feedback", "sessions", "usage", "documents", "search")
PUBLIC_SCOPES = ("chat", "feedback")


class DefaultRefresh:
    """The refresh interval of a source's type (a marker: None already means 'off')."""


DEFAULT_REFRESH = DefaultRefresh()


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class AuthenticatedKey:
    key: ApiKey
    team_id: str


@dataclass(frozen=True)
class CreatedKey:
    """A new key: `secret` is shown once and never stored; `warnings` say what makes it risky."""

    key: ApiKey
    secret: str
    warnings: tuple[str, ...] = ()


def is_public(key: ApiKey) -> bool:
    """A key meant for browsers (bearer with allowed origins): it sits in page source, so anyone has it."""
    return key.scheme == "bearer" and bool(key.allowed_origins)


def _check_scopes(scheme: str, origins: list[str], scopes: list[str] | None) -> tuple[list[str], tuple[str, ...]]:
    """(scopes to store, warnings) for a key of this kind; None means the kind's default."""
    public = scheme == "bearer" and bool(origins)
    if scopes is None:
        return list(PUBLIC_SCOPES if public else SCOPES), ()
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidInputError(f"unknown scope {', '.join(unknown)}; choose from {', '.join(SCOPES)}")
    if not scopes:
        raise InvalidInputError("a key needs at least one scope")
    if scheme != "bearer":
        raise InvalidInputError("scopes apply to bearer keys; an x-api-key key (Kapa API) may call every endpoint")
    chosen = [s for s in SCOPES if s in scopes]
    wider = [s for s in chosen if s not in PUBLIC_SCOPES]
    warnings = (
        (
            f"this key has allowed origins, so it is meant for web pages where anyone can read it; with "
            f"{', '.join(wider)} anyone who views the page can "
            + "; ".join(
                {
                    "sessions": "read every chat session of the project",
                    "usage": "read the project's usage and cost",
                    "documents": "upload, list and delete documents",
                    "search": "search the docs and read whole pages (MCP, retrieval)",
                }[s]
                for s in wider
            ),
        )
        if public and wider
        else ()
    )
    return chosen, warnings


def require_integration(session: Session, project_id: str, integration_id: str | None) -> None:
    """NotFoundError unless the integration (when one is named) belongs to the project (in the caller's
    transaction: chat checks it while opening the thread the answer goes into)."""
    if integration_id is not None:
        integration = IntegrationRepository(session).get(integration_id)
        if integration is None or integration.project_id != project_id:
            raise NotFoundError(f"integration {integration_id} not found")


def _check_origin(origin: str) -> str:
    problem = InvalidInputError(f"allowed origin must look like https://host[:port], got {origin!r}")
    try:
        parsed = urlparse(origin)
        port_ok = parsed.port is None or parsed.port > 0  # .port raises ValueError past 65535
    except ValueError:
        raise problem from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.path not in ("", "/") or not port_ok:
        raise problem
    return f"{parsed.scheme}://{parsed.netloc}".lower()


class ProjectService:
    def __init__(self, database: Database, index: IndexBackend) -> None:
        self.database = database
        self.index = index
        # key hash -> (data_version when read, what it authenticated as): every API request authenticates, and
        # while nothing is committed anywhere the answer cannot have changed (a revocation is a commit).
        self._auth_cache: dict[str, tuple[int, AuthenticatedKey | None]] = {}

    # projects -------------------------------------------------------------------------------------------
    def create_project(self, name: str, team_name: str = DEFAULT_TEAM) -> Project:
        if not name.strip():
            raise InvalidInputError("project name must not be empty")
        with self.database.session() as session:
            repo = ProjectRepository(session)
            return repo.create(name.strip(), repo.get_or_create_team(team_name))

    def get_project(self, project_id: str) -> Project:
        with self.database.session() as session:
            project = ProjectRepository(session).get(project_id)
            if project is None:
                raise NotFoundError(f"project {project_id} not found")
            return project

    def list_projects(self) -> list[Project]:
        with self.database.session() as session:
            return ProjectRepository(session).list()

    # keys -----------------------------------------------------------------------------------------------
    def create_key(
        self,
        project_id: str,
        scheme: str = "x-api-key",
        allowed_origins: list[str] | None = None,
        name: str = "",
        scopes: list[str] | None = None,
    ) -> CreatedKey:
        """A new key; `scopes` None gives the kind's default (a public key: chat and feedback only)."""
        if scheme not in KEY_SCHEMES:
            raise InvalidInputError(f"unknown key scheme {scheme!r}; choose one of {', '.join(KEY_SCHEMES)}")
        origins = [_check_origin(o) for o in allowed_origins or []]
        if origins and scheme != "bearer":
            raise InvalidInputError("allowed origins apply to bearer keys only (use --scheme bearer)")
        chosen, warnings = _check_scopes(scheme, origins, scopes)
        self.get_project(project_id)
        secret = ("dsk_" if scheme == "x-api-key" else "dsb_") + secrets.token_urlsafe(32)
        with self.database.session() as session:
            key = ApiKeyRepository(session).add(
                ApiKey(
                    project_id=project_id,
                    name=name,
                    scheme=scheme,
                    prefix=secret[:10],
                    key_hash=hash_key(secret),
                    allowed_origins=origins,
                    scopes=chosen,
                )
            )
        return CreatedKey(key, secret, warnings)

    def set_scopes(self, project_id: str, key_id: str, scopes: list[str]) -> tuple[ApiKey, tuple[str, ...]]:
        """Change what a key may do; (the key, warnings as for create_key)."""
        with self.database.session() as session:
            key = ApiKeyRepository(session).get(key_id)
            if key is None or key.project_id != project_id:
                raise NotFoundError(f"API key {key_id} not found")
            chosen, warnings = _check_scopes(key.scheme, list(key.allowed_origins), scopes)
            key.scopes = chosen
            return key, warnings

    def list_keys(self, project_id: str | None = None) -> list[ApiKey]:
        if project_id:
            self.get_project(project_id)
        with self.database.session() as session:
            return ApiKeyRepository(session).list(project_id)

    def revoke_key(self, key_id: str) -> ApiKey:
        with self.database.session() as session:
            repo = ApiKeyRepository(session)
            key = repo.get(key_id)
            if key is None:
                raise NotFoundError(f"API key {key_id} not found")
            if key.revoked_at is None:
                repo.revoke(key, utcnow())
            return key

    def origin_allowed(self, origin: str) -> bool:
        """Whether any active bearer key allows this browser origin (for CORS preflights, which carry no key)."""
        with self.database.session() as session:
            return any(
                origin in key.allowed_origins
                for key in ApiKeyRepository(session).list()
                if key.scheme == "bearer" and key.revoked_at is None
            )

    def authenticate(self, secret: str) -> AuthenticatedKey | None:
        """The active key with this secret, with its project's team (for per-team rate limits).

        Cached until the next commit to the database, so a revocation (from the dashboard, the CLI or another
        process) takes effect on the very next request, and a read-only load costs no query per request.
        """
        digest = hash_key(secret)
        version = self.database.data_version()
        cached = self._auth_cache.get(digest)
        if cached is not None and version is not None and cached[0] == version:
            return cached[1]
        with self.database.session() as session:
            found = ApiKeyRepository(session).by_hash(digest)
        result = AuthenticatedKey(*found) if found is not None and found[0].revoked_at is None else None
        if version is not None:
            if len(self._auth_cache) >= 4096:  # bounded: random keys from a scanner must not grow it forever
                self._auth_cache.clear()
            self._auth_cache[digest] = (version, result)
        return result

    # integrations ---------------------------------------------------------------------------------------
    def create_integration(
        self, project_id: str, integration_type: str, name: str, description: str = "", external_id: str = ""
    ) -> Integration:
        """A new integration; `external_id` ties a chat-app integration to the Slack workspace or channel, or
        the Discord server or channel, whose questions it answers (one integration of a type per id)."""
        if integration_type not in INTEGRATION_TYPES:
            raise InvalidInputError(
                f"unknown integration type {integration_type!r}; choose one of {', '.join(INTEGRATION_TYPES)}"
            )
        if not name.strip():
            raise InvalidInputError("integration name must not be empty")
        external_id = external_id.strip()
        if external_id and integration_type not in CHAT_APP_TYPES:
            raise InvalidInputError(f"an external id applies to {', '.join(CHAT_APP_TYPES)} integrations")
        self.get_project(project_id)
        with self.database.session() as session:
            repo = IntegrationRepository(session)
            if external_id and repo.by_external_id(integration_type, external_id) is not None:
                raise ConflictError(f"{external_id} is already answered by another {integration_type} integration")
            return repo.add(
                Integration(
                    project_id=project_id,
                    integration_type=integration_type,
                    name=name.strip(),
                    description=description,
                    external_id=external_id or None,
                )
            )

    def require_integration(self, project_id: str, integration_id: str | None) -> None:
        with self.database.session() as session:
            require_integration(session, project_id, integration_id)

    def find_integration(self, integration_id: str) -> Integration | None:
        with self.database.session() as session:
            return IntegrationRepository(session).get(integration_id)

    def list_integrations(self, project_id: str, types: list[str] | None = None) -> list[Integration]:
        self.get_project(project_id)
        with self.database.session() as session:
            return IntegrationRepository(session).list(project_id, types)

    # sources --------------------------------------------------------------------------------------------
    def add_source(
        self,
        project_id: str,
        source_type: str,
        location: str,
        name: str = "",
        options: dict[str, Any] | None = None,
        refresh: int | DefaultRefresh | None = DEFAULT_REFRESH,
    ) -> Source:
        """A new source; its refresh interval defaults by type (websites weekly, others off)."""
        if source_type not in SOURCE_TYPES:
            raise InvalidInputError(f"unknown source type {source_type!r}; choose one of {', '.join(SOURCE_TYPES)}")
        if not location:
            raise InvalidInputError(f"a {source_type} source needs --path or --url")
        self.get_project(project_id)
        is_url = urlparse(location).scheme in ("http", "https", "git", "ssh", "file") or location.startswith("git@")
        if source_type == "folder" or (source_type in ("git", "openapi") and not is_url):
            path = Path(location).expanduser()
            if not path.exists():
                raise InvalidInputError(f"path does not exist: {location}")
            if source_type == "folder" and not path.is_dir():
                raise InvalidInputError(f"not a directory: {location}")
            location = str(path.resolve())
        if source_type == "web" and urlparse(location).scheme not in ("http", "https"):
            raise InvalidInputError(f"a web source needs an http(s) URL, got {location!r}")
        if source_type in CONNECTORS:  # options a connector refuses (a bad url_template…) fail now, not at ingest
            build_connector(source_type, location, options or {}, get_settings())
        interval = default_interval(source_type) if isinstance(refresh, DefaultRefresh) else refresh
        source = Source(
            project_id=project_id,
            type=source_type,
            location=location,
            options=options or {},
            name=name or Path(urlparse(location).path or location).name or location,
            refresh_interval_s=interval,
            next_refresh_at=first_refresh(interval, None, utcnow()),
        )
        check_refreshable(source, interval)
        with self.database.session() as session:
            return SourceRepository(session).add(source)

    def set_refresh(self, source_id: str, refresh_interval_s: int | None) -> Source:
        """Change a source's refresh interval (None: off); the next refresh is one interval after its last
        ingest, or at the next scheduler tick when that is already past."""
        with self.database.session() as session:
            source = SourceRepository(session).get(source_id)
            if source is None:
                raise NotFoundError(f"source {source_id} not found")
            check_refreshable(source, refresh_interval_s)
            source.refresh_interval_s = refresh_interval_s
            source.next_refresh_at = first_refresh(refresh_interval_s, source.ingested_at, utcnow())
            return source

    def get_source(self, source_id: str) -> Source:
        with self.database.session() as session:
            source = SourceRepository(session).get(source_id)
            if source is None:
                raise NotFoundError(f"source {source_id} not found")
            return source

    def list_sources(self, project_id: str) -> list[Source]:
        self.get_project(project_id)
        with self.database.session() as session:
            return SourceRepository(session).list(project_id)

    def source_status(self, project_id: str) -> dict[str, dict[str, Any]]:
        """Per source: document count, the latest ingest run's status, counts and time, and the job queued or
        running for it (with its progress)."""
        with self.database.session() as session:
            counts = SourceRepository(session).document_counts(project_id)
            runs = IngestRunRepository(session)
            jobs = JobRepository(session)
            out: dict[str, dict[str, Any]] = {}
            for source in SourceRepository(session).list(project_id):
                run = runs.latest(source.id)
                active = next(iter(jobs.recent(source_id=source.id, statuses=("queued", "running"), limit=1)), None)
                out[source.id] = {
                    "documents": counts.get(source.id, 0),
                    "last_status": run.status if run else "never",
                    "last_error": run.error if run else "",
                    "last_run_at": run.started_at if run else None,
                    "job_status": active.status if active else None,
                    "job_progress": dict(active.progress) if active else {},
                    "refresh": format_interval(source.refresh_interval_s),
                }
            return out

    def documents(
        self, project_id: str, *, urls: list[str], document_ids: list[str], source_ids: list[str] | None = None
    ) -> list[Document]:
        """Documents of a project by URL and/or id, in the order asked, each once."""
        with self.database.session() as session:
            repo = DocumentRepository(session)
            found = repo.by_urls(project_id, urls) if urls else []
            found += [d for d in (repo.get(i) for i in document_ids) if d is not None and d.project_id == project_id]
        if source_ids:
            found = [d for d in found if d.source_id in source_ids]
        order = {key: i for i, key in enumerate([*urls, *document_ids])}
        unique = {d.id: d for d in found}.values()
        return sorted(unique, key=lambda d: min(order.get(d.url, 1 << 30), order.get(d.id, 1 << 30)))

    def remove_source(self, source_id: str) -> int:
        """Delete a source with its documents, chunks and vectors; returns the number of documents purged."""
        with self.database.session() as session:
            source = SourceRepository(session).get(source_id)
            if source is None:
                raise NotFoundError(f"source {source_id} not found")
            doc_ids = DocumentRepository(session).ids_for_source(source_id)
            self.index.delete_documents(session, source.project_id, doc_ids)
            SourceRepository(session).delete(source)
            return len(doc_ids)
