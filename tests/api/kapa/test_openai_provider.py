"""Chat through the `openai` answer provider, against a real OpenAI-protocol server (tests/fakes)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from conftest import LiveServer, serve
from fakes.openai_server import FakeOpenAI

from .conftest import UNLIMITED, MainSetup
from .helpers import (
    SEPARATOR,
    assert_json_error,
    cited_urls,
    content_of,
    parse_stream,
    streamed_text,
    types_of,
    unlink_citations,
)

MODEL = "skyloom-test-model"
QUESTION = "How do I verify webhook signatures?"
REPLY = "Compare the X-Skyloom-Signature header with an HMAC-SHA256 of the body keyed with your webhook secret [1]."


@pytest.fixture(scope="module")
def module_fake() -> Iterator[FakeOpenAI]:
    """One fake OpenAI endpoint for the module (like the root `fake_openai` fixture, but module-scoped)."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def module_llm_server(kapa: MainSetup, module_fake: FakeOpenAI) -> Iterator[LiveServer]:
    """A second server on the main home whose answers come from the fake OpenAI endpoint."""
    env = {
        **UNLIMITED,
        "DOCSAGE_LLM_PROVIDER": "openai",
        "DOCSAGE_LLM_BASE_URL": module_fake.base_url,
        "DOCSAGE_LLM_API_KEY": "x",
        "DOCSAGE_LLM_MODEL": MODEL,
    }
    with serve(kapa.home.cli.home, env) as server:
        yield server


@pytest.fixture
def fake_llm(module_fake: FakeOpenAI) -> FakeOpenAI:
    """The module's fake, back to a healthy default for each test."""
    module_fake.reply_text, module_fake.responder, module_fake.fail_status = REPLY, None, None
    module_fake.chunk_delay = 0.0
    return module_fake


@pytest.fixture
def llm_server(module_llm_server: LiveServer, fake_llm: FakeOpenAI) -> LiveServer:
    return module_llm_server


def client(server: LiveServer, kapa: MainSetup) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"X-API-KEY": kapa.a.key}, timeout=60)


def stored_question_answers(server: LiveServer, kapa: MainSetup) -> int:
    with client(server, kapa) as c:
        resp = c.get(f"/query/v1/projects/{kapa.a.id}/question-answers/", params={"page_size": 1})
    assert resp.status_code == 200, resp.text
    return int(resp.json()["count"])


def test_streamed_chat_streams_the_models_answer(kapa: MainSetup, fake_llm: FakeOpenAI, llm_server: LiveServer) -> None:
    fake_llm.reply_text = REPLY
    with client(llm_server, kapa) as c:
        resp = c.post(f"/query/v1/projects/{kapa.a.id}/chat/stream/", json={"query": QUESTION})
        assert resp.status_code == 200, resp.text
        chunks = parse_stream(resp.content)
        kinds = types_of(chunks)
        assert kinds[0] == "stream_start" and kinds[-3:] == ["metadata", "identifiers", "relevant_sources"], kinds
        # The fake streams one word per chunk; docsage passes them on as they come, not as one block.
        assert kinds.count("partial_answer") >= len(REPLY.split()) - 2
        text = streamed_text(chunks)
        assert unlink_citations(text) == REPLY
        # The [1] marker became a link to passage 1: the webhooks page.
        assert cited_urls(text) == [kapa.url("webhooks.html")]
        assert content_of(chunks, "metadata") == {"is_uncertain": False}

        ids = content_of(chunks, "identifiers")
        thread = c.get(f"/query/v1/threads/{ids['thread_id']}/").json()
    assert [qa["id"] for qa in thread["question_answers"]] == [ids["question_answer_id"]]
    assert thread["question_answers"][0]["answer"] == text

    # What the model was asked: the numbered passages and the question, with the configured model name.
    request = fake_llm.chat_requests[-1]
    assert request["model"] == MODEL
    assert request["stream"] is True
    assert request["messages"][0]["role"] == "system"
    prompt = request["messages"][-1]
    assert prompt["role"] == "user"
    assert "[1]" in prompt["content"] and "[2]" in prompt["content"]
    assert kapa.url("webhooks.html") in prompt["content"]
    assert "X-Skyloom-Signature" in prompt["content"]
    assert QUESTION in prompt["content"]


def test_a_reader_leaving_mid_stream_still_leaves_the_question_stored(
    kapa: MainSetup, fake_llm: FakeOpenAI, llm_server: LiveServer
) -> None:
    """The question was asked even if nobody read the end of the answer: it is stored with the part that was
    sent (for the thread and the analytics)."""
    fake_llm.reply_text = " ".join(f"word{i}" for i in range(60))
    fake_llm.chunk_delay = 0.05  # 3 s for the whole answer
    with client(llm_server, kapa) as c:
        with c.stream("POST", f"/query/v1/projects/{kapa.a.id}/chat/stream/", json={"query": QUESTION}) as resp:
            assert resp.status_code == 200
            received = b""
            for part in resp.iter_bytes():
                received += part
                if received.count(b'"partial_answer"') >= 3:
                    break  # leaving the with-block closes the connection mid-answer
        thread_id = parse_stream(received[: received.rindex(SEPARATOR) + len(SEPARATOR)])[0]["content"]["thread_id"]
        deadline = time.monotonic() + 20
        while not (stored := c.get(f"/query/v1/threads/{thread_id}/").json()["question_answers"]):
            assert time.monotonic() < deadline, "the interrupted question was never stored"
            time.sleep(0.1)
    [qa] = stored
    assert qa["question"] == QUESTION
    assert qa["answer"] and fake_llm.reply_text.startswith(qa["answer"]), qa["answer"]
    assert len(qa["answer"]) < len(fake_llm.reply_text), "the answer stored is the part sent, not the whole one"


def test_plain_chat_returns_and_stores_the_models_answer(
    kapa: MainSetup, fake_llm: FakeOpenAI, llm_server: LiveServer
) -> None:
    fake_llm.reply_text = REPLY
    with client(llm_server, kapa) as c:
        resp = c.post(f"/query/v1/projects/{kapa.a.id}/chat/", json={"query": QUESTION})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert unlink_citations(body["answer"]) == REPLY
        assert body["is_uncertain"] is False
        assert body["relevant_sources"][0]["source_url"] == kapa.url("webhooks.html")
        stored = c.get(f"/query/v1/threads/{body['thread_id']}/").json()["question_answers"]
    assert [(qa["id"], qa["answer"]) for qa in stored] == [(body["question_answer_id"], body["answer"])]


def test_model_saying_it_does_not_know_marks_the_answer_uncertain(
    kapa: MainSetup, fake_llm: FakeOpenAI, llm_server: LiveServer
) -> None:
    fake_llm.reply_text = "I don't know based on the documentation."
    with client(llm_server, kapa) as c:
        resp = c.post(f"/query/v1/projects/{kapa.a.id}/chat/", json={"query": QUESTION})
    assert resp.status_code == 200, resp.text
    assert resp.json()["is_uncertain"] is True
    assert resp.json()["answer"] == fake_llm.reply_text


def test_follow_up_sends_the_earlier_turn_to_the_model(
    kapa: MainSetup, fake_llm: FakeOpenAI, llm_server: LiveServer
) -> None:
    fake_llm.reply_text = REPLY
    with client(llm_server, kapa) as c:
        first = c.post(f"/query/v1/projects/{kapa.a.id}/chat/", json={"query": QUESTION}).json()
        fake_llm.responder = lambda messages: (
            "How do I verify Skyloom webhook signatures with HMAC?"
            if "Follow-up question" in str(messages[-1].get("content"))
            else "Use hmac.compare_digest [1]."
        )
        resp = c.post(f"/query/v1/threads/{first['thread_id']}/chat/", json={"query": "Which function compares them?"})
    assert resp.status_code == 200, resp.text
    assert unlink_citations(resp.json()["answer"]) == "Use hmac.compare_digest [1]."
    answer_request = fake_llm.chat_requests[-1]
    roles = [m["role"] for m in answer_request["messages"]]
    assert roles == ["system", "user", "assistant", "user"], roles
    assert answer_request["messages"][1]["content"] == QUESTION
    assert unlink_citations(answer_request["messages"][2]["content"]) == REPLY
    assert "Which function compares them?" in answer_request["messages"][-1]["content"]


def test_model_failure_is_an_error_chunk_or_502_and_stores_nothing(
    kapa: MainSetup, fake_llm: FakeOpenAI, llm_server: LiveServer
) -> None:
    before = stored_question_answers(llm_server, kapa)
    fake_llm.fail_status = 500
    with client(llm_server, kapa) as c:
        resp = c.post(f"/query/v1/projects/{kapa.a.id}/chat/stream/", json={"query": QUESTION})
        assert resp.status_code == 200  # the stream had begun; the failure is reported inside it
        chunks = parse_stream(resp.content)
        kinds = types_of(chunks)
        assert kinds[0] == "stream_start"
        assert kinds[-1] == "error", kinds
        assert "identifiers" not in kinds and "metadata" not in kinds
        assert chunks[-1]["stream_end"] is True
        assert isinstance(chunks[-1]["content"]["reason"], str) and chunks[-1]["content"]["reason"]
        # The thread announced by stream_start was not kept.
        assert_json_error(c.get(f"/query/v1/threads/{chunks[0]['content']['thread_id']}/"), 404)

        plain = c.post(f"/query/v1/projects/{kapa.a.id}/chat/", json={"query": QUESTION})
        assert_json_error(plain, 502)
    assert stored_question_answers(llm_server, kapa) == before


def test_model_failure_in_a_thread_keeps_the_thread_unchanged(
    kapa: MainSetup, fake_llm: FakeOpenAI, llm_server: LiveServer
) -> None:
    fake_llm.reply_text = REPLY
    with client(llm_server, kapa) as c:
        first = c.post(f"/query/v1/projects/{kapa.a.id}/chat/", json={"query": QUESTION}).json()
        fake_llm.fail_status = 500
        resp = c.post(f"/query/v1/threads/{first['thread_id']}/chat/", json={"query": "And then?"})
        assert_json_error(resp, 502)
        thread = c.get(f"/query/v1/threads/{first['thread_id']}/")
    assert thread.status_code == 200, thread.text
    assert [qa["id"] for qa in thread.json()["question_answers"]] == [first["question_answer_id"]]
