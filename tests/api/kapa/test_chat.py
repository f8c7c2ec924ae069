"""Kapa chat as an API client meets it: answers with cited sources, threads, and the U+241E stream framing."""

from __future__ import annotations

import re
import uuid

import pytest

from .conftest import MainSetup
from .helpers import assert_json_error, content_of, page_name, parse_stream, streamed_text, types_of

OFF_TOPIC = "what is the boiling point of tungsten?"
NOT_FOUND = re.compile(r"could(?:n't|n’t| not) find", re.IGNORECASE)

# (question, the manual page that answers it, a phrase of that page the answer must quote)
ANSWERABLE = [
    ("How do I verify webhook signatures?", "webhooks.html", "X-Skyloom-Signature"),
    ("How many requests per minute does the API allow?", "rate-limits.rst", "600 requests per minute"),
    ("How often does the daemon sync?", "configuration.md", "30 seconds"),
    ("How do I install Skyloom with pip?", "install.md", "pip install skyloom-cli"),
    ("What happens when I exceed the rate limit?", "rate-limits.rst", "429"),
    ("How do I set the data region?", "configuration.md", "SKYLOOM_REGION"),
    ("How long until access tokens expire?", "troubleshooting.txt", "90 days"),
    ("What does connection refused mean?", "troubleshooting.txt", "daemon is not running"),
]


def chat(kapa: MainSetup, query: str, **extra: object) -> dict:
    with kapa.home.client(kapa.a) as client:
        resp = client.post(f"/query/v1/projects/{kapa.a.id}/chat/", json={"query": query, **extra})
    assert resp.status_code == 200, resp.text
    return resp.json()


def get_thread(kapa: MainSetup, thread_id: str, project=None) -> dict:
    with kapa.home.client(project or kapa.a) as client:
        resp = client.get(f"/query/v1/threads/{thread_id}/")
    assert resp.status_code == 200, resp.text
    return resp.json()


# --- non-streamed chat ---------------------------------------------------------------------------------------


def test_chat_response_has_exactly_the_documented_fields(kapa: MainSetup) -> None:
    body = chat(kapa, "How do I verify webhook signatures?")
    assert set(body) == {"answer", "thread_id", "question_answer_id", "is_uncertain", "relevant_sources"}
    assert isinstance(body["answer"], str) and body["answer"].strip()
    assert isinstance(body["is_uncertain"], bool)
    uuid.UUID(body["thread_id"])
    uuid.UUID(body["question_answer_id"])
    assert isinstance(body["relevant_sources"], list) and body["relevant_sources"]
    for source in body["relevant_sources"]:
        assert set(source) == {"source_url", "title", "contains_internal_data"}, source
        assert isinstance(source["source_url"], str) and source["source_url"]
        assert isinstance(source["title"], str) and source["title"]
        assert source["contains_internal_data"] is False  # a folder source is public unless configured otherwise
    urls = [s["source_url"] for s in body["relevant_sources"]]
    assert len(urls) == len(set(urls)), "each page is listed once"


@pytest.mark.parametrize(("question", "page", "phrase"), ANSWERABLE, ids=[q for q, _, _ in ANSWERABLE])
def test_answerable_question_is_answered_from_the_right_page(
    kapa: MainSetup, question: str, page: str, phrase: str
) -> None:
    body = chat(kapa, question)
    assert body["is_uncertain"] is False, f"the manual answers this, but docsage said: {body['answer'][:200]!r}"
    assert not NOT_FOUND.search(body["answer"])
    assert phrase in body["answer"]
    assert page_name(body["relevant_sources"][0]["source_url"]) == page
    assert body["relevant_sources"][0]["source_url"] == kapa.url(page)


def test_off_topic_question_is_uncertain_and_says_so(kapa: MainSetup) -> None:
    body = chat(kapa, OFF_TOPIC)
    assert body["is_uncertain"] is True
    assert NOT_FOUND.search(body["answer"]), body["answer"]
    stored = get_thread(kapa, body["thread_id"])["question_answers"]
    assert [(qa["question"], qa["is_uncertain"]) for qa in stored] == [(OFF_TOPIC, True)]


def test_chat_with_an_integration_and_user_is_attributed(kapa: MainSetup) -> None:
    body = chat(
        kapa,
        "How do I verify webhook signatures?",
        integration_id=kapa.a_api_integration,
        user={"email": "dana@example.com", "metadata": {"company_name": "Acme"}},
        metadata={"page_url": "https://example.com/help"},
    )
    thread = get_thread(kapa, body["thread_id"])
    assert thread["integration"]["id"] == kapa.a_api_integration
    assert thread["integration"]["integration_type"] == "API"
    assert thread["question_answers"][0]["end_user_id"]


def test_chat_with_an_unknown_integration_is_404(kapa: MainSetup) -> None:
    with kapa.home.client(kapa.a) as client:
        resp = client.post(
            f"/query/v1/projects/{kapa.a.id}/chat/",
            json={"query": "How do I verify webhook signatures?", "integration_id": str(uuid.uuid4())},
        )
    assert_json_error(resp, 404)


# --- threads -------------------------------------------------------------------------------------------------


def test_follow_up_in_a_thread_uses_the_earlier_turn(kapa: MainSetup) -> None:
    first = chat(kapa, "How often does the daemon sync?")
    with kapa.home.client(kapa.a) as client:
        resp = client.post(f"/query/v1/threads/{first['thread_id']}/chat/", json={"query": "How do I change it?"})
    assert resp.status_code == 200, resp.text
    follow = resp.json()
    assert follow["thread_id"] == first["thread_id"]
    assert follow["question_answer_id"] != first["question_answer_id"]
    # "it" is the sync interval: the follow-up is answered from the configuration page.
    assert page_name(follow["relevant_sources"][0]["source_url"]) == "configuration.md"
    assert follow["is_uncertain"] is False
    assert "sync_interval_seconds" in follow["answer"]
    # Asked on its own, the same words say nothing the docs could answer: the thread is what made the difference.
    alone = chat(kapa, "How do I change it?")
    assert alone["is_uncertain"] is True

    thread = get_thread(kapa, first["thread_id"])
    assert thread["id"] == first["thread_id"]
    assert [qa["id"] for qa in thread["question_answers"]] == [
        first["question_answer_id"],
        follow["question_answer_id"],
    ]
    assert [qa["question"] for qa in thread["question_answers"]] == [
        "How often does the daemon sync?",
        "How do I change it?",
    ]
    assert [qa["answer"] for qa in thread["question_answers"]] == [first["answer"], follow["answer"]]
    assert all(qa["thread_id"] == first["thread_id"] for qa in thread["question_answers"])


def test_thread_of_another_project_is_not_found_and_leaks_nothing(kapa: MainSetup) -> None:
    secret_question = "How do I verify webhook signatures? (asked in project B)"
    with kapa.home.client(kapa.b) as other:
        resp = other.post(f"/query/v1/projects/{kapa.b.id}/chat/", json={"query": secret_question})
        assert resp.status_code == 200, resp.text
        b_thread = resp.json()
    with kapa.home.client(kapa.a) as client:
        responses = [
            client.get(f"/query/v1/threads/{b_thread['thread_id']}/"),
            client.post(f"/query/v1/threads/{b_thread['thread_id']}/chat/", json={"query": "and then?"}),
            client.post(f"/query/v1/threads/{b_thread['thread_id']}/chat/stream/", json={"query": "and then?"}),
        ]
    for resp in responses:
        assert_json_error(resp, 404)
        assert "webhook" not in resp.text.lower()
        assert b_thread["answer"][:40] not in resp.text
    # Nothing was appended to B's thread.
    thread = get_thread(kapa, b_thread["thread_id"], project=kapa.b)
    assert [qa["question"] for qa in thread["question_answers"]] == [secret_question]


def test_unknown_thread_is_404(kapa: MainSetup) -> None:
    with kapa.home.client(kapa.a) as client:
        missing = str(uuid.uuid4())
        assert_json_error(client.get(f"/query/v1/threads/{missing}/"), 404)
        assert_json_error(client.post(f"/query/v1/threads/{missing}/chat/", json={"query": "hello?"}), 404)


# --- streamed chat -------------------------------------------------------------------------------------------


def stream(kapa: MainSetup, path: str, query: str) -> list[dict]:
    with kapa.home.client(kapa.a) as client:
        resp = client.post(path, json={"query": query})
    assert resp.status_code == 200, resp.text
    assert "text/html" not in resp.headers.get("content-type", "")
    return parse_stream(resp.content)


def assert_stream_shape(chunks: list[dict]) -> None:
    kinds = types_of(chunks)
    assert kinds[0] == "stream_start"
    assert kinds[-3:] == ["metadata", "identifiers", "relevant_sources"], kinds
    middle = kinds[1:-3]
    assert len(middle) >= 2 and set(middle) == {"partial_answer"}, kinds
    assert [c["stream_end"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert "error" not in kinds


def test_streamed_chat_framing_and_order(kapa: MainSetup) -> None:
    chunks = stream(kapa, f"/query/v1/projects/{kapa.a.id}/chat/stream/", "How do I verify webhook signatures?")
    assert_stream_shape(chunks)

    start, ids = chunks[0]["content"], content_of(chunks, "identifiers")
    assert set(start) == {"thread_id"}
    assert set(ids) == {"thread_id", "question_answer_id"}
    assert ids["thread_id"] == start["thread_id"]
    uuid.UUID(ids["question_answer_id"])

    sources = content_of(chunks, "relevant_sources")["relevant_sources"]
    assert sources
    for source in sources:
        assert set(source) == {"source_url", "title", "subtitle", "source_type", "contains_internal_data"}
        assert all(isinstance(source[k], str) for k in ("source_url", "title", "subtitle", "source_type"))
        assert isinstance(source["contains_internal_data"], bool)
    assert sources[0]["source_url"] == kapa.url("webhooks.html")
    assert content_of(chunks, "metadata") == {"is_uncertain": False}

    # The streamed text is the stored answer, to the character.
    stored = get_thread(kapa, ids["thread_id"])["question_answers"]
    assert len(stored) == 1
    assert stored[0]["id"] == ids["question_answer_id"]
    assert streamed_text(chunks) == stored[0]["answer"]
    assert "X-Skyloom-Signature" in stored[0]["answer"]


def test_streamed_off_topic_answer_is_uncertain(kapa: MainSetup) -> None:
    chunks = stream(kapa, f"/query/v1/projects/{kapa.a.id}/chat/stream/", OFF_TOPIC)
    assert_stream_shape(chunks)
    assert content_of(chunks, "metadata") == {"is_uncertain": True}
    assert NOT_FOUND.search(streamed_text(chunks))


def test_streamed_chat_in_thread_continues_the_thread(kapa: MainSetup) -> None:
    first = stream(kapa, f"/query/v1/projects/{kapa.a.id}/chat/stream/", "How often does the daemon sync?")
    thread_id = content_of(first, "identifiers")["thread_id"]
    follow = stream(kapa, f"/query/v1/threads/{thread_id}/chat/stream/", "How do I change it?")
    assert_stream_shape(follow)
    assert follow[0]["content"]["thread_id"] == thread_id
    assert content_of(follow, "identifiers")["thread_id"] == thread_id
    assert "sync_interval_seconds" in streamed_text(follow)

    stored = get_thread(kapa, thread_id)["question_answers"]
    assert [qa["id"] for qa in stored] == [
        content_of(first, "identifiers")["question_answer_id"],
        content_of(follow, "identifiers")["question_answer_id"],
    ]
    assert [qa["answer"] for qa in stored] == [streamed_text(first), streamed_text(follow)]


def test_streamed_and_plain_chat_agree(kapa: MainSetup) -> None:
    question = "How many requests per minute does the API allow?"
    plain = chat(kapa, question)
    chunks = stream(kapa, f"/query/v1/projects/{kapa.a.id}/chat/stream/", question)
    assert streamed_text(chunks) == plain["answer"]
    assert content_of(chunks, "metadata")["is_uncertain"] == plain["is_uncertain"]
    streamed = content_of(chunks, "relevant_sources")["relevant_sources"]
    streamed_sources = [(s["source_url"], s["title"]) for s in streamed]
    assert streamed_sources == [(s["source_url"], s["title"]) for s in plain["relevant_sources"]]


# --- redaction -----------------------------------------------------------------------------------------------


def test_chat_with_redact_query_stores_no_personal_data(kapa: MainSetup) -> None:
    """docsage's `redact_query` extension: personal data never reaches the database."""
    body = chat(kapa, "I am jane.doe@example.com, call +1 415 555 0134: how do I verify webhooks?", redact_query=True)
    stored = get_thread(kapa, body["thread_id"])["question_answers"][0]
    assert stored["is_redacted"] is True
    assert "jane.doe@example.com" not in stored["question"]
    assert "555 0134" not in stored["question"]
