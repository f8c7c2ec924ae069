"""What each kind of key may do on /api/v1 (issue 9): every route × every kind of key, with and without Origin.

A bearer key with allowed origins sits in web pages, so anyone has it: by default it may chat and rate its own
answers, and read back only the session it opened. A bearer key without origins is a server-side secret with
every scope, refused from browsers. Scopes set with `docsage key create --scope` widen or narrow that. A
refused call changes nothing: the project's threads, answers, feedback, documents and jobs stay as they were.

All keys belong to a project of their own ("Scopes") on the session's server, made with the real CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from .conftest import ChatbotSetup, Key
from .helpers import assert_api_error, chat, ok, thread_id_of

ORIGIN = "https://help.scopes.example"  # allowed by the project's public keys
QUESTION = "When is the help desk open?"
NOTE = b"# Opening hours\n\nThe Scopes help desk is open from 8:00 to 18:00 on weekdays.\n"
ALL = frozenset({"chat", "feedback", "sessions", "usage", "documents", "search"})


@dataclass(frozen=True)
class Kind:
    """A kind of key: how `docsage key create` makes it, and what it may then do (None: not a chatbot key)."""

    name: str
    args: tuple[str, ...]
    scopes: frozenset[str] | None
    public: bool = False


PUBLIC = ("--scheme", "bearer", "--allowed-origin", ORIGIN)
KINDS = [
    Kind("public", PUBLIC, frozenset({"chat", "feedback"}), public=True),
    Kind(
        "public+documents",
        (*PUBLIC, "--scope", "chat", "--scope", "feedback", "--scope", "documents"),
        frozenset({"chat", "feedback", "documents"}),
        public=True,
    ),
    Kind("secret", ("--scheme", "bearer"), ALL),
    Kind("secret-chat-only", ("--scheme", "bearer", "--scope", "chat"), frozenset({"chat"})),
    Kind("revoked", ("--scheme", "bearer"), None),  # a secret key, revoked: every scope, none usable
    Kind("x-api-key", (), None),  # a Kapa API key sent as a bearer key
]
BY_NAME = {kind.name: kind for kind in KINDS}


@dataclass
class Made:
    """One key of a kind, as `docsage key create --json` printed it, with what it did before the matrix ran."""

    kind: Kind
    key: Key
    created: dict[str, Any]
    stderr: str
    session_id: str = ""
    message_id: str = ""


@dataclass
class ScopesSetup:
    chatbot: ChatbotSetup
    project: str
    keys: dict[str, Made]
    document_id: str  # NOTE, uploaded with the secret key: what get/delete are tried on
    listed_keys: list[dict[str, Any]] = field(default_factory=list)

    def client(self, kind: str, with_origin: bool = False) -> httpx.Client:
        key = self.keys[kind].key
        return self.chatbot.client(key, Origin=ORIGIN) if with_origin else self.chatbot.client(key)

    def target(self, kind: str) -> Made:
        """The session and answer a call of this kind is about: its own (an x-api-key key has none: the
        secret key's)."""
        made = self.keys[kind]
        return made if made.session_id else self.keys["secret"]

    def key_ids(self) -> list[str]:
        with closing(self.chatbot.cli.connect()) as conn:
            rows = conn.execute("SELECT id FROM api_keys WHERE project_id = ? ORDER BY id", (self.project,))
            return [row[0] for row in rows]

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Everything of the project a call could change."""
        queries = {
            "threads": "SELECT id, updated_at FROM threads WHERE project_id = ?",
            "answers": "SELECT id FROM question_answers WHERE project_id = ?",
            "feedback": "SELECT f.id, f.reaction, f.comment, f.updated_at FROM feedback f "
            "JOIN question_answers qa ON qa.id = f.question_answer_id WHERE qa.project_id = ?",
            "documents": "SELECT id, updated_at, chunk_count FROM documents WHERE project_id = ?",
            "pending_uploads": "SELECT document_id FROM pending_uploads WHERE project_id = ?",
            "jobs": "SELECT id, status FROM jobs WHERE project_id = ?",
        }
        with closing(self.chatbot.cli.connect()) as conn:
            return {name: sorted(conn.execute(sql, (self.project,)).fetchall()) for name, sql in queries.items()}


def _create(chatbot: ChatbotSetup, project: str, kind: Kind) -> Made:
    result = chatbot.cli("key", "create", "--project", project, *kind.args, "--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    return Made(kind, Key(created["id"], created["key"]), created, result.stderr)


@pytest.fixture(scope="module")
def scoped(chatbot: ChatbotSetup) -> Iterator[ScopesSetup]:
    project = chatbot.cli.json("project", "create", "--name", "Scopes")["id"]
    with ThreadPoolExecutor(max_workers=3) as pool:
        keys = {made.kind.name: made for made in pool.map(lambda k: _create(chatbot, project, k), KINDS)}
    with chatbot.client(keys["secret"].key) as c:
        doc = ok(c.post("/api/v1/documents", files={"file": ("hours.md", NOTE, "text/markdown")}), 201)["document"]
    for name in ("public", "public+documents", "secret", "secret-chat-only", "revoked"):
        with chatbot.client(keys[name].key) as c:
            answer = chat(c, QUESTION)
        keys[name].session_id, keys[name].message_id = answer["session_id"], answer["message_id"]
    assert chatbot.cli.json("key", "revoke", keys["revoked"].key.id)["revoked_at"]
    listed = chatbot.cli.json("key", "list", "--project", project)
    yield ScopesSetup(chatbot, project, keys, doc["id"], listed)


def test_cli_makes_public_keys_chat_only_and_warns_when_one_is_widened(scoped: ScopesSetup) -> None:
    shown = {k["id"]: k for k in scoped.listed_keys}
    for made in scoped.keys.values():
        if made.kind.scopes is None or made.kind.name == "revoked":
            continue
        for view in (made.created, shown[made.key.id]):
            assert set(view["scopes"]) == made.kind.scopes, (made.kind.name, view)
            assert view["public"] is made.kind.public, (made.kind.name, view)
    assert shown[scoped.keys["revoked"].key.id]["revoked_at"]
    # Widening a key anyone can read says so, naming what it opens up; the defaults need no warning.
    warning = " ".join(scoped.keys["public+documents"].stderr.split())
    assert "warning" in warning.lower() and "documents" in warning, warning
    assert "upload" in warning and "delete" in warning, warning
    for name in ("public", "secret", "secret-chat-only"):
        assert "warning" not in scoped.keys[name].stderr.lower(), (name, scoped.keys[name].stderr)


def test_cli_refuses_scopes_on_an_x_api_key_key_and_unknown_scopes(scoped: ScopesSetup) -> None:
    cli = scoped.chatbot.cli
    before = scoped.key_ids()
    x_api_key = cli("key", "create", "--project", scoped.project, "--scope", "chat", "--json")
    assert x_api_key.returncode != 0 and "bearer" in x_api_key.stderr, x_api_key
    unknown = cli("key", "create", "--project", scoped.project, "--scheme", "bearer", "--scope", "admin", "--json")
    assert unknown.returncode != 0 and "admin" in unknown.stderr, unknown
    assert scoped.key_ids() == before, "a refused `key create` made a key"


# --- the matrix -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    scope: str | None  # None: any key of the project (a public one for its own session only)
    success: int
    call: Callable[[httpx.Client, ScopesSetup, str, str], httpx.Response]  # (client, setup, kind, case id)


_doomed: dict[str, str] = {}  # case id -> a document uploaded just for a delete that is expected to succeed


def _upload(c: httpx.Client, s: ScopesSetup, kind: str, case: str) -> httpx.Response:
    return c.post("/api/v1/documents", files={"file": (f"{case}.md", NOTE, "text/markdown")})


def _delete(c: httpx.Client, s: ScopesSetup, kind: str, case: str) -> httpx.Response:
    return c.delete(f"/api/v1/documents/{_doomed.get(case, s.document_id)}")


ROUTES = [
    Route("chat", "chat", 200, lambda c, s, k, case: c.post("/api/v1/chat", json={"message": QUESTION})),
    Route(
        "feedback",
        "feedback",
        200,
        lambda c, s, k, case: c.post(
            "/api/v1/feedback",
            json={"question_answer_id": s.target(k).message_id, "reaction": "up", "comment": case},
        ),
    ),
    Route("usage", "usage", 200, lambda c, s, k, case: c.get("/api/v1/usage")),
    Route("sessions", "sessions", 200, lambda c, s, k, case: c.get("/api/v1/sessions")),
    Route(
        "sessions-include-all",
        "sessions",
        200,
        lambda c, s, k, case: c.get("/api/v1/sessions", params={"include_all": "true"}),
    ),
    Route(
        "sessions-own",
        None,
        200,
        lambda c, s, k, case: c.get("/api/v1/sessions", params={"session_id": s.target(k).session_id}),
    ),
    Route("documents-upload", "documents", 201, _upload),
    Route("documents-list", "documents", 200, lambda c, s, k, case: c.get("/api/v1/documents")),
    Route("documents-get", "documents", 200, lambda c, s, k, case: c.get(f"/api/v1/documents/{s.document_id}")),
    Route("documents-delete", "documents", 200, _delete),
]


def expected_status(kind: Kind, route: Route, with_origin: bool) -> int:
    if kind.scopes is None:
        return 401  # revoked, or not a bearer key
    if with_origin and not kind.public:
        return 403  # a secret key lists no origins: browsers may not use it
    if route.scope is not None and route.scope not in kind.scopes:
        return 403
    return route.success


def _check_success(s: ScopesSetup, route: Route, kind: Kind, case: str, body: dict[str, Any]) -> None:
    """What the caller should see (and what should have changed) when the call is allowed."""
    made = s.target(kind.name)
    if route.name == "chat":
        assert "8:00" in body["answer"] and "18:00" in body["answer"], body["answer"]
        # Bound to the caller by a token when the key may not list sessions (public keys by default).
        bound = kind.public or "sessions" not in (kind.scopes or ())
        assert ("." in body["session_id"]) is bound, body["session_id"]
        after = s.snapshot()
        assert thread_id_of(body["session_id"]) in [t[0] for t in after["threads"]]
    elif route.name == "feedback":
        assert body["feedback"]["message_id"] == made.message_id
        stored = [f for f in s.snapshot()["feedback"] if f[2] and case in f[2]]
        assert [f[1] for f in stored] == ["upvote"], stored
    elif route.name == "usage":
        assert body["usage"]["total_requests"] >= 1
    elif route.name in ("sessions", "sessions-include-all"):
        listed = {x["session_id"] for x in body["sessions"]}
        assert made.session_id in listed
        if route.name == "sessions-include-all":  # the widget's sessions too, by thread id
            assert thread_id_of(s.keys["public"].session_id) in listed
        else:
            assert thread_id_of(s.keys["public"].session_id) not in listed
    elif route.name == "sessions-own":
        assert [x["session_id"] for x in body["sessions"]] == [made.session_id]
    elif route.name == "documents-upload":
        assert (body["document"]["filename"], body["document"]["status"]) == (f"{case}.md", "ready")
        assert body["document"]["id"] in [d[0] for d in s.snapshot()["documents"]]
    elif route.name == "documents-list":
        assert s.document_id in [d["id"] for d in body["documents"]]
    elif route.name == "documents-get":
        assert (body["document"]["id"], body["document"]["status"]) == (s.document_id, "ready")
    elif route.name == "documents-delete":
        assert body["deleted"] == _doomed[case]
        assert _doomed[case] not in [d[0] for d in s.snapshot()["documents"]]


CASES = [
    pytest.param(
        route,
        kind,
        with_origin,
        id=f"{route.name}-{kind.name}-{'origin' if with_origin else 'no-origin'}",
    )
    for route in ROUTES
    for kind in KINDS
    for with_origin in (False, True)
]


@pytest.mark.parametrize(("route", "kind", "with_origin"), CASES)
def test_route_by_key_kind(scoped: ScopesSetup, route: Route, kind: Kind, with_origin: bool) -> None:
    case = f"{route.name}-{kind.name}-{'origin' if with_origin else 'plain'}".replace("+", "-")
    want = expected_status(kind, route, with_origin)
    if route.name == "documents-delete" and want == 200:
        with scoped.chatbot.client(scoped.keys["secret"].key) as c:
            doomed = _upload(c, scoped, "secret", case)
        _doomed[case] = ok(doomed, 201)["document"]["id"]
    before = scoped.snapshot()
    with scoped.client(kind.name, with_origin) as c:
        resp = route.call(c, scoped, kind.name, case)
    if want >= 400:
        error = assert_api_error(resp, want)
        if want == 403 and with_origin and not kind.public:
            assert "origin" in error.lower(), error
        elif want == 403:
            assert ("may" in error or "lacks the" in error) and (route.scope or "session") in error, error
        assert scoped.snapshot() == before, "a refused call changed the project's data"
        return
    _check_success(scoped, route, kind, case, ok(resp, want))


# --- sessions bound to the browser ----------------------------------------------------------------------------


def test_public_session_is_not_continued_or_read_by_thread_id_or_another_public_key(scoped: ScopesSetup) -> None:
    mine = scoped.keys["public"].session_id
    thread_id = thread_id_of(mine)
    before = scoped.snapshot()
    with scoped.client("public", with_origin=True) as c:
        resp = c.post("/api/v1/chat", json={"message": "and on Saturdays?", "session_id": thread_id})
        assert "not found" in assert_api_error(resp, 404)
        assert ok(c.get("/api/v1/sessions", params={"session_id": thread_id}))["sessions"] == []
        assert "session" in assert_api_error(c.get("/api/v1/sessions", params={"include_all": "true"}), 403)
    # Another public key of the project, even holding the whole session id, neither continues nor reads it.
    with scoped.client("public+documents", with_origin=True) as c:
        resp = c.post("/api/v1/chat", json={"message": "and on Saturdays?", "session_id": mine})
        assert "not found" in assert_api_error(resp, 404)
        assert ok(c.get("/api/v1/sessions", params={"session_id": mine}))["sessions"] == []
        resp = c.post(
            "/api/v1/feedback", json={"question_answer_id": scoped.keys["public"].message_id, "reaction": "down"}
        )
        assert_api_error(resp, 404)
    assert scoped.snapshot() == before
    # Its own browser carries on.
    with scoped.client("public", with_origin=True) as c:
        follow = chat(c, "and on Saturdays?", session_id=mine)
    assert follow["session_id"] == mine
    thread = scoped.chatbot.thread(mine, scoped.keys["x-api-key"].key)
    assert [qa["question"] for qa in thread["question_answers"]] == [QUESTION, "and on Saturdays?"]
