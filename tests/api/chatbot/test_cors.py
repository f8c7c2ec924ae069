"""Browser access: a key opens the API only to the origins it lists; preflights pass only for known origins."""

from __future__ import annotations

from .conftest import ORIGIN, PARTNER_ORIGIN, ChatbotSetup
from .helpers import assert_api_error, chat

QUESTION = "How do I set the data region?"
EVIL = "https://evil.example.net"


def preflight(origin: str, path: str = "/api/v1/chat") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


def test_request_from_an_allowed_origin_is_readable(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app, Origin=ORIGIN) as c:
        resp = c.post("/api/v1/chat", json={"message": QUESTION})
        session_id = resp.json()["session_id"]
        own = c.get("/api/v1/sessions", params={"session_id": session_id})
        # What the public key may not do is refused, and the page's script can read why.
        listing = c.get("/api/v1/sessions")
    assert resp.status_code == 200, resp.text
    assert resp.headers.get("access-control-allow-origin") == ORIGIN
    assert "Origin" in resp.headers.get("vary", "")
    assert resp.json()["sources"][0]["url"] == chatbot.url("configuration.md")
    assert own.status_code == 200, own.text
    assert own.headers.get("access-control-allow-origin") == ORIGIN
    assert [s["session_id"] for s in own.json()["sessions"]] == [session_id]
    assert "session" in assert_api_error(listing, 403)
    assert listing.headers.get("access-control-allow-origin") == ORIGIN


def test_streamed_request_from_an_allowed_origin_is_readable(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app, Origin=ORIGIN) as c:
        resp = c.post("/api/v1/chat", json={"message": QUESTION, "stream": True})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers.get("access-control-allow-origin") == ORIGIN


def test_preflight_for_an_allowed_origin(chatbot: ChatbotSetup) -> None:
    with chatbot.client() as c:
        for path in ("/api/v1/chat", "/api/v1/usage", "/api/v1/documents"):
            resp = c.options(path, headers=preflight(ORIGIN))
            assert resp.status_code == 204, (path, resp.status_code, resp.text)
            assert resp.headers.get("access-control-allow-origin") == ORIGIN
            methods = {m.strip().upper() for m in resp.headers.get("access-control-allow-methods", "").split(",")}
            assert {"GET", "POST", "DELETE"} <= methods, methods
            allowed = {h.strip().lower() for h in resp.headers.get("access-control-allow-headers", "").split(",")}
            assert {"authorization", "content-type"} <= allowed, allowed


def test_preflight_for_an_unknown_origin_is_refused(chatbot: ChatbotSetup) -> None:
    with chatbot.client() as c:
        resp = c.options("/api/v1/chat", headers=preflight(EVIL))
    assert not 200 <= resp.status_code < 300, resp.status_code
    assert resp.headers.get("access-control-allow-origin") not in (EVIL, "*")


def test_request_from_a_disallowed_origin_is_403(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app, Origin=EVIL) as c:
        resp = c.post("/api/v1/chat", json={"message": QUESTION})
        streamed = c.post("/api/v1/chat", json={"message": QUESTION, "stream": True})
        listed = c.get("/api/v1/sessions")
    assert "origin" in assert_api_error(resp, 403).lower()
    assert_api_error(streamed, 403)
    assert_api_error(listed, 403)


def test_origin_allowed_by_another_key_is_still_refused(chatbot: ChatbotSetup) -> None:
    """PARTNER_ORIGIN passes preflights (project Q's key lists it) but the main key does not list it."""
    with chatbot.client() as c:
        assert c.options("/api/v1/chat", headers=preflight(PARTNER_ORIGIN)).status_code == 204
    with chatbot.client(chatbot.app, Origin=PARTNER_ORIGIN) as c:
        assert_api_error(c.post("/api/v1/chat", json={"message": QUESTION}), 403)
    with chatbot.client(chatbot.other, Origin=PARTNER_ORIGIN) as c:
        resp = c.post("/api/v1/chat", json={"message": QUESTION})
    assert resp.status_code == 200, resp.text
    assert resp.headers.get("access-control-allow-origin") == PARTNER_ORIGIN


def test_server_to_server_request_without_origin_is_allowed(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        body = chat(c, QUESTION)
        assert body["is_uncertain"] is False
        assert "SKYLOOM_REGION" in body["answer"]
