"""`/v1/models` and `/v1/chat/completions` (not streamed) through the official `openai` SDK against a real
`docsage serve`: answers with citations and sources, multi-turn conversations, and errors in OpenAI's shape."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from agent_homes import PUBLIC_ORIGIN, RATE_LIMITED
from conftest import serve

from .conftest import OpenAISetup


def ask(client: openai.OpenAI, *messages: tuple[str, str], model: str = "Skyloom") -> Any:
    return client.chat.completions.create(
        model=model,
        messages=[{"role": role, "content": text} for role, text in messages],  # type: ignore[misc]
    )


def assert_openai_error(exc: openai.APIStatusError, status: int, code: str, message: str) -> None:
    """The body is OpenAI's `{"error": {message, type, param, code}}`, which the SDK unwraps into `.body`."""
    assert exc.status_code == status
    assert exc.response.json() == {"error": exc.body}
    assert isinstance(exc.body, dict) and set(exc.body) == {"message", "type", "param", "code"}
    assert exc.body["code"] == code and message in exc.body["message"]


def test_models_list_the_keys_project(oai: OpenAISetup) -> None:
    client = oai.client()
    (model,) = client.models.list().data
    assert model.id == "Skyloom" and model.object == "model" and model.owned_by == "docsage"
    assert model.model_extra == {"project_id": oai.home.skyloom}
    assert client.models.retrieve("Skyloom").id == "Skyloom"
    assert client.models.retrieve(oai.home.skyloom).id == "Skyloom"  # its id names it too
    with pytest.raises(openai.NotFoundError) as exc:
        client.models.retrieve("Changelog")  # another project's name: not this key's
    assert_openai_error(exc.value, 404, "model_not_found", "The model `Changelog` does not exist")
    (theirs,) = oai.client(oai.home.changelog_key).models.list().data
    assert theirs.id == "Changelog"


def test_completion_cites_its_sources_and_reports_usage(oai: OpenAISetup) -> None:
    done = ask(oai.client(), ("user", "How do I verify webhook signatures?"))
    webhooks = oai.home.url("webhooks.html")
    assert done.object == "chat.completion" and done.id.startswith("chatcmpl-") and done.model == "Skyloom"
    (choice,) = done.choices
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert "X-Skyloom-Signature" in choice.message.content
    assert f"[[1]]({webhooks})" in choice.message.content
    # docsage's extension fields: sources[n-1] is what [[n]] links to.
    assert done.sources[0] == {"title": "Webhooks", "url": webhooks, "subtitle": "Webhooks > Verifying signatures"}
    assert done.is_uncertain is False and done.question_answer_id
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    uncovered = ask(oai.client(), ("user", "What is the capital of Mongolia?"))
    assert uncovered.is_uncertain is True


def test_user_names_the_end_user_of_a_server_side_key(oai: OpenAISetup) -> None:
    oai.client().chat.completions.create(
        model="Skyloom", messages=[{"role": "user", "content": "How often does the daemon sync?"}], user="sam-42"
    )
    users = httpx.get(
        f"{oai.server.base_url}/query/v1/projects/{oai.home.skyloom}/end_users/",
        params={"search": "sam-42"},
        headers={"X-API-KEY": oai.home.keys.kapa},
    ).json()
    assert [(u["unique_client_id"], u["question_answer_count"]) for u in users["results"]] == [("sam-42", 1)]


def test_model_is_matched_by_name_in_any_case_or_by_project_id(oai: OpenAISetup) -> None:
    for model in ("skyloom", oai.home.skyloom):
        done = ask(oai.client(), ("user", "How often does the daemon sync?"), model=model)
        assert "30 seconds" in done.choices[0].message.content


def test_a_follow_up_is_understood_from_the_earlier_messages(oai: OpenAISetup) -> None:
    client = oai.client()
    first = ask(client, ("system", "You are a helpful assistant."), ("user", "How often does the daemon sync?"))
    follow = ask(
        client,
        ("system", "You are a helpful assistant."),
        ("user", "How often does the daemon sync?"),
        ("assistant", first.choices[0].message.content),
        ("user", "How do I change it?"),
    )
    # "it" is the sync interval: the follow-up is answered from the configuration page.
    assert "sync_interval_seconds" in follow.choices[0].message.content
    assert follow.sources[0]["url"] == oai.home.url("configuration.md")
    assert follow.is_uncertain is False
    # Asked on its own, the same words say nothing the docs could answer: the conversation made the difference.
    assert ask(client, ("user", "How do I change it?")).is_uncertain is True


def test_content_parts_are_read_as_text(oai: OpenAISetup) -> None:
    done = oai.client().chat.completions.create(
        model="Skyloom",
        messages=[{"role": "user", "content": [{"type": "text", "text": "How often does the daemon sync?"}]}],
    )
    assert "30 seconds" in (done.choices[0].message.content or "")


@pytest.mark.parametrize(
    ("key_name", "message"),
    [
        ("dsb_not-a-key", "invalid API key"),
        ("revoked", "invalid API key"),
        ("kapa", "X-API-KEY key for the Kapa API"),
    ],
)
def test_no_or_bad_key_is_401_invalid_api_key(oai: OpenAISetup, key_name: str, message: str) -> None:
    client = oai.client(getattr(oai.home.keys, key_name, key_name))
    with pytest.raises(openai.AuthenticationError) as exc:
        ask(client, ("user", "How often does the daemon sync?"))
    assert_openai_error(exc.value, 401, "invalid_api_key", message)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_requests_without_a_key_are_401(oai: OpenAISetup) -> None:
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        resp = httpx.post(
            f"{oai.server.base_url}/v1/chat/completions", json={"model": "Skyloom", "messages": []}, headers=headers
        )
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "invalid_api_key"
        assert "missing API key" in resp.json()["error"]["message"]


def test_bad_model_is_404_model_not_found(oai: OpenAISetup) -> None:
    with pytest.raises(openai.NotFoundError) as exc:
        ask(oai.client(), ("user", "How often does the daemon sync?"), model="gpt-4o")
    assert_openai_error(exc.value, 404, "model_not_found", "The model `gpt-4o` does not exist")
    assert exc.value.body["type"] == "invalid_request_error"  # type: ignore[index]


def test_a_key_without_the_chat_scope_is_403(oai: OpenAISetup) -> None:
    with pytest.raises(openai.PermissionDeniedError) as exc:
        ask(oai.client(oai.home.keys.search_only), ("user", "How often does the daemon sync?"))
    assert_openai_error(exc.value, 403, "insufficient_permissions", "lacks the 'chat' scope")


def test_a_public_key_chats_but_not_from_another_origin(oai: OpenAISetup) -> None:
    public = oai.home.keys.public
    assert ask(oai.client(public), ("user", "How often does the daemon sync?")).choices[0].message.content
    elsewhere = oai.client(public, default_headers={"Origin": "https://evil.example"})
    with pytest.raises(openai.PermissionDeniedError) as exc:
        ask(elsewhere, ("user", "How often does the daemon sync?"))
    assert_openai_error(exc.value, 403, "insufficient_permissions", "origin https://evil.example is not allowed")
    own_page = oai.client(public, default_headers={"Origin": PUBLIC_ORIGIN})
    assert ask(own_page, ("user", "How often does the daemon sync?")).choices[0].message.content


@pytest.mark.parametrize(
    ("messages", "extra", "param", "message"),
    [
        ([], {}, "messages", "at least 1 item"),
        ([{"role": "assistant", "content": "Hello"}], {}, None, "the last message must be the user's question"),
        ([{"role": "user", "content": "  "}], {}, None, "the last user message is empty"),
        ([{"role": "user", "content": "x" * 5001}], {}, None, "the limit is 5000"),
        ([{"role": "robot", "content": "hi"}], {}, "messages.0.role", "Input should be"),
        ([{"role": "user", "content": "hi"}], {"n": 2}, "n", "less than or equal to 1"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}]}],
            {},
            None,
            "only text parts are supported",
        ),
    ],
)
def test_invalid_requests_are_400_in_openais_shape(
    oai: OpenAISetup, messages: list[dict[str, Any]], extra: dict[str, Any], param: str | None, message: str
) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        oai.client().chat.completions.create(model="Skyloom", messages=messages, **extra)  # type: ignore[arg-type]
    assert exc.value.status_code == 400
    body: dict[str, Any] = exc.value.body  # type: ignore[assignment]
    assert body["type"] == "invalid_request_error" and message in body["message"]
    assert body["param"] == param


def test_chat_completions_draw_on_the_teams_chat_budget(oai: OpenAISetup) -> None:
    """Chat 2/min here, shared with the other APIs' chat: the third call is 429 with Retry-After, streamed or not.
    (A second server on the same home: the budgets are its own, fresh.)"""
    home = oai.home
    with serve(home.cli.home, RATE_LIMITED) as server:
        client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=home.keys.secret, max_retries=0)
        ask(client, ("user", "How often does the daemon sync?"))
        kapa = httpx.post(
            f"{server.base_url}/query/v1/projects/{home.skyloom}/chat/",
            json={"query": "How often does the daemon sync?"},
            headers={"X-API-KEY": home.keys.kapa},
        )
        assert kapa.status_code == 200
        with pytest.raises(openai.RateLimitError) as exc:
            ask(client, ("user", "How often does the daemon sync?"))
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(
                model="Skyloom", messages=[{"role": "user", "content": "How often?"}], stream=True
            )
    assert_openai_error(exc.value, 429, "rate_limit_exceeded", "chat is limited to 2 requests per minute")
    assert exc.value.body["type"] == "requests"  # type: ignore[index]
    assert 1 <= int(exc.value.response.headers["Retry-After"]) <= 60
