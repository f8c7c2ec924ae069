"""Shared setup of the chatbot /api/v1 tests: one docsage home built through the real CLI, one server on it.

Everything a user does before calling the API happens here once per session, with the installed `docsage`
executable: projects, folder sources, ingestion and bearer keys with allowed origins. Tests that need a
differently configured server (OpenAI provider, small upload limit, strict rate limit) start their own on
the same home with `serve(home, extra_env)`.

Keys come in two kinds (issue 9): a bearer key with allowed origins is public (it sits in web pages) and may
only chat and rate answers, reading back only the sessions it opened; a bearer key without origins is a
server-side secret with every scope. Usage and sessions are reported per key, so the tests that count them get
secret keys nobody else uses; those plain keys are made in-process through the same ProjectService (a CLI call
costs a second of process start), while every key whose CLI options matter (--scheme, --allowed-origin,
--scope) comes from `docsage key create`.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Cli, LiveServer, open_services, serve, write_docs
from docsage.services import Services

from .helpers import thread_id_of

ORIGIN = "https://app.example.com"  # allowed by the main bearer key
PARTNER_ORIGIN = "https://partner.example.com"  # allowed only by project Q's key
RETIRING_ORIGIN = "https://retired.example.com"  # allowed only by the key the auth test revokes

# The main server must not throttle: many tests chat against it within a minute.
UNLIMITED = {
    "DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0",
    "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "0",
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN": "0",
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN_TOTAL": "0",
}


@dataclass(frozen=True)
class Key:
    id: str
    secret: str


@dataclass
class ChatbotSetup:
    """Project P and D: the Skyloom manual (D is where uploads go). Project Q: no documents."""

    cli: Cli
    docs: Path
    server: LiveServer
    p: str
    d: str
    q: str
    app: Key  # public bearer key of P allowing ORIGIN (chat and feedback only): the key most tests use
    backend: Key  # secret bearer key of P (no origins, every scope): what a backend calls the API with
    usage_key: Key  # secret bearer key of P, only used by the usage test
    sessions_key: Key  # secret bearer key of P, only used by the sessions test
    openai_key: Key  # secret bearer key of P, only used by the cost test
    app2: Key  # a second public bearer key of P allowing ORIGIN (another app of the same project)
    retiring: Key  # bearer key of P allowing RETIRING_ORIGIN, revoked by a test
    kapa: Key  # x-api-key key of P (Kapa API: thread view)
    uploads: Key  # secret bearer key of D
    uploads_kapa: Key  # x-api-key key of D (Kapa API: retrieval)
    other: Key  # public bearer key of Q allowing PARTNER_ORIGIN
    other_server: Key  # secret bearer key of Q

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def db_path(self) -> Path:
        return self.cli.db_path

    def url(self, name: str) -> str:
        """The citation URL of one page of the Skyloom manual (the folder connector cites file:// URLs)."""
        return (self.docs / name).resolve().as_uri()

    def client(self, key: Key | None = None, server: LiveServer | None = None, **headers: str) -> httpx.Client:
        """A client of /api/v1 sending `Authorization: Bearer <key>` (no auth header without a key)."""
        if key is not None:
            headers["Authorization"] = f"Bearer {key.secret}"
        base = (server or self.server).base_url
        return httpx.Client(base_url=base, headers=headers, timeout=60, follow_redirects=False)

    def kapa_client(self, key: Key | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-API-KEY": (key or self.kapa).secret}, timeout=60)

    def thread(self, session_id: str, key: Key | None = None) -> dict[str, Any]:
        """The Kapa view of a chatbot session (GET /query/v1/threads/{id}/ with an X-API-KEY of the project); a
        public key's session id is `<thread id>.<token>`, and the Kapa API knows the thread id."""
        with self.kapa_client(key) as c:
            resp = c.get(f"/query/v1/threads/{thread_id_of(session_id)}/")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


def _key(cli: Cli, project: str, *args: str) -> Key:
    created = cli.json("key", "create", "--project", project, *args)
    assert created["key"], created
    return Key(created["id"], created["key"])


def _bearer(cli: Cli, project: str, *origins: str) -> Key:
    return _key(cli, project, "--scheme", "bearer", *[a for o in origins for a in ("--allowed-origin", o)])


def _isolated_key(services: Services, project: str, scheme: str) -> Key:
    """A key made in-process by the same ProjectService the CLI calls (no process start: setup time matters)."""
    created = services.projects.create_key(project, scheme, [], "test isolation")
    return Key(created.key.id, created.secret)


@pytest.fixture(scope="session")
def chatbot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatbotSetup]:
    root = tmp_path_factory.mktemp("chatbot")
    home = root / "home"
    home.mkdir()
    docs = write_docs(root)
    cli = Cli(home)

    def index(project: str) -> None:
        cli.json("source", "add", "--project", project, "--type", "folder", "--path", docs, "--name", "manual")
        result = cli("ingest", "--project", project)
        assert result.returncode == 0, f"ingest failed: {result.stdout}\n{result.stderr}"

    # The first call creates the schema (concurrent first calls on a fresh home race to migrate it). After that,
    # each CLI call being a process of its own, they run side by side.
    p = cli.json("project", "create", "--name", "Skyloom")["id"]
    with ThreadPoolExecutor(max_workers=3) as pool:
        ingests = [pool.submit(index, p)]
        projects = [pool.submit(cli.json, "project", "create", "--name", name) for name in ("Uploads", "Elsewhere")]
        d, q = (f.result()["id"] for f in projects)
        ingests.append(pool.submit(index, d))
        # The keys whose CLI options matter (scheme, allowed origins) are made with `docsage key create`.
        cli_keys = {
            "app": pool.submit(_bearer, cli, p, ORIGIN),
            "app2": pool.submit(_bearer, cli, p, ORIGIN),
            "retiring": pool.submit(_bearer, cli, p, RETIRING_ORIGIN),
            "other": pool.submit(_bearer, cli, q, PARTNER_ORIGIN),
            "kapa": pool.submit(_key, cli, p),
        }
        with open_services(home) as services:
            made = {
                "backend": _isolated_key(services, p, "bearer"),
                "usage_key": _isolated_key(services, p, "bearer"),
                "sessions_key": _isolated_key(services, p, "bearer"),
                "openai_key": _isolated_key(services, p, "bearer"),
                "uploads": _isolated_key(services, d, "bearer"),
                "uploads_kapa": _isolated_key(services, d, "x-api-key"),
                "other_server": _isolated_key(services, q, "bearer"),
            }
        made.update({name: future.result() for name, future in cli_keys.items()})
        for ingest in ingests:
            ingest.result()
    with serve(home, UNLIMITED) as server:
        yield ChatbotSetup(cli=cli, docs=docs, server=server, p=p, d=d, q=q, **made)
