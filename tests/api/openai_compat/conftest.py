"""A home with two projects and keys of every kind (tests/agent_homes.py), served by `docsage serve`.

The directory is `openai_compat`, as the package it tests: a test package named `openai` would shadow the SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest

from agent_homes import UNLIMITED, AgentHome, build_agent_home
from conftest import LiveServer, serve


@dataclass(frozen=True)
class OpenAISetup:
    home: AgentHome
    server: LiveServer

    def client(self, key: str | None = None, **options: object) -> openai.OpenAI:
        """The official SDK pointed at docsage, unmodified; no retries, so a refusal is seen as it is."""
        return openai.OpenAI(
            base_url=f"{self.server.base_url}/v1",
            api_key=key if key is not None else self.home.keys.secret,
            max_retries=0,
            **options,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="session")
def oai(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAISetup]:
    home = build_agent_home(tmp_path_factory.mktemp("openai-compat"))
    with serve(home.cli.home, UNLIMITED) as server:
        yield OpenAISetup(home, server)
