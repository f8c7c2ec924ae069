"""Chat rate limit of the chatbot API: the third message in a minute is 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import LiveServer, serve

from .conftest import ChatbotSetup
from .helpers import assert_api_error, chat, ok


@pytest.fixture
def limited_server(chatbot: ChatbotSetup) -> Iterator[LiveServer]:
    """A fresh server (fresh in-process limiter) allowing 2 chats per minute per team."""
    with serve(chatbot.cli.home, {"DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "2"}) as server:
        yield server


def test_third_chat_in_a_minute_is_429(chatbot: ChatbotSetup, limited_server: LiveServer) -> None:
    with chatbot.client(chatbot.app, server=limited_server) as c:
        chat(c, "How do I install Skyloom?")
        streamed = c.post("/api/v1/chat", json={"message": "How often does the daemon sync?", "stream": True})
        assert streamed.status_code == 200 and "event: end" in streamed.text
        refused = c.post("/api/v1/chat", json={"message": "How do I verify webhook signatures?"})
        refused_stream = c.post("/api/v1/chat", json={"message": "How do I set the data region?", "stream": True})
        # Reading usage and sessions is not a chat: still available.
        ok(c.get("/api/v1/usage"))
    assert_api_error(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60, refused.headers.get("Retry-After")
    assert_api_error(refused_stream, 429)
    assert refused_stream.headers.get("Retry-After")
