"""docsage homes for the agent surfaces' tests (MCP, OpenAI-compatible API), built through the real CLI.

Project "Skyloom" holds the Skyloom manual; project "Changelog" (same team) only the long release notes, so
an answer or a passage tells which project it came from. Skyloom has one key of each kind an agent could hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conftest import Cli, open_services, write_docs
from docsage.projects.service import CreatedKey

PUBLIC_ORIGIN = "https://help.skyloom.example"
# Set on the main servers: dozens of calls within a minute must not be throttled.
UNLIMITED = {"DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0", "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "0"}
RATE_LIMITED = {"DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "2", "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "3"}


@dataclass(frozen=True)
class Keys:
    secret: str  # bearer, no allowed origins: every scope
    chat_only: str  # bearer narrowed to chat
    search_only: str  # bearer narrowed to search
    public: str  # bearer with an allowed origin: chat and feedback
    kapa: str  # x-api-key: for /query/v1, not the agent surfaces
    revoked: str
    secret_id: str


@dataclass(frozen=True)
class AgentHome:
    cli: Cli
    docs: Path
    skyloom: str  # project ids
    changelog: str
    keys: Keys
    changelog_key: str  # a secret bearer key of the Changelog project

    def url(self, name: str) -> str:
        """The citation URL of a page of the Skyloom manual (the folder connector cites file:// URLs)."""
        return (self.docs / name).resolve().as_uri()


def changelog_page() -> str:
    parts = ["# Skyloom desktop changelog\n"]
    for n in range(12):
        parts.append(
            f"## Version 7.{n}.0\n\nRelease 7.{n}.0 of the Skyloom desktop app replaces the thumbnail renderer "
            f"with build {9000 + n} and fixes crash report {5100 + n} in the conflict resolver.\n"
        )
    return "\n".join(parts)


def build_agent_home(root: Path) -> AgentHome:
    """Projects, sources and ingests through the CLI; the keys through the same project service in-process
    (a dozen CLI start-ups would cost more than the rest of the setup)."""
    home = root / "home"
    home.mkdir()
    cli = Cli(home)
    docs = write_docs(root)
    notes = root / "changelog"
    notes.mkdir()
    (notes / "changelog.md").write_text(changelog_page(), encoding="utf-8")
    projects = {}
    for name, folder in (("Skyloom", docs), ("Changelog", notes)):
        project = str(cli.json("project", "create", "--name", name)["id"])
        cli.json("source", "add", "--project", project, "--type", "folder", "--path", folder, "--name", folder.name)
        result = cli("ingest", "--project", project)
        assert result.returncode == 0, f"ingest failed: {result.stdout}\n{result.stderr}"
        projects[name] = project
    sky = projects["Skyloom"]
    with open_services(home) as services:
        keys = services.projects

        def bearer(project: str = sky, **options: object) -> CreatedKey:
            return keys.create_key(project, "bearer", **options)  # type: ignore[arg-type]

        secret, revoked = bearer(name="agent"), bearer()
        keys.revoke_key(revoked.key.id)
        made = Keys(
            secret=secret.secret,
            chat_only=bearer(scopes=["chat"]).secret,
            search_only=bearer(scopes=["search"]).secret,
            public=bearer(allowed_origins=[PUBLIC_ORIGIN]).secret,
            kapa=keys.create_key(sky).secret,
            revoked=revoked.secret,
            secret_id=secret.key.id,
        )
        changelog_key = bearer(projects["Changelog"]).secret
    return AgentHome(cli, docs, sky, projects["Changelog"], made, changelog_key)
