"""GET /api/v1/sessions: an app's chat sessions, most recent activity first, paginated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from .conftest import ChatbotSetup
from .helpers import assert_api_error, chat, ok, thread_id_of


def _session_of(c: httpx.Client, message: str, session_id: str | None = None) -> tuple[str, dict[str, Any]]:
    extra = {"session_id": session_id} if session_id else {}
    body = chat(c, message, **extra)
    return body["session_id"], body


def test_sessions_paginate_newest_activity_first(chatbot: ChatbotSetup) -> None:
    started = datetime.now(UTC) - timedelta(seconds=5)
    tokens: dict[str, int] = {}
    latest: dict[str, str] = {}
    with chatbot.client(chatbot.sessions_key) as c:
        order = []
        for question in ("How do I install Skyloom?", "How often does the daemon sync?", "What is the API rate limit?"):
            sid, body = _session_of(c, question)
            order.append(sid)
            tokens[sid] = body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
            latest[sid] = body["answer"]
        # A follow-up in the first session makes it the most recently active one.
        _, follow = _session_of(c, "how do I upgrade it?", order[0])
        tokens[order[0]] += follow["usage"]["input_tokens"] + follow["usage"]["output_tokens"]
        latest[order[0]] = follow["answer"]

        first = ok(c.get("/api/v1/sessions", params={"per_page": 2}))
        second = ok(c.get("/api/v1/sessions", params={"per_page": 2, "page": 2}))
        everything = ok(c.get("/api/v1/sessions"))

    expected = [order[0], order[2], order[1]]
    assert [s["session_id"] for s in first["sessions"]] == expected[:2]
    assert first["meta"] == {"current_page": 1, "per_page": 2, "has_more": True}
    assert [s["session_id"] for s in second["sessions"]] == expected[2:]
    assert second["meta"] == {"current_page": 2, "per_page": 2, "has_more": False}
    assert [s["session_id"] for s in everything["sessions"]] == expected
    assert everything["meta"] == {"current_page": 1, "per_page": 20, "has_more": False}

    last_ats = []
    for session in everything["sessions"]:
        sid = session["session_id"]
        assert set(session) >= {"session_id", "last_at", "total_tokens", "preview"}
        assert session["last_at"].endswith("Z"), session["last_at"]
        last_at = datetime.fromisoformat(session["last_at"].replace("Z", "+00:00"))
        assert started <= last_at <= datetime.now(UTC) + timedelta(seconds=5)
        last_ats.append(last_at)
        assert session["total_tokens"] == tokens[sid] > 0
        # The preview is the start of the session's latest answer.
        assert session["preview"].strip() and latest[sid].startswith(session["preview"]), (session, latest[sid])
    assert last_ats == sorted(last_ats, reverse=True)
    assert "pip install --upgrade" in latest[order[0]]


def test_include_all_shows_the_projects_other_apps(chatbot: ChatbotSetup) -> None:
    """A secret key lists the project's sessions by thread id: the widget's (public key's) ones too."""
    with chatbot.client(chatbot.app) as c:
        widget_session, _ = _session_of(c, "How do I verify webhook signatures?")
    with chatbot.client(chatbot.backend) as c:
        backend_session, _ = _session_of(c, "How do I set the data region?")
    theirs = {thread_id_of(widget_session), backend_session}
    with chatbot.client(chatbot.sessions_key) as c:
        mine = ok(c.get("/api/v1/sessions", params={"per_page": 100}))
        everyone = ok(c.get("/api/v1/sessions", params={"per_page": 100, "include_all": "true"}))
    assert not theirs & {s["session_id"] for s in mine["sessions"]}
    assert theirs <= {s["session_id"] for s in everyone["sessions"]}
    assert {s["session_id"] for s in mine["sessions"]} <= {s["session_id"] for s in everyone["sessions"]}
    with chatbot.client(chatbot.other_server) as c:  # another project's key sees none of P's sessions
        foreign = ok(c.get("/api/v1/sessions", params={"per_page": 100, "include_all": "true"}))
    assert not theirs & {s["session_id"] for s in foreign["sessions"]}


def test_public_key_reads_only_its_own_session(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        session_id, body = _session_of(c, "How do I verify webhook signatures?")
        own = ok(c.get("/api/v1/sessions", params={"session_id": session_id}))
        [session] = own["sessions"]
        assert session["session_id"] == session_id
        assert body["answer"].startswith(session["preview"]) and session["preview"].strip()
        # Listing, include_all, or someone else's session: refused or nothing to see.
        assert "session" in assert_api_error(c.get("/api/v1/sessions"), 403)
        assert_api_error(c.get("/api/v1/sessions", params={"include_all": "true"}), 403)
        assert_api_error(c.get("/api/v1/sessions", params={"include_all": "true", "session_id": session_id}), 403)
        thread_only = ok(c.get("/api/v1/sessions", params={"session_id": thread_id_of(session_id)}))
        assert thread_only["sessions"] == []
    with chatbot.client(chatbot.app2) as c:  # another public key of P, holding the full session id
        assert ok(c.get("/api/v1/sessions", params={"session_id": session_id}))["sessions"] == []


def test_session_paging_is_validated(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        assert_api_error(c.get("/api/v1/sessions", params={"page": 0}), 422)
        assert_api_error(c.get("/api/v1/sessions", params={"per_page": 0}), 422)
        assert_api_error(c.get("/api/v1/sessions", params={"per_page": 101}), 422)
