"""MCP over streamable HTTP on `docsage serve`, driven by the official `mcp` client: the tools, their answers,
and who may call what. The directory is `mcp_http`, not `mcp`: a test package must not shadow the SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult

from agent_homes import PUBLIC_ORIGIN, RATE_LIMITED
from conftest import serve

from .conftest import McpSetup

# "auto" speaks the sessionless 2026-07-28 protocol to a server that offers it; "legacy" opens a session with
# the initialize handshake, as Claude Code, Cursor and SDK 1.x clients do. Both must work.
MODES = ("auto", "legacy")
pytestmark = pytest.mark.anyio


@asynccontextmanager
async def connect(
    url: str, key: str | None, mode: str = "auto", statuses: list[int] | None = None
) -> AsyncIterator[Client]:
    async def record(response: httpx2.Response) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60, event_hooks={"response": [record]}) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


def data(result: CallToolResult) -> dict[str, Any]:
    """A successful call's structured result, checked against the JSON text block beside it."""
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", MODES)
async def test_lists_three_tools_that_name_the_project(agents: McpSetup, mode: str) -> None:
    async with connect(agents.url, agents.home.keys.secret, mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert list(tools) == ["search_docs", "get_documents", "ask"]
    for tool in tools.values():
        assert "the Skyloom documentation (sources: docs)" in (tool.description or "")
    search = tools["search_docs"]
    assert "Use it first for any question about Skyloom" in (search.description or "")
    assert search.input_schema["required"] == ["query"]
    assert search.input_schema["properties"]["top_k"]["maximum"] == 15
    assert search.annotations is not None and search.annotations.read_only_hint is True
    assert set(tools["get_documents"].input_schema["properties"]) >= {"urls", "document_ids", "page", "page_size"}
    assert tools["ask"].input_schema["required"] == ["question"]


@pytest.mark.parametrize("mode", MODES)
async def test_search_docs_returns_passages_with_title_url_heading_path(agents: McpSetup, mode: str) -> None:
    async with connect(agents.url, agents.home.keys.secret, mode) as client:
        found = data(await client.call_tool("search_docs", {"query": "How do I verify webhook signatures?"}))
        two = data(await client.call_tool("search_docs", {"query": "sync interval", "top_k": 2}))
        too_many = await client.call_tool("search_docs", {"query": "sync interval", "top_k": 16})
        elsewhere = data(await client.call_tool("search_docs", {"query": "webhooks", "source_ids": ["no-such-id"]}))
    best = found["results"][0]
    assert best["url"] == agents.home.url("webhooks.html")
    assert best["title"] == "Webhooks"
    assert best["heading_path"] == "Webhooks > Verifying signatures"
    assert "X-Skyloom-Signature" in best["content"]
    assert best["document_id"] and best["source_id"]
    assert len(found["results"]) == 5  # the default top_k
    assert len(two["results"]) == 2
    assert "top_k" in error_text(too_many) and "15" in error_text(too_many)
    assert elsewhere["results"] == []


async def test_get_documents_by_url_and_id_paged_like_kapa(agents: McpSetup) -> None:
    home = agents.home
    async with connect(agents.url, home.keys.secret) as client:
        hit = data(await client.call_tool("search_docs", {"query": "rate limit Retry-After", "top_k": 1}))["results"][0]
        by_url = data(await client.call_tool("get_documents", {"urls": [hit["url"], "https://nowhere.example/x"]}))
        by_id = data(await client.call_tool("get_documents", {"document_ids": [hit["document_id"]]}))
        pages = [home.url("install.md"), home.url("configuration.md"), home.url("troubleshooting.txt")]
        first = data(await client.call_tool("get_documents", {"urls": pages, "page_size": 2}))
        second = data(await client.call_tool("get_documents", {"urls": pages, "page_size": 2, "page": 2}))
        cut = data(await client.call_tool("get_documents", {"urls": pages[:1], "max_chars_per_document": 40}))
        nothing = await client.call_tool("get_documents", {})
    assert hit["url"] == home.url("rate-limits.rst")
    (doc,) = by_url["results"]
    assert doc["url"] == hit["url"] and doc["document_id"] == hit["document_id"]
    assert "600 requests per minute" in doc["content"] and "Retry-After" in doc["content"]
    assert doc["total_chars"] == len(doc["content"]) and doc["truncated"] is False
    assert by_url["not_found"] == ["https://nowhere.example/x"]
    assert by_id["results"] == by_url["results"]
    assert [d["url"] for d in first["results"]] == pages[:2]  # in the order asked
    assert first["has_more"] is True and first["total"] == 3
    assert [d["url"] for d in second["results"]] == pages[2:] and second["has_more"] is False
    assert len(cut["results"][0]["content"]) == 40 and cut["results"][0]["truncated"] is True
    assert cut["results"][0]["total_chars"] > 40
    assert "urls or document_ids" in error_text(nothing)


@pytest.mark.parametrize("mode", MODES)
async def test_ask_answers_with_citations_sources_and_uncertainty(agents: McpSetup, mode: str) -> None:
    home = agents.home
    async with connect(agents.url, home.keys.secret, mode) as client:
        answer = data(await client.call_tool("ask", {"question": "How long until access tokens expire?"}))
        unknown = data(await client.call_tool("ask", {"question": "What is the capital of Mongolia?"}))
    assert "90 days" in answer["answer"]
    assert f"[[1]]({home.url('troubleshooting.txt')})" in answer["answer"]
    assert answer["sources"][0] == {
        "n": 1,
        "title": "Troubleshooting",
        "url": home.url("troubleshooting.txt"),
        "heading_path": "Troubleshooting",
    }
    assert answer["is_uncertain"] is False
    assert answer["question_answer_id"]
    assert unknown["is_uncertain"] is True
    # The question was stored like any other: it shows in the Kapa API's question-answers of the project.
    kapa = httpx.get(
        f"{agents.server.base_url}/query/v1/projects/{home.skyloom}/question-answers/",
        headers={"X-API-KEY": home.keys.kapa},
    ).json()
    assert answer["question_answer_id"] in {qa["id"] for qa in kapa["results"]}


@pytest.mark.parametrize(
    ("key_name", "reason"),
    [
        (None, "missing API key"),
        ("dsb_not-a-key", "invalid API key"),
        ("revoked", "invalid API key"),
        ("kapa", "X-API-KEY key for the Kapa API"),
    ],
)
def test_a_request_without_a_valid_bearer_key_is_401_before_any_session(
    agents: McpSetup, key_name: str | None, reason: str
) -> None:
    key = getattr(agents.home.keys, key_name, key_name) if key_name else None
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {"Accept": "application/json, text/event-stream"} | ({"Authorization": f"Bearer {key}"} if key else {})
    resp = httpx.post(agents.url, json=initialize, headers=headers)
    assert resp.status_code == 401
    assert "mcp-session-id" not in resp.headers
    assert resp.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert resp.json()["error"] == "invalid_token" and reason in resp.json()["error_description"]


@pytest.mark.parametrize("mode", MODES)
async def test_the_official_client_fails_to_connect_without_a_key(agents: McpSetup, mode: str) -> None:
    statuses: list[int] = []
    with pytest.raises(ExceptionGroup) as failure:  # the SDK's task groups wrap the transport's error
        async with connect(agents.url, None, mode, statuses):
            pass
    assert failure.group_contains(MCPError)
    assert statuses and set(statuses) == {401}  # auto mode probes, then tries the handshake: both refused


async def test_a_key_without_the_scope_gets_a_tool_error_naming_it(agents: McpSetup) -> None:
    keys = agents.home.keys
    async with connect(agents.url, keys.chat_only) as client:
        search = await client.call_tool("search_docs", {"query": "webhooks"})
        pages = await client.call_tool("get_documents", {"urls": [agents.home.url("install.md")]})
        answer = data(await client.call_tool("ask", {"question": "How long until access tokens expire?"}))
    assert "lacks the 'search' scope; its scopes are chat" in error_text(search)
    assert "--scope chat --scope search" in error_text(search)  # the command that grants it
    assert "'search' scope" in error_text(pages)
    assert "90 days" in answer["answer"]
    async with connect(agents.url, keys.search_only) as client:
        assert data(await client.call_tool("search_docs", {"query": "webhooks"}))["results"]
        assert "lacks the 'chat' scope" in error_text(await client.call_tool("ask", {"question": "webhooks?"}))
    # A public key (it sits in web pages) chats, but may not read the docs wholesale.
    async with connect(agents.url, keys.public) as client:
        assert "public key" in error_text(await client.call_tool("search_docs", {"query": "webhooks"}))
        assert data(await client.call_tool("ask", {"question": "How long until access tokens expire?"}))["answer"]


def test_a_public_key_from_another_origin_is_refused(agents: McpSetup) -> None:
    keys = agents.home.keys
    refused = httpx.post(
        agents.url, json={}, headers={"Authorization": f"Bearer {keys.public}", "Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert "origin https://evil.example is not allowed" in refused.json()["error_description"]
    allowed = httpx.post(
        agents.url,
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"Authorization": f"Bearer {keys.public}", "Origin": PUBLIC_ORIGIN},
    )
    assert allowed.status_code != 403


async def test_another_projects_key_sees_only_its_project(agents: McpSetup) -> None:
    home = agents.home
    async with connect(agents.url, home.changelog_key) as client:
        tools = (await client.list_tools()).tools
        found = data(await client.call_tool("search_docs", {"query": "How do I verify webhook signatures?"}))
        theirs = data(await client.call_tool("get_documents", {"urls": [home.url("webhooks.html")]}))
        answer = data(await client.call_tool("ask", {"question": "How do I verify webhook signatures?"}))
    assert all("the Changelog documentation" in (t.description or "") for t in tools)
    assert all("Skyloom documentation" not in (t.description or "") for t in tools)
    assert found["results"] and {r["title"] for r in found["results"]} == {"Skyloom desktop changelog"}
    assert theirs == {
        "results": [],
        "page": 1,
        "total": 0,
        "has_more": False,
        "not_found": [home.url("webhooks.html")],
    }
    assert "X-Skyloom-Signature" not in answer["answer"] and answer["is_uncertain"] is True


def test_a_session_answers_only_the_key_that_opened_it(agents: McpSetup) -> None:
    home = agents.home
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {home.keys.secret}"}
    opened = httpx.post(
        agents.url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        headers=headers,
    )
    assert opened.status_code == 200, opened.text
    session = {"Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    same = httpx.post(agents.url, json=listing, headers=headers | session)
    assert same.status_code == 200 and len(same.json()["result"]["tools"]) == 3
    other = headers | session | {"Authorization": f"Bearer {home.changelog_key}"}
    assert httpx.post(agents.url, json=listing, headers=other).status_code == 404


async def test_tools_draw_on_the_teams_retrieval_and_chat_budgets(agents: McpSetup) -> None:
    """search_docs and get_documents count against the retrieval budget (3/min here) that /query/v1 retrieval
    also uses, ask against the chat budget (2/min); past it, the tool error says when to try again. (A second
    server on the same home: the budgets are its own, fresh.)"""
    home = agents.home
    with serve(home.cli.home, RATE_LIMITED) as server:
        retrieval = httpx.post(
            f"{server.base_url}/query/v1/projects/{home.skyloom}/retrieval/",
            json={"query": "webhooks"},
            headers={"X-API-KEY": home.keys.kapa},
        )
        assert retrieval.status_code == 200
        async with connect(f"{server.base_url}/mcp", home.keys.secret) as client:
            data(await client.call_tool("search_docs", {"query": "webhooks"}))
            data(await client.call_tool("get_documents", {"urls": [home.url("install.md")]}))
            throttled = error_text(await client.call_tool("search_docs", {"query": "webhooks"}))
            for _ in range(2):
                data(await client.call_tool("ask", {"question": "How long until access tokens expire?"}))
            no_more_chat = error_text(
                await client.call_tool("ask", {"question": "How long until access tokens expire?"})
            )
    assert "retrieval is limited to 3 requests per minute" in throttled and "Expected available in" in throttled
    assert "chat is limited to 2 requests per minute" in no_more_chat
