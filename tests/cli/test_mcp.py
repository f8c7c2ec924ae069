"""`docsage mcp --project ID`: the MCP server over stdio, started by the official `mcp` client as agents do,
running as the operator (no key, every tool)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult

from agent_homes import AgentHome, build_agent_home
from conftest import DOCSAGE_EXE, cli_env

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> AgentHome:
    return build_agent_home(tmp_path_factory.mktemp("mcp-stdio"))


def stdio(home: AgentHome, project: str) -> Client:
    return Client(
        StdioServerParameters(command=str(DOCSAGE_EXE), args=["mcp", "--project", project], env=cli_env(home.cli.home)),
        read_timeout_seconds=120,
    )


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


async def test_stdio_server_lists_and_calls_every_tool_as_the_operator(home: AgentHome) -> None:
    async with stdio(home, home.skyloom) as client:
        tools = (await client.list_tools()).tools
        found = data(await client.call_tool("search_docs", {"query": "How do I verify webhook signatures?"}))
        url = found["results"][0]["url"]
        pages = data(await client.call_tool("get_documents", {"urls": [url]}))
        answer = data(await client.call_tool("ask", {"question": "How often does the daemon sync?"}))
        bad = await client.call_tool("search_docs", {"query": "webhooks", "top_k": 0})
    assert [t.name for t in tools] == ["search_docs", "get_documents", "ask"]
    assert all("the Skyloom documentation" in (t.description or "") for t in tools)
    assert url == home.url("webhooks.html")
    assert found["results"][0]["heading_path"] == "Webhooks > Verifying signatures"
    assert "hmac.compare_digest" in pages["results"][0]["content"]
    assert "30 seconds" in answer["answer"] and f"({home.url('configuration.md')})" in answer["answer"]
    assert answer["is_uncertain"] is False
    assert bad.is_error and "top_k" in bad.content[0].text  # type: ignore[union-attr]


async def test_stdio_server_serves_only_the_project_it_was_started_for(home: AgentHome) -> None:
    async with stdio(home, home.changelog) as client:
        tools = (await client.list_tools()).tools
        found = data(await client.call_tool("search_docs", {"query": "How do I verify webhook signatures?"}))
    assert all("the Changelog documentation" in (t.description or "") for t in tools)
    assert {r["title"] for r in found["results"]} == {"Skyloom desktop changelog"}


def test_unknown_project_is_a_one_line_error(home: AgentHome) -> None:
    result = home.cli("mcp", "--project", "00000000-0000-4000-8000-000000000000")
    assert result.returncode == 2
    assert result.stderr == "error: project 00000000-0000-4000-8000-000000000000 not found\n"
    assert result.stdout == ""
