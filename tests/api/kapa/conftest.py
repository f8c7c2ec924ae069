"""Shared setup of the Kapa /query/v1 tests: real `docsage` homes built through the CLI and real servers.

The root conftest's `docsage_home`/`run_cli`/`live_server` are function-scoped, so the session-wide homes
here are built with the same `Cli`, `write_docs` and `serve` helpers they wrap: one home with ingested docs
and one server for most tests, plus a second home for the rate-limit tests (each of those gets a fresh
server, since the limiter lives in the server process).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import Cli, LiveServer, serve, write_docs

from .helpers import CHANGELOG_VERSIONS, changelog

# The main server must not throttle: dozens of tests chat and retrieve against it within a minute.
UNLIMITED = {"DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0", "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "0"}
RATE_LIMITS = {"DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "2", "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "3"}


@dataclass(frozen=True)
class Project:
    id: str
    key: str
    key_id: str
    team: str


@dataclass
class KapaHome:
    """A docsage home set up through the CLI, and (for the main home) the server running on it."""

    cli: Cli
    docs: Path
    server: LiveServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return self.server.base_url

    def client(self, project: Project | None = None, key: str | None = None) -> httpx.Client:
        headers = {"X-API-KEY": key if key is not None else project.key} if (project or key) else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, follow_redirects=False)


def create_project(cli: Cli, name: str, sources: Sequence[tuple[str, Path]] = ()) -> Project:
    """Project + key (+ folder sources, ingested) through the real CLI."""
    project = cli.json("project", "create", "--name", name)
    key = cli.json("key", "create", "--project", project["id"])
    for source_name, path in sources:
        cli.json("source", "add", "--project", project["id"], "--type", "folder", "--path", path, "--name", source_name)
    if sources:
        result = cli("ingest", "--project", project["id"])
        assert result.returncode == 0, f"ingest failed: {result.stdout}\n{result.stderr}"
    return Project(project["id"], key["key"], key["id"], project["team"])


def create_integration(cli: Cli, project: Project, type_: str, name: str) -> str:
    return str(cli.json("integration", "create", "--project", project.id, "--type", type_, "--name", name)["id"])


@dataclass
class MainSetup:
    """Project A: the Skyloom manual. Project B (same team): the Skyloom manual and a long changelog."""

    home: KapaHome
    a: Project
    b: Project
    a_api_integration: str

    def url(self, name: str) -> str:
        """The citation URL of one page of the Skyloom manual (the folder connector cites file:// URLs)."""
        return (self.home.docs / name).resolve().as_uri()

    @property
    def changelog_url(self) -> str:
        return (self.home.docs.parent / "changelog" / "changelog.md").resolve().as_uri()


@pytest.fixture(scope="session")
def kapa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainSetup]:
    root = tmp_path_factory.mktemp("kapa-main")
    home = root / "home"
    home.mkdir()
    docs = write_docs(root)
    extra = root / "changelog"
    extra.mkdir()
    (extra / "changelog.md").write_text(changelog(CHANGELOG_VERSIONS), encoding="utf-8")
    cli = Cli(home)
    a = create_project(cli, "Skyloom", [("skyloom-docs", docs)])
    b = create_project(cli, "Other", [("skyloom-docs", docs), ("changelog", extra)])
    integration = create_integration(cli, a, "API", "backend")
    with serve(home, UNLIMITED) as server:
        yield MainSetup(KapaHome(cli, docs, server), a, b, integration)


@dataclass
class RateLimitSetup:
    home: Path
    first: Project
    second: Project  # another project of the same (default) team


@pytest.fixture(scope="session")
def rate_limit_setup(tmp_path_factory: pytest.TempPathFactory) -> RateLimitSetup:
    root = tmp_path_factory.mktemp("kapa-ratelimit")
    home = root / "home"
    home.mkdir()
    docs = write_docs(root)
    cli = Cli(home)
    first = create_project(cli, "First", [("skyloom-docs", docs)])
    second = create_project(cli, "Second")
    assert first.team == second.team, "projects created by the CLI share the default team"
    return RateLimitSetup(home, first, second)


@pytest.fixture
def rate_limited_server(rate_limit_setup: RateLimitSetup) -> Iterator[LiveServer]:
    """A fresh server (fresh in-process limiter): chat 2/min, retrieval 3/min per team."""
    with serve(rate_limit_setup.home, RATE_LIMITS) as server:
        yield server
