"""Chat rate limits of the chatbot API: a secret key spends the team's budget, a public key its own budgets
(per client and in total), and neither can use up the other's; past a budget the answer is 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conftest import LiveServer, serve

from .conftest import ChatbotSetup
from .helpers import assert_api_error, chat, ok

QUESTIONS = (
    "How do I install Skyloom?",
    "How often does the daemon sync?",
    "How do I verify webhook signatures?",
    "How do I set the data region?",
)


@pytest.fixture
def limited_server(chatbot: ChatbotSetup) -> Iterator[LiveServer]:
    """A fresh server (fresh in-process limiter): 2 chats per minute per team for secret keys; 2 per client and
    3 in total per public key."""
    env = {
        "DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "2",
        "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN": "2",
        "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN_TOTAL": "3",
    }
    with serve(chatbot.cli.home, env) as server:
        yield server


def _assert_429(resp: httpx.Response) -> None:
    assert_api_error(resp, 429)
    assert 1 <= int(resp.headers["Retry-After"]) <= 60, resp.headers.get("Retry-After")


def _from(client_ip: str) -> dict[str, str]:
    """A browser at this address, as the reverse proxy in front of docsage (loopback, trusted) reports it."""
    return {"X-Forwarded-For": client_ip}


def test_third_chat_in_a_minute_is_429(chatbot: ChatbotSetup, limited_server: LiveServer) -> None:
    """The team's budget, spent by a secret (server-side) key; a widget's visitors keep chatting meanwhile."""
    with chatbot.client(chatbot.backend, server=limited_server) as c:
        chat(c, QUESTIONS[0])
        streamed = c.post("/api/v1/chat", json={"message": QUESTIONS[1], "stream": True})
        assert streamed.status_code == 200 and "event: end" in streamed.text
        refused = c.post("/api/v1/chat", json={"message": QUESTIONS[2]})
        refused_stream = c.post("/api/v1/chat", json={"message": QUESTIONS[3], "stream": True})
        # Reading usage and sessions is not a chat: still available.
        ok(c.get("/api/v1/usage"))
        ok(c.get("/api/v1/sessions"))
    _assert_429(refused)
    _assert_429(refused_stream)
    with chatbot.client(chatbot.app, server=limited_server, **_from("203.0.113.10")) as c:
        assert "X-Skyloom-Signature" in chat(c, QUESTIONS[2])["answer"]


def test_public_key_has_budgets_per_client_and_in_total(chatbot: ChatbotSetup, limited_server: LiveServer) -> None:
    """Public traffic never touches the team's budget: after a widget key's budgets are spent, the team's
    server-side key still chats, and so does another project's widget."""
    with chatbot.client(chatbot.app, server=limited_server, **_from("203.0.113.1")) as alice:
        chat(alice, QUESTIONS[0])
        streamed = alice.post("/api/v1/chat", json={"message": QUESTIONS[1], "stream": True})
        assert streamed.status_code == 200 and "event: end" in streamed.text
        _assert_429(alice.post("/api/v1/chat", json={"message": QUESTIONS[2]}))  # alice's own budget: 2
        _assert_429(alice.post("/api/v1/chat", json={"message": QUESTIONS[2], "stream": True}))
    with chatbot.client(chatbot.app, server=limited_server, **_from("203.0.113.2")) as bob:
        chat(bob, QUESTIONS[2])  # alice's refusals did not count: the key's third
    with chatbot.client(chatbot.app, server=limited_server, **_from("203.0.113.3")) as carol:
        _assert_429(carol.post("/api/v1/chat", json={"message": QUESTIONS[3]}))  # the key's total: 3
    with chatbot.client(chatbot.backend, server=limited_server) as c:
        assert "SKYLOOM_REGION" in chat(c, QUESTIONS[3])["answer"]
        chat(c, QUESTIONS[0])
    with chatbot.client(chatbot.other, server=limited_server, **_from("203.0.113.3")) as partner:
        chat(partner, QUESTIONS[0])
