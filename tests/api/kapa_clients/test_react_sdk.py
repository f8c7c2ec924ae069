"""The official `@kapaai/react-sdk` against a real `docsage serve`, driven from Node by its own code.

`tests/clients/node/kapa_sdk_probe.mjs` runs the pinned SDK's `DefaultKapaApiService.submitQuery` /
`addFeedback` (what `<KapaProvider>` calls in a browser) against `/proxy/query/v2/…` with `X-WEBSITE-ID`,
and in MODE=v1 feeds docsage's public `/query/v1/…/chat/stream/` response to the SDK's exported
`processStream`. It prints one JSON line with what the SDK's callbacks received. `make unit` installs Node
and the pinned packages first (`make node-test-deps`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Cli, serve

NODE = shutil.which("node")
if NODE is None:
    pytest.skip(
        "node is not installed; `make unit` installs it (target node-test-deps) before running the suite",
        allow_module_level=True,
    )

CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "node"
PROBE = CLIENT_DIR / "kapa_sdk_probe.mjs"
SDK_VERSION = "0.13.1"
PROBE_VARS = ("BASE_URL", "MODE", "QUERY", "WEBSITE_ID", "PROJECT_ID", "API_KEY", "THREAD_ID", "FEEDBACK")
STREAM_ORDER = ["stream_start", "partial_answer", "metadata", "identifiers", "relevant_sources"]
CITATION = re.compile(r"\[\[(\d+)\]\]\(([^)\s]+)\)")
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"

INSTALL_Q = "How do I install the Skyloom CLI?"
WEBHOOK_Q = "How do I verify webhook signatures?"
QUOTA_Q = "What HTTP status does Skyloom return when a client exceeds its quota?"


@dataclass(frozen=True)
class World:
    """A served data directory: the Skyloom manual ingested, a WIDGET integration and an X-API-KEY key."""

    cli: Cli
    base_url: str
    project_id: str
    website_id: str
    api_key: str
    page_urls: dict[str, str]  # file name in the docs folder -> the document URL docsage cites

    def probe(self, query: str, mode: str = "sdk", **extra: str) -> tuple[dict[str, Any], int]:
        """Run the Node probe; (its JSON result, its exit code)."""
        env = {k: v for k, v in os.environ.items() if k not in PROBE_VARS and not k.startswith("DOCSAGE_")}
        env |= {
            "BASE_URL": self.base_url,
            "MODE": mode,
            "QUERY": query,
            "WEBSITE_ID": self.website_id,
            "PROJECT_ID": self.project_id,
            "API_KEY": self.api_key,
        }
        env |= {k.upper(): v for k, v in extra.items()}
        assert NODE is not None
        proc = subprocess.run(
            [NODE, str(PROBE)], cwd=CLIENT_DIR, env=env, capture_output=True, text=True, timeout=90, check=False
        )
        lines = proc.stdout.strip().splitlines()
        assert lines, f"probe printed nothing (exit {proc.returncode}): {proc.stderr}"
        return json.loads(lines[-1]), proc.returncode

    def stored_thread(self, thread_id: str) -> dict[str, Any]:
        resp = httpx.get(f"{self.base_url}/query/v1/threads/{thread_id}/", headers={"X-API-KEY": self.api_key})
        assert resp.status_code == 200, resp.text
        thread: dict[str, Any] = resp.json()
        return thread

    def stored_answer(self, thread_id: str, question_answer_id: str) -> str:
        qas = {qa["id"]: qa for qa in self.stored_thread(thread_id)["question_answers"]}
        assert question_answer_id in qas, f"{question_answer_id} not in thread {thread_id}: {list(qas)}"
        return str(qas[question_answer_id]["answer"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, make_docs: Callable[[Path], Path]) -> Iterator[World]:
    sdk = CLIENT_DIR / "node_modules" / "@kapaai" / "react-sdk" / "package.json"
    assert sdk.is_file(), f"{sdk} is missing: run `make node-test-deps` (npm ci in {CLIENT_DIR})"
    assert json.loads(sdk.read_text())["version"] == SDK_VERSION

    root = tmp_path_factory.mktemp("kapa-sdk")
    cli = Cli(root / "home")
    docs = make_docs(root)
    project_id = cli.json("project", "create", "--name", "Skyloom docs")["id"]
    cli.json("source", "add", "--project", project_id, "--type", "folder", "--path", docs, "--name", "manual")
    ingest = cli("ingest", "--project", project_id)
    assert ingest.returncode == 0, ingest.stderr
    website_id = cli.json("integration", "create", "--project", project_id, "--type", "WIDGET", "--name", "web")["id"]
    api_key = cli.json("key", "create", "--project", project_id)["key"]
    with closing(cli.connect()) as conn:
        urls = [row[0] for row in conn.execute("SELECT url FROM documents WHERE project_id = ?", (project_id,))]
    page_urls = {name: url for name in (p.name for p in docs.iterdir()) for url in urls if url.endswith("/" + name)}
    assert len(page_urls) == len(urls) == 5, urls
    with serve(cli.home) as server:
        yield World(cli, server.base_url, project_id, website_id, api_key, page_urls)


def assert_cited_answer(world: World, result: dict[str, Any], exit_code: int, page: str) -> None:
    """What every successful turn must give the SDK: a streamed, cited answer and both identifiers."""
    assert exit_code == 0, result
    assert result["error"] is None
    assert result["chunks"] == STREAM_ORDER
    assert result["first_token"] is True
    assert result["answer"].strip()
    cited = {url for _, url in CITATION.findall(result["answer"])}
    assert world.page_urls[page] in cited, (page, result["answer"])
    assert cited <= set(world.page_urls.values()), cited
    assert result["is_uncertain"] is False
    assert result["thread_id"] and result["question_answer_id"]
    assert result["stream_start_thread_id"] == result["thread_id"]
    sources = result["relevant_sources"]
    assert sources
    for source in sources:
        assert source["source_url"] in world.page_urls.values(), source
        assert source["title"].strip(), source
    assert world.page_urls[page] in [s["source_url"] for s in sources]
    # The text the SDK assembled from the partial answers is exactly what docsage stored.
    assert world.stored_answer(result["thread_id"], result["question_answer_id"]) == result["answer"]


# MODE=sdk: DefaultKapaApiService + processStream against /proxy/query/v2 --------------------------------------


def test_sdk_widget_query_streams_a_cited_answer(world: World) -> None:
    result, code = world.probe(INSTALL_Q)
    assert_cited_answer(world, result, code, "install.md")
    assert world.stored_thread(result["thread_id"])["integration"]["id"] == world.website_id


def test_sdk_follow_up_in_thread_keeps_the_thread(world: World) -> None:
    first, code = world.probe(INSTALL_Q)
    assert_cited_answer(world, first, code, "install.md")
    follow, code = world.probe("And how do I upgrade it?", thread_id=first["thread_id"])
    assert_cited_answer(world, follow, code, "install.md")
    assert follow["thread_id"] == first["thread_id"]
    assert follow["question_answer_id"] != first["question_answer_id"]
    assert "--upgrade" in follow["answer"]
    stored = world.stored_thread(first["thread_id"])["question_answers"]
    assert [qa["id"] for qa in stored] == [first["question_answer_id"], follow["question_answer_id"]]


@pytest.mark.parametrize(
    ("reaction", "comment"),
    [("upvote", None), ("downvote", {"issue": "probe comment", "incorrect": True})],
)
def test_sdk_feedback_is_stored(world: World, reaction: str, comment: dict[str, Any] | None) -> None:
    result, code = world.probe(WEBHOOK_Q, feedback=reaction)
    assert_cited_answer(world, result, code, "webhooks.html")
    assert result["feedback_ok"] is True, result["feedback_error"]
    with closing(world.cli.connect()) as conn:
        rows = conn.execute(
            "SELECT user_identifier, reaction, comment FROM feedback WHERE question_answer_id = ?",
            (result["question_answer_id"],),
        ).fetchall()
    assert len(rows) == 1, rows
    user, stored_reaction, stored_comment = rows[0]
    assert user == "user-identifier"  # the SDK's addFeedback hard-codes it
    assert stored_reaction == reaction
    assert (json.loads(stored_comment) if stored_comment is not None else None) == comment


def test_sdk_unknown_website_id_is_an_sdk_error(world: World) -> None:
    result, code = world.probe(INSTALL_Q, website_id=UNKNOWN_ID)
    assert code == 1, result
    assert isinstance(result["error"], str) and result["error"]
    assert result["answer"] == ""
    assert result["thread_id"] is None and result["question_answer_id"] is None


# MODE=v1: the public /query/v1 stream parsed by the SDK's exported processStream -----------------------------


def test_v1_stream_is_parsed_by_the_sdk(world: World) -> None:
    first, code = world.probe(QUOTA_Q, mode="v1")
    assert_cited_answer(world, first, code, "rate-limits.rst")
    assert "429" in first["answer"]
    follow, code = world.probe("How long should it wait before retrying?", mode="v1", thread_id=first["thread_id"])
    assert_cited_answer(world, follow, code, "rate-limits.rst")
    assert follow["thread_id"] == first["thread_id"]
    assert follow["question_answer_id"] != first["question_answer_id"]


def test_v1_bad_api_key_is_an_error(world: World) -> None:
    result, code = world.probe(QUOTA_Q, mode="v1", api_key="dsk_not-a-key")
    assert code == 1, result
    assert result["error"].startswith("HTTP 401"), result["error"]
    assert result["answer"] == ""
