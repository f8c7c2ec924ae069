"""The OpenAI-compatible provider against a fake server that speaks the real protocol over loopback HTTP."""

from __future__ import annotations

import logging
import socket
from typing import Any

import numpy as np
import pytest

from docsage.answer.base import AnswerRequest, Turn
from docsage.answer.events import MetadataEvent, TextDelta
from docsage.answer.openai_llm import SENTINEL, OpenAIProvider
from docsage.answer.registry import get_answer_provider
from docsage.config import Settings
from docsage.embed.openai_compat import OpenAIEmbedder
from docsage.errors import InvalidInputError, ProviderError
from docsage.retrieval.types import Hit
from fakes.openai_server import FakeOpenAI

QUESTION = "How do I configure the rate limit for chat?"
REPLY = "Set `chat_per_minute` in the `[rate_limit]` section of `docsage.toml` [1]."


def count_thousand(texts: list[str]) -> list[int]:
    """A counter whose figures cannot be mistaken for the server's word counts."""
    return [1000 for _ in texts]


def provider_for(server: FakeOpenAI, api_key: str = "sk-test", max_retries: int = 0) -> OpenAIProvider:
    return OpenAIProvider(server.base_url, api_key, "gpt-test", 5.0, count_thousand, max_retries=max_retries)


def run(
    provider: OpenAIProvider, question: str, hits: list[Hit], covered: bool = True, history: list[Turn] | None = None
) -> tuple[list[str], MetadataEvent]:
    events = list(provider.generate(AnswerRequest(question, hits, history or [], covered)))
    assert isinstance(events[-1], MetadataEvent)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    return [e.text for e in events[:-1] if isinstance(e, TextDelta)], events[-1]


def words_in(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m["content"]).split()) for m in messages)


def test_streams_the_reply_from_a_grounded_prompt(fake_openai: FakeOpenAI, doc_hits: list[Hit]) -> None:
    fake_openai.reply_text = REPLY
    deltas, meta = run(provider_for(fake_openai), QUESTION, doc_hits)

    assert len(deltas) > 1
    assert "".join(deltas) == REPLY
    [body] = fake_openai.chat_requests
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["model"] == "gpt-test"
    system, user = body["messages"][0], body["messages"][-1]
    assert system["role"] == "system"
    assert "ONLY" in system["content"]
    assert "[n]" in system["content"]
    assert SENTINEL in system["content"]
    assert user["role"] == "user"
    assert (
        "[1] Rate limits — Configuration > Rate limits\nhttps://docs.example.com/config/rate-limits" in user["content"]
    )
    assert "[3] Installing the CLI" in user["content"]
    assert "chat_per_minute = 40" in user["content"]
    assert user["content"].rstrip().endswith(QUESTION)
    assert meta.is_uncertain is False
    assert meta.model == "gpt-test"


def test_usage_comes_from_the_usage_chunk(fake_openai: FakeOpenAI, doc_hits: list[Hit]) -> None:
    fake_openai.reply_text = REPLY
    _, meta = run(provider_for(fake_openai), QUESTION, doc_hits)

    [body] = fake_openai.chat_requests
    assert meta.prompt_tokens == words_in(body["messages"])
    assert meta.completion_tokens == len(REPLY.split())


def test_usage_is_estimated_when_the_server_reports_none(doc_hits: list[Hit]) -> None:
    with FakeOpenAI(REPLY, report_usage=False) as server:
        _, meta = run(provider_for(server), QUESTION, doc_hits)
        [body] = server.chat_requests

    assert meta.prompt_tokens == 1000 * len(body["messages"])
    assert meta.completion_tokens == 1000


def answer_from_context(messages: list[dict[str, Any]]) -> str:
    """A model that answers only when the question's key term appears in a passage."""
    prompt = messages[-1]["content"]
    context, question = prompt.rsplit("Question:", 1)
    if "SAML" in question and "SAML" not in context:
        return f"{SENTINEL} The passages cover rate limits [1] and installing the CLI [3]."
    return REPLY


def test_sentinel_reply_marks_the_answer_uncertain(fake_openai: FakeOpenAI, doc_hits: list[Hit]) -> None:
    fake_openai.responder = answer_from_context
    provider = provider_for(fake_openai)

    deltas, meta = run(provider, "Does docsage support SAML single sign-on?", doc_hits)
    assert "".join(deltas).startswith(SENTINEL)
    assert meta.is_uncertain is True

    _, meta = run(provider, QUESTION, doc_hits)
    assert meta.is_uncertain is False


def test_empty_reply_is_uncertain(fake_openai: FakeOpenAI, doc_hits: list[Hit]) -> None:
    fake_openai.reply_text = ""
    deltas, meta = run(provider_for(fake_openai), QUESTION, doc_hits)

    assert "".join(deltas) == ""
    assert meta.is_uncertain is True


def request(question: str, hits: list[Hit], *, covered: bool, off_topic: bool = False) -> AnswerRequest:
    return AnswerRequest(question, hits, [], covered, off_topic)


def generate(provider: OpenAIProvider, req: AnswerRequest) -> tuple[str, MetadataEvent]:
    events = list(provider.generate(req))
    assert isinstance(events[-1], MetadataEvent)
    return "".join(e.text for e in events[:-1] if isinstance(e, TextDelta)), events[-1]


def test_the_model_decides_unless_the_question_is_off_topic(fake_openai: FakeOpenAI, doc_hits: list[Hit]) -> None:
    """Retrieval's doubt (not covered) no longer tells the model to say it does not know: it reads the
    passages and answers, with citations, and the answer counts as certain. Only an off-topic question (nothing
    in the docs remotely about it) tells the model not to guess, and is uncertain whatever the model says."""
    fake_openai.reply_text = REPLY
    provider = provider_for(fake_openai)
    _, doubted = generate(provider, request(QUESTION, doc_hits, covered=False))
    _, off_topic = generate(
        provider, request("What is the best pizza topping?", doc_hits, covered=False, off_topic=True)
    )

    doubted_system, off_topic_system = (body["messages"][0]["content"] for body in fake_openai.chat_requests)
    assert "do not guess" not in doubted_system
    assert "do not guess" in off_topic_system
    assert off_topic_system.count(SENTINEL) > doubted_system.count(SENTINEL)
    assert doubted.is_uncertain is False  # the model answered from the passages, citing [1]
    assert off_topic.is_uncertain is True


def test_an_uncited_answer_to_a_doubted_question_is_uncertain(fake_openai: FakeOpenAI, doc_hits: list[Hit]) -> None:
    """is_uncertain weighs the model's answer against retrieval: when retrieval doubted the passages and the
    model cites none of them, the answer is not grounded in the docs."""
    fake_openai.reply_text = "You can probably set it in the settings."
    provider = provider_for(fake_openai)
    _, doubted = generate(provider, request(QUESTION, doc_hits, covered=False))
    _, covered = generate(provider, request(QUESTION, doc_hits, covered=True))
    assert doubted.is_uncertain is True
    assert covered.is_uncertain is False


def test_the_models_own_i_dont_know_is_uncertain_even_when_covered(
    fake_openai: FakeOpenAI, doc_hits: list[Hit]
) -> None:
    fake_openai.reply_text = f"{SENTINEL} The passages cover rate limits [1]."
    _, meta = generate(provider_for(fake_openai), request(QUESTION, doc_hits, covered=True))
    assert meta.is_uncertain is True


def test_history_precedes_the_context(fake_openai: FakeOpenAI, doc_hits: list[Hit]) -> None:
    history = [Turn("How do I install the CLI?", "Run `pip install docsage` [3].")]
    run(provider_for(fake_openai), "Can it be set per project?", doc_hits, history=history)

    [body] = fake_openai.chat_requests
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert body["messages"][1]["content"] == "How do I install the CLI?"
    assert body["messages"][2]["content"] == "Run `pip install docsage` [3]."
    assert "[1] Rate limits" in body["messages"][3]["content"]


def test_rejected_key_becomes_a_provider_error(doc_hits: list[Hit]) -> None:
    with FakeOpenAI(api_key="sk-right") as server, pytest.raises(ProviderError) as caught:
        run(provider_for(server, api_key="sk-wrong"), QUESTION, doc_hits)

    assert "401" in caught.value.message
    assert "DOCSAGE_LLM_API_KEY" in caught.value.message


def test_server_error_becomes_a_provider_error_naming_the_endpoint(doc_hits: list[Hit]) -> None:
    with FakeOpenAI(fail_status=500) as server:
        with pytest.raises(ProviderError) as caught:
            run(provider_for(server, max_retries=1), QUESTION, doc_hits)
        attempts = len(server.chat_requests)

    assert "500" in caught.value.message
    assert server.base_url in caught.value.message
    assert attempts == 2


def test_unreachable_server_becomes_a_provider_error(doc_hits: list[Hit]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAIProvider(f"http://127.0.0.1:{port}/v1", "sk-test", "gpt-test", 2.0, count_thousand, max_retries=0)

    with pytest.raises(ProviderError, match="could not connect"):
        run(provider, QUESTION, doc_hits)


def test_condense_sends_the_history_and_returns_the_rewrite(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_text = "How do I configure chat rate limits per project?"
    history = [Turn(f"Old question {i}?", f"Old answer {i}.") for i in range(3)] + [
        Turn("How do I configure rate limits?", "Set the `rate_limit` section [1].")
    ]

    condensed = provider_for(fake_openai).condense("Can it be set per project?", history)

    assert condensed == "How do I configure chat rate limits per project?"
    [body] = fake_openai.chat_requests
    assert not body.get("stream")
    sent = "\n".join(m["content"] for m in body["messages"])
    assert "How do I configure rate limits?" in sent
    assert "Can it be set per project?" in sent
    assert "Old question 0?" not in sent
    assert "Old question 1?" in sent


def test_condense_without_history_makes_no_call(fake_openai: FakeOpenAI) -> None:
    assert provider_for(fake_openai).condense("How do I install the CLI?", []) == "How do I install the CLI?"
    assert fake_openai.requests == []


def test_condense_falls_back_to_the_question_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    history = [Turn("How do I configure rate limits?", "Set the `rate_limit` section [1].")]
    with FakeOpenAI(fail_status=503) as server, caplog.at_level(logging.WARNING):
        condensed = provider_for(server).condense("Can it be set per project?", history)

    assert condensed == "Can it be set per project?"
    assert "503" in caplog.text


def test_registry_builds_the_openai_provider(fake_openai: FakeOpenAI, doc_hits: list[Hit]) -> None:
    fake_openai.reply_text = REPLY
    settings = Settings(llm_provider="openai", llm_base_url=fake_openai.base_url, llm_model="gpt-test")
    provider = get_answer_provider(settings, count_thousand)

    assert provider.name == "openai/gpt-test"
    events = list(provider.generate(AnswerRequest(QUESTION, doc_hits, [], True)))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == REPLY


def test_registry_requires_a_key_for_the_default_endpoint() -> None:
    settings = Settings(llm_provider="openai", llm_base_url="", llm_api_key="")
    with pytest.raises(InvalidInputError, match="DOCSAGE_LLM_API_KEY"):
        get_answer_provider(settings, count_thousand)
    with pytest.raises(InvalidInputError, match="unknown LLM provider"):
        get_answer_provider(Settings(llm_provider="nope"), count_thousand)


def test_embeddings_through_the_fake_are_normalised(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(fake_openai.base_url, "sk-test", "text-embedding-test")
    texts = ["Rate limits protect the API.", "Install the CLI with pip.", "Rate limits protect the API."]

    vectors = embedder.embed_documents(texts)

    assert vectors.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2])
    assert not np.allclose(vectors[0], vectors[1])
    assert embedder.dimension == 64
