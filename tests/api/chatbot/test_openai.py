"""The chatbot API with the `openai` answer provider, against a real OpenAI-protocol server (tests/fakes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import LiveServer, serve
from fakes.openai_server import FakeOpenAI

from .conftest import UNLIMITED, ChatbotSetup
from .helpers import assert_api_error, chat, cited_urls, names, ok, parse_sse, streamed_text, unlink_citations

MODEL = "gpt-4o-mini"
QUESTION = "How do I verify webhook signatures?"
REPLY = "Compare the X-Skyloom-Signature header with an HMAC-SHA256 of the body keyed with your webhook secret [1]."


@pytest.fixture(scope="module")
def module_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def _llm_env(fake: FakeOpenAI, model: str) -> dict[str, str]:
    return {
        **UNLIMITED,
        "DOCSAGE_LLM_PROVIDER": "openai",
        "DOCSAGE_LLM_BASE_URL": fake.base_url,
        "DOCSAGE_LLM_API_KEY": "x",
        "DOCSAGE_LLM_MODEL": model,
    }


@pytest.fixture(scope="module")
def llm_server(chatbot: ChatbotSetup, module_fake: FakeOpenAI) -> Iterator[LiveServer]:
    """A second server on the same home answering through the fake with gpt-4o-mini (built-in price)."""
    with serve(chatbot.cli.home, _llm_env(module_fake, MODEL)) as server:
        yield server


@pytest.fixture
def fake(module_fake: FakeOpenAI) -> FakeOpenAI:
    """The module's fake, healthy and answering REPLY at the start of each test."""
    module_fake.reply_text, module_fake.responder, module_fake.fail_status = REPLY, None, None
    return module_fake


def _reported_usage(fake: FakeOpenAI) -> tuple[int, int]:
    """(prompt, completion) tokens the fake reported for its latest chat completion (it counts words)."""
    body = fake.chat_requests[-1]
    prompt = sum(len(str(m.get("content") or "").split()) for m in body["messages"])
    return prompt, len(fake.reply_text.split())


def test_stream_passes_on_the_models_deltas(chatbot: ChatbotSetup, fake: FakeOpenAI, llm_server: LiveServer) -> None:
    with chatbot.client(chatbot.app, server=llm_server) as c:
        resp = c.post("/api/v1/chat", json={"message": QUESTION, "stream": True})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(resp.text)
    kinds = names(events)
    assert kinds[-2:] == ["sources", "end"], kinds
    # The fake streams one word per chunk; they are passed on as they come, not as one block.
    assert kinds.count("message") >= len(REPLY.split()) - 2
    text = streamed_text(events)
    assert unlink_citations(text) == REPLY
    assert cited_urls(text) == [chatbot.url("webhooks.html")]
    assert fake.chat_requests[-1]["stream"] is True
    assert fake.chat_requests[-1]["model"] == MODEL
    session_id = events[-1][1]["session_id"]
    assert chatbot.thread(session_id)["question_answers"][0]["answer"] == text


def test_plain_reply_reports_the_models_usage(chatbot: ChatbotSetup, fake: FakeOpenAI, llm_server: LiveServer) -> None:
    with chatbot.client(chatbot.app, server=llm_server) as c:
        body = chat(c, QUESTION)
    assert unlink_citations(body["answer"]) == REPLY
    assert body["is_uncertain"] is False
    prompt, completion = _reported_usage(fake)
    assert body["usage"] == {"input_tokens": prompt, "output_tokens": completion, "model": MODEL}


def test_model_failure_is_an_error_event(chatbot: ChatbotSetup, fake: FakeOpenAI, llm_server: LiveServer) -> None:
    fake.fail_status = 500
    with chatbot.client(chatbot.app, server=llm_server) as c:
        resp = c.post("/api/v1/chat", json={"message": QUESTION, "stream": True})
        plain = c.post("/api/v1/chat", json={"message": QUESTION})
    assert resp.status_code == 200
    events = parse_sse(resp.text)
    assert names(events)[-1] == "error", names(events)
    assert "end" not in names(events)
    assert events[-1][1]["error"], events[-1]
    assert not streamed_text(events)
    # Without streaming the failure is a plain JSON error.
    assert_api_error(plain, (502, 503))


def _cost(prompt: int, completion: int, price: tuple[float, float]) -> float:
    return (prompt * price[0] + completion * price[1]) / 1_000_000


def test_usage_prices_each_model(chatbot: ChatbotSetup, fake: FakeOpenAI, llm_server: LiveServer) -> None:
    """gpt-4o-mini at its list price (0.15 / 0.60 USD per 1M tokens), a custom model at a DOCSAGE_PRICES price."""
    expected: dict[str, dict[str, Any]] = {}

    def record(model: str, body: dict[str, Any], price: tuple[float, float]) -> None:
        prompt, completion = _reported_usage(fake)
        assert body["usage"] == {"input_tokens": prompt, "output_tokens": completion, "model": model}
        row = expected.setdefault(model, {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0})
        row["requests"] += 1
        row["input_tokens"] += prompt
        row["output_tokens"] += completion
        row["cost"] += _cost(prompt, completion, price)

    with chatbot.client(chatbot.openai_key, server=llm_server) as c:
        record(MODEL, chat(c, QUESTION), (0.15, 0.60))
        fake.reply_text = "Run pip install --upgrade skyloom-cli to upgrade [1]."
        record(MODEL, chat(c, "How do I upgrade Skyloom?"), (0.15, 0.60))
    custom = {**_llm_env(fake, "skyloom-llm"), "DOCSAGE_PRICES": json.dumps({"skyloom-llm": [3.0, 15.0]})}
    with serve(chatbot.cli.home, custom) as priced, chatbot.client(chatbot.openai_key, server=priced) as c:
        record("skyloom-llm", chat(c, QUESTION), (3.0, 15.0))

    with chatbot.client(chatbot.openai_key) as c:
        usage = ok(c.get("/api/v1/usage"))
    rows = {r["model"]: r for r in usage["by_model"]}
    assert set(rows) == set(expected)
    for model, want in expected.items():
        row = rows[model]
        assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (
            want["requests"],
            want["input_tokens"],
            want["output_tokens"],
        ), row
        assert row["total_tokens"] == want["input_tokens"] + want["output_tokens"]
        assert row["cost"] > 0
        assert row["cost"] == pytest.approx(want["cost"], abs=1e-6), (model, row["cost"], want["cost"])
    total = usage["usage"]
    assert total["total_requests"] == 3
    assert total["total_input_tokens"] == sum(w["input_tokens"] for w in expected.values())
    assert total["total_output_tokens"] == sum(w["output_tokens"] for w in expected.values())
    assert total["total_cost"] == pytest.approx(sum(w["cost"] for w in expected.values()), abs=2e-6)
