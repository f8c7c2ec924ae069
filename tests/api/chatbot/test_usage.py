"""GET /api/v1/usage: requests, tokens and cost of one key (an "app"), in total and per model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .conftest import ChatbotSetup
from .helpers import assert_api_error, chat, ok

QUESTIONS_A = ["How do I install Skyloom?", "How often does the daemon sync?", "How long until access tokens expire?"]
QUESTIONS_B = ["How do I verify webhook signatures?", "What does connection refused mean?"]
ZERO = {"total_requests": 0, "total_input_tokens": 0, "total_output_tokens": 0, "total_tokens": 0, "total_cost": 0}


def test_usage_counts_this_keys_chats_only(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.usage_key) as c:
        replies = [chat(c, q) for q in QUESTIONS_A]
    with chatbot.client(chatbot.app) as c:  # key B of the same project
        for q in QUESTIONS_B:
            chat(c, q)
    today = datetime.now(UTC).date()
    with chatbot.client(chatbot.usage_key) as c:
        body = ok(c.get("/api/v1/usage"))
        same_day = ok(c.get("/api/v1/usage", params={"start_date": today.isoformat(), "end_date": today.isoformat()}))
        tomorrow = ok(c.get("/api/v1/usage", params={"start_date": (today + timedelta(days=1)).isoformat()}))
        past = ok(c.get("/api/v1/usage", params={"start_date": "2024-01-01", "end_date": "2024-12-31"}))

    inp = sum(r["usage"]["input_tokens"] for r in replies)
    out = sum(r["usage"]["output_tokens"] for r in replies)
    assert inp > 0 and out > 0
    usage = body["usage"]
    assert usage == {
        "total_requests": len(QUESTIONS_A),
        "total_input_tokens": inp,
        "total_output_tokens": out,
        "total_tokens": inp + out,
        "total_cost": 0,
    }
    assert body["by_model"] == [
        {
            "model": "extractive",
            "requests": len(QUESTIONS_A),
            "input_tokens": inp,
            "output_tokens": out,
            "total_tokens": inp + out,
            "cost": 0,
        }
    ]
    # end_date is inclusive: today's chats are in a range ending today.
    assert same_day["usage"] == usage
    assert tomorrow["usage"] == ZERO and tomorrow["by_model"] == []
    assert past["usage"] == ZERO and past["by_model"] == []


def test_usage_counts_streamed_chats_too(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.backend) as c:
        before = ok(c.get("/api/v1/usage"))["usage"]["total_requests"]
        resp = c.post("/api/v1/chat", json={"message": "How do I set the data region?", "stream": True})
        assert resp.status_code == 200
        after = ok(c.get("/api/v1/usage"))["usage"]
    assert after["total_requests"] == before + 1
    assert after["total_tokens"] > 0


def test_usage_date_validation(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.backend) as c:
        backwards = c.get("/api/v1/usage", params={"start_date": "2024-02-01", "end_date": "2024-01-01"})
        assert "end_date" in assert_api_error(backwards, 422)
        assert "start_date" in assert_api_error(c.get("/api/v1/usage", params={"start_date": "2024-13-01"}), 422)
        assert "end_date" in assert_api_error(c.get("/api/v1/usage", params={"end_date": "yesterday"}), 422)


def test_public_key_cannot_read_usage(chatbot: ChatbotSetup) -> None:
    """Usage and cost are the team's business, not every visitor's of the page the widget key sits in."""
    with chatbot.client(chatbot.app) as c:
        resp = c.get("/api/v1/usage")
    assert "usage" in assert_api_error(resp, 403)
    assert "total_requests" not in resp.text
