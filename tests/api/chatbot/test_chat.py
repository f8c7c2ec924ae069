"""POST /api/v1/chat without streaming, as an app developer meets it: answers, sessions, validation, keys."""

from __future__ import annotations

import uuid

from .conftest import RETIRING_ORIGIN, ChatbotSetup
from .helpers import assert_api_error, chat, cited_urls, ok, thread_id_of

INSTALL = "How do I install Skyloom?"


def test_chat_answers_from_the_right_page_with_sources_and_usage(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        body = chat(c, INSTALL)
    assert set(body) >= {"success", "session_id", "message_id", "answer", "sources", "is_uncertain", "usage"}
    # A public key's session is bound to the browser that opened it: `<thread id>.<token>`.
    thread_id, _, token = body["session_id"].partition(".")
    uuid.UUID(thread_id)
    assert len(token) >= 16, body["session_id"]
    uuid.UUID(body["message_id"])
    assert body["is_uncertain"] is False
    assert "pip install skyloom-cli" in body["answer"]
    # The answer links its claims to the install page, which is also the first source.
    assert cited_urls(body["answer"]) and set(cited_urls(body["answer"])) == {chatbot.url("install.md")}
    assert body["sources"], body
    for source in body["sources"]:
        assert isinstance(source["title"], str) and source["title"]
        assert isinstance(source["url"], str) and source["url"]
    assert (body["sources"][0]["title"], body["sources"][0]["url"]) == ("Installing Skyloom", chatbot.url("install.md"))
    urls = [s["url"] for s in body["sources"]]
    assert len(urls) == len(set(urls)), "each page is listed once"
    usage = body["usage"]
    assert usage["model"] == "extractive"
    assert isinstance(usage["input_tokens"], int) and usage["input_tokens"] > 0
    assert isinstance(usage["output_tokens"], int) and usage["output_tokens"] > 0


def test_chat_is_a_kapa_thread_underneath(chatbot: ChatbotSetup) -> None:
    """The Kapa thread view shows the chat under the thread id, the part of a public session id before the dot."""
    with chatbot.client(chatbot.app) as c:
        body = chat(c, "How long until access tokens expire?")
    thread = chatbot.thread(thread_id_of(body["session_id"]))
    assert thread["id"] == thread_id_of(body["session_id"])
    [qa] = thread["question_answers"]
    assert qa["id"] == body["message_id"]
    assert qa["question"] == "How long until access tokens expire?"
    assert qa["answer"] == body["answer"]
    assert "90 days" in qa["answer"]


def test_secret_keys_get_plain_session_ids_and_continue_any_session_of_the_project(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.backend) as c:
        mine = chat(c, INSTALL)
        uuid.UUID(mine["session_id"])
        with chatbot.client(chatbot.app) as browser:
            theirs = chat(browser, "How often does the daemon sync?")
        # A backend may carry on a widget visitor's session (by its thread id) as well as its own.
        follow = chat(c, "How do I change it?", session_id=thread_id_of(theirs["session_id"]))
        assert follow["session_id"] == thread_id_of(theirs["session_id"])
        assert "sync_interval_seconds" in follow["answer"]
        assert chat(c, "how do I upgrade it?", session_id=mine["session_id"])["session_id"] == mine["session_id"]
    assert len(chatbot.thread(theirs["session_id"])["question_answers"]) == 2
    assert len(chatbot.thread(mine["session_id"])["question_answers"]) == 2


def test_follow_up_in_a_session_understands_it(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        first = chat(c, INSTALL)
        follow = chat(c, "how do I upgrade it?", session_id=first["session_id"])
    assert follow["session_id"] == first["session_id"]
    assert follow["message_id"] != first["message_id"]
    assert follow["is_uncertain"] is False
    assert follow["sources"][0]["url"] == chatbot.url("install.md")
    assert "pip install --upgrade skyloom-cli" in follow["answer"]
    thread = chatbot.thread(first["session_id"])
    assert [qa["question"] for qa in thread["question_answers"]] == [INSTALL, "how do I upgrade it?"]


def test_follow_up_pronoun_refers_to_the_earlier_topic(chatbot: ChatbotSetup) -> None:
    """'it' is only answerable from the earlier turn: the sync interval, set in the configuration file."""
    with chatbot.client(chatbot.app) as c:
        first = chat(c, "How often does the daemon sync?")
        follow = chat(c, "How do I change it?", session_id=first["session_id"])
    assert follow["session_id"] == first["session_id"]
    assert follow["sources"][0]["url"] == chatbot.url("configuration.md")
    assert "sync_interval_seconds" in follow["answer"]


def test_unknown_session_is_404(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        resp = c.post("/api/v1/chat", json={"message": INSTALL, "session_id": str(uuid.uuid4())})
        assert "not found" in assert_api_error(resp, 404)
        streamed = c.post("/api/v1/chat", json={"message": INSTALL, "session_id": "sess_nope", "stream": True})
        assert_api_error(streamed, 404)


def test_session_of_another_project_is_404(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        mine = chat(c, INSTALL)
    with chatbot.client(chatbot.backend) as c:
        backend = chat(c, INSTALL)
    for key in (chatbot.other, chatbot.other_server):  # Q's public and secret keys
        with chatbot.client(key) as c:
            for session_id in (mine["session_id"], thread_id_of(mine["session_id"]), backend["session_id"]):
                resp = c.post("/api/v1/chat", json={"message": "and then?", "session_id": session_id})
                assert "not found" in assert_api_error(resp, 404)
    assert len(chatbot.thread(mine["session_id"])["question_answers"]) == 1
    assert len(chatbot.thread(backend["session_id"])["question_answers"]) == 1


def test_public_session_continues_only_with_its_token_and_key(chatbot: ChatbotSetup) -> None:
    """Whoever learns a widget visitor's thread id (a shared link, a log line) cannot read on in their session."""
    with chatbot.client(chatbot.app) as c:
        mine = chat(c, INSTALL)
        thread_id = thread_id_of(mine["session_id"])
        for forged in (thread_id, f"{thread_id}.", f"{thread_id}.not-the-token"):
            resp = c.post("/api/v1/chat", json={"message": "how do I upgrade it?", "session_id": forged})
            assert "not found" in assert_api_error(resp, 404)
        assert chat(c, "how do I upgrade it?", session_id=mine["session_id"])["session_id"] == mine["session_id"]
    with chatbot.client(chatbot.app2) as c:  # another public key of the same project, token and all
        resp = c.post("/api/v1/chat", json={"message": "and then?", "session_id": mine["session_id"]})
        assert "not found" in assert_api_error(resp, 404)
    questions = [qa["question"] for qa in chatbot.thread(mine["session_id"])["question_answers"]]
    assert questions == [INSTALL, "how do I upgrade it?"]


def test_message_length_is_validated(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        assert "message" in assert_api_error(c.post("/api/v1/chat", json={"message": ""}), 422)
        assert "message" in assert_api_error(c.post("/api/v1/chat", json={"message": "x" * 5001}), 422)
        assert "message" in assert_api_error(c.post("/api/v1/chat", json={}), 422)
        assert_api_error(c.post("/api/v1/chat", json={"message": INSTALL, "stream": "maybe"}), 422)
        assert_api_error(
            c.post("/api/v1/chat", content=b"{not json", headers={"content-type": "application/json"}), 422
        )
        longest = chat(c, "How do I install Skyloom? " + "x" * (5000 - 26))  # exactly 5000 characters
    assert longest["session_id"]


def test_api_key_in_the_body_or_the_query_string(chatbot: ChatbotSetup) -> None:
    with chatbot.client() as c:
        in_body = chat(c, INSTALL, api_key=chatbot.app.secret)
        in_query = ok(c.post("/api/v1/chat", params={"api_key": chatbot.app.secret}, json={"message": INSTALL}))
        # The key found there is the same key, scopes and all: a public key cannot read usage this way either.
        assert "usage" in assert_api_error(c.get("/api/v1/usage", params={"api_key": chatbot.app.secret}), 403)
        before = ok(c.get("/api/v1/usage", params={"api_key": chatbot.backend.secret}))["usage"]["total_requests"]
        chat(c, INSTALL, api_key=chatbot.backend.secret)
        ok(c.post("/api/v1/chat", params={"api_key": chatbot.backend.secret}, json={"message": INSTALL}))
        usage = ok(c.get("/api/v1/usage", params={"api_key": chatbot.backend.secret}))
    assert in_body["sources"][0]["url"] == in_query["sources"][0]["url"] == chatbot.url("install.md")
    assert usage["usage"]["total_requests"] == before + 2


def test_missing_or_wrong_key_is_401(chatbot: ChatbotSetup) -> None:
    with chatbot.client() as c:
        assert_api_error(c.post("/api/v1/chat", json={"message": INSTALL}), 401)
        assert_api_error(c.get("/api/v1/sessions"), 401)
        bad = {"Authorization": "Bearer dsb_not-a-real-key"}
        assert_api_error(c.post("/api/v1/chat", json={"message": INSTALL}, headers=bad), 401)
        assert_api_error(c.post("/api/v1/chat", json={"message": INSTALL, "api_key": "dsb_nope"}), 401)


def test_x_api_key_scheme_key_is_refused(chatbot: ChatbotSetup) -> None:
    """A Kapa (X-API-KEY) key does not open the chatbot API, and a bearer key does not open the Kapa API."""
    with chatbot.client(chatbot.kapa) as c:
        assert_api_error(c.post("/api/v1/chat", json={"message": INSTALL}), 401)
    with chatbot.client() as c:
        assert_api_error(c.post("/api/v1/chat", json={"message": INSTALL, "api_key": chatbot.kapa.secret}), 401)
        kapa_with_bearer = c.post(
            f"/query/v1/projects/{chatbot.p}/chat/", json={"query": INSTALL}, headers={"X-API-KEY": chatbot.app.secret}
        )
    assert kapa_with_bearer.status_code == 401, kapa_with_bearer.text


def test_revoked_key_is_401_and_its_origin_loses_cors(chatbot: ChatbotSetup) -> None:
    preflight = {"Origin": RETIRING_ORIGIN, "Access-Control-Request-Method": "POST"}
    with chatbot.client(chatbot.retiring) as c:
        chat(c, INSTALL)
        assert c.options("/api/v1/chat", headers=preflight).status_code == 204
        assert chatbot.cli.json("key", "revoke", chatbot.retiring.id)["revoked_at"]
        assert "invalid" in assert_api_error(c.post("/api/v1/chat", json={"message": INSTALL}), 401).lower()
        assert_api_error(c.get("/api/v1/usage"), 401)
        refused = c.options("/api/v1/chat", headers=preflight)
    assert refused.status_code == 403
    assert refused.headers.get("access-control-allow-origin") != RETIRING_ORIGIN


def test_oversized_json_body_is_413_in_the_api_error_shape(chatbot: ChatbotSetup) -> None:
    """A body over DOCSAGE_MAX_BODY_BYTES (1 MiB by default) is refused before parsing, as an /api/v1 error."""
    body = {"message": INSTALL, "metadata": "x" * 1_100_000}
    with chatbot.client(chatbot.app) as c:
        assert_api_error(c.post("/api/v1/chat", json=body), 413)


def test_unknown_endpoint_and_wrong_method_use_the_api_error_shape(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.app) as c:
        assert_api_error(c.get("/api/v1/nothing-here"), 404)
        assert_api_error(c.get("/api/v1/chat"), 405)
