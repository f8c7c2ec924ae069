"""POST /api/v1/feedback: thumbs up or down on an answer, visible in the Kapa thread view."""

from __future__ import annotations

import uuid

from .conftest import ChatbotSetup
from .helpers import assert_api_error, chat, ok


def test_feedback_is_recorded_and_updated(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        answer = chat(c, "How do I verify webhook signatures?")
        up = ok(c.post("/api/v1/feedback", json={"question_answer_id": answer["message_id"], "reaction": "up"}))
        assert up["feedback"]["message_id"] == answer["message_id"]
        assert up["feedback"]["reaction"] == "upvote"
        [qa] = chatbot.thread(answer["session_id"])["question_answers"]
        assert [f["reaction"] for f in qa["feedback"]] == ["upvote"]

        down = ok(
            c.post(
                "/api/v1/feedback",
                json={"question_answer_id": answer["message_id"], "reaction": "down", "comment": "too long"},
            )
        )
        assert down["feedback"]["id"] == up["feedback"]["id"], "a second call updates the first"
    [qa] = chatbot.thread(answer["session_id"])["question_answers"]
    assert [(f["reaction"], f["comment"]) for f in qa["feedback"]] == [("downvote", "too long")]


def test_feedback_on_unknown_or_foreign_answers_is_404(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        answer = chat(c, "How long until access tokens expire?")
        assert_api_error(
            c.post("/api/v1/feedback", json={"question_answer_id": str(uuid.uuid4()), "reaction": "up"}), 404
        )
    # Another project's keys, and another public key of the same project (a page's key rates only the answers
    # that page was given), find no such answer.
    for key in (chatbot.other, chatbot.other_server, chatbot.app2):
        with chatbot.client(key) as c:
            resp = c.post("/api/v1/feedback", json={"question_answer_id": answer["message_id"], "reaction": "down"})
            assert "not found" in assert_api_error(resp, 404)
    [qa] = chatbot.thread(answer["session_id"])["question_answers"]
    assert qa["feedback"] == []


def test_secret_key_rates_any_answer_of_its_project(chatbot: ChatbotSetup) -> None:
    """A backend (say, a support tool) records a verdict on an answer its widget gave."""
    with chatbot.client(chatbot.app) as c:
        answer = chat(c, "How do I set the data region?")
    with chatbot.client(chatbot.backend) as c:
        body = {"question_answer_id": answer["message_id"], "reaction": "down", "comment": "wrong region"}
        assert ok(c.post("/api/v1/feedback", json=body))["feedback"]["reaction"] == "downvote"
    [qa] = chatbot.thread(answer["session_id"])["question_answers"]
    assert [(f["reaction"], f["comment"]) for f in qa["feedback"]] == [("downvote", "wrong region")]


def test_feedback_reaction_is_validated(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        answer = chat(c, "How do I set the data region?")
        resp = c.post("/api/v1/feedback", json={"question_answer_id": answer["message_id"], "reaction": "meh"})
        assert "reaction" in assert_api_error(resp, 422)
        assert_api_error(c.post("/api/v1/feedback", json={"reaction": "up"}), 422)
