"""`stream: true`: server-sent events a browser or server can read as they arrive (extractive answers)."""

from __future__ import annotations

from .conftest import ChatbotSetup
from .helpers import cited_urls, names, parse_sse, streamed_text

QUESTION = "How do I verify webhook signatures?"


def test_stream_sends_messages_then_sources_then_end(chatbot: ChatbotSetup) -> None:
    with (
        chatbot.client(chatbot.app) as c,
        c.stream("POST", "/api/v1/chat", json={"message": QUESTION, "stream": True}) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers.get("cache-control") == "no-cache"
        text = "".join(resp.iter_text())
    events = parse_sse(text)
    kinds = names(events)
    assert kinds[-2:] == ["sources", "end"], kinds
    assert set(kinds[:-2]) == {"message"} and len(kinds) > 3, "the answer arrives in several message events"

    answer = streamed_text(events)
    assert "X-Skyloom-Signature" in answer
    assert set(cited_urls(answer)) == {chatbot.url("webhooks.html")}
    sources = events[-2][1]["sources"]
    assert sources[0]["url"] == chatbot.url("webhooks.html")
    assert all(s["title"] and s["url"] for s in sources)

    end = events[-1][1]
    session_id = end["session_id"]
    # What was streamed is what was stored in the session.
    [qa] = chatbot.thread(session_id)["question_answers"]
    assert qa["answer"] == answer
    assert qa["question"] == QUESTION
    assert end.get("message_id", qa["id"]) == qa["id"]


def test_streamed_follow_up_continues_the_session(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        first = parse_sse(
            c.post("/api/v1/chat", json={"message": "How often does the daemon sync?", "stream": True}).text
        )
        session_id = first[-1][1]["session_id"]
        resp = c.post("/api/v1/chat", json={"message": "How do I change it?", "stream": True, "session_id": session_id})
    assert resp.status_code == 200
    follow = parse_sse(resp.text)
    assert follow[-1] == ("end", {**follow[-1][1], "session_id": session_id})
    assert "sync_interval_seconds" in streamed_text(follow)
    answers = [qa["answer"] for qa in chatbot.thread(session_id)["question_answers"]]
    assert answers == [streamed_text(first), streamed_text(follow)]


def test_stream_and_plain_reply_give_the_same_answer(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        plain = c.post("/api/v1/chat", json={"message": QUESTION}).json()
        streamed = parse_sse(c.post("/api/v1/chat", json={"message": QUESTION, "stream": True}).text)
    assert streamed_text(streamed) == plain["answer"]
    assert [s["url"] for s in streamed[-2][1]["sources"]] == [s["url"] for s in plain["sources"]]
    assert streamed[-1][1]["session_id"] != plain["session_id"], "no session_id: a new session each time"
