"""Streamed `/v1/chat/completions` through the official `openai` SDK: OpenAI's chunk sequence with docsage's
sources on the finishing chunk, the optional usage chunk, and failures the SDK raises as its own errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from agent_homes import UNLIMITED
from conftest import LiveServer, serve
from fakes.openai_server import FakeOpenAI

from .conftest import OpenAISetup

QUESTION = "How do I verify webhook signatures?"


def stream(client: openai.OpenAI, *messages: tuple[str, str], **options: Any) -> list[Any]:
    return list(
        client.chat.completions.create(
            model="Skyloom",
            messages=[{"role": role, "content": text} for role, text in messages],  # type: ignore[misc]
            stream=True,
            **options,
        )
    )


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_streamed_chunks_follow_openais_sequence_with_sources_at_the_end(oai: OpenAISetup) -> None:
    client = oai.client()
    chunks = stream(client, ("user", QUESTION), stream_options={"include_usage": True})
    whole = client.chat.completions.create(model="Skyloom", messages=[{"role": "user", "content": QUESTION}])
    first, *deltas, finish, usage = chunks
    assert {c.id for c in chunks} == {first.id} and first.id.startswith("chatcmpl-")
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and {c.model for c in chunks} == {"Skyloom"}
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    assert deltas and all(d.choices[0].delta.content and d.choices[0].finish_reason is None for d in deltas)
    assert text_of(chunks) == whole.choices[0].message.content  # the same answer, streamed
    assert f"[[1]]({oai.home.url('webhooks.html')})" in text_of(chunks)
    assert finish.choices[0].finish_reason == "stop" and finish.choices[0].delta.content is None
    assert finish.sources == whole.sources and finish.sources[0]["url"] == oai.home.url("webhooks.html")
    assert finish.is_uncertain is False and finish.question_answer_id
    assert usage.choices == [] and usage.usage is not None
    assert usage.usage.total_tokens == usage.usage.prompt_tokens + usage.usage.completion_tokens > 0


def test_usage_chunk_only_when_asked(oai: OpenAISetup) -> None:
    chunks = stream(oai.client(), ("user", QUESTION))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_the_raw_stream_is_server_sent_events_ending_with_done(oai: OpenAISetup) -> None:
    with httpx.stream(
        "POST",
        f"{oai.server.base_url}/v1/chat/completions",
        json={"model": "Skyloom", "stream": True, "messages": [{"role": "user", "content": QUESTION}]},
        headers={"Authorization": f"Bearer {oai.home.keys.secret}"},
        timeout=60,
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        body = resp.read().decode()
    events = body.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: {") for e in events[:-2])


def test_a_streamed_follow_up_is_understood_from_the_earlier_messages(oai: OpenAISetup) -> None:
    client = oai.client()
    first = text_of(stream(client, ("user", "How often does the daemon sync?")))
    follow = stream(
        client,
        ("user", "How often does the daemon sync?"),
        ("assistant", first),
        ("user", "How do I change it?"),
    )
    assert "sync_interval_seconds" in text_of(follow)
    assert follow[-1].sources[0]["url"] == oai.home.url("configuration.md")


# --- answers from a language model (the fake OpenAI-protocol server in tests/fakes) ------------------------------


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def llm_server(oai: OpenAISetup, llm: FakeOpenAI) -> Iterator[LiveServer]:
    env = {
        **UNLIMITED,
        "DOCSAGE_LLM_PROVIDER": "openai",
        "DOCSAGE_LLM_BASE_URL": llm.base_url,
        "DOCSAGE_LLM_API_KEY": "x",
        "DOCSAGE_LLM_MODEL": "docs-model",
    }
    with serve(oai.home.cli.home, env) as server:
        yield server


def llm_client(oai: OpenAISetup, server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=oai.home.keys.secret, max_retries=0)


def test_a_models_answer_streams_with_its_citations_linked_and_its_usage(
    oai: OpenAISetup, llm: FakeOpenAI, llm_server: LiveServer
) -> None:
    llm.fail_status = None
    llm.reply_text = "Compare the X-Skyloom-Signature header with your own HMAC-SHA256 digest [1]."
    chunks = stream(llm_client(oai, llm_server), ("user", QUESTION), stream_options={"include_usage": True})
    assert text_of(chunks) == (
        "Compare the X-Skyloom-Signature header with your own HMAC-SHA256 digest "
        f"[[1]]({oai.home.url('webhooks.html')})."
    )
    assert chunks[-1].usage.completion_tokens == len(llm.reply_text.split())
    # The whole conversation reached the model's prompt as docsage's own grounded prompt, not the caller's.
    assert QUESTION in str(llm.chat_requests[-1]["messages"])


def test_a_model_failure_is_an_openai_error_streamed_or_not(
    oai: OpenAISetup, llm: FakeOpenAI, llm_server: LiveServer
) -> None:
    llm.fail_status = 500
    client = llm_client(oai, llm_server)
    try:
        with pytest.raises(openai.APIError) as streamed:
            stream(client, ("user", QUESTION))
        with pytest.raises(openai.InternalServerError) as whole:
            client.chat.completions.create(model="Skyloom", messages=[{"role": "user", "content": QUESTION}])
    finally:
        llm.fail_status = None
    assert isinstance(streamed.value.body, dict) and streamed.value.body["code"] == "provider_error"
    assert streamed.value.body["type"] == "server_error"
    assert whole.value.status_code == 502 and whole.value.body["code"] == "provider_error"  # type: ignore[index]
