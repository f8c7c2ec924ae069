"""A home with two projects and keys of every kind (tests/agent_homes.py), served by `docsage serve`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from agent_homes import UNLIMITED, AgentHome, build_agent_home
from conftest import LiveServer, serve


@dataclass(frozen=True)
class McpSetup:
    home: AgentHome
    server: LiveServer

    @property
    def url(self) -> str:
        return f"{self.server.base_url}/mcp"


@pytest.fixture(scope="session")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpSetup]:
    home = build_agent_home(tmp_path_factory.mktemp("mcp-http"))
    with serve(home.cli.home, UNLIMITED) as server:
        yield McpSetup(home, server)
