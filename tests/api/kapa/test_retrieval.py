"""Retrieval, documents and (deprecated) search, as API clients such as the LangChain retriever use them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import BOILERPLATE_ONLY_WORDS, Cli, LiveServer, serve

from .conftest import UNLIMITED, MainSetup, Project
from .helpers import CHANGELOG_VERSIONS, assert_json_error, page_name


def post(kapa: MainSetup, project: Project, endpoint: str, body: dict[str, Any]) -> httpx.Response:
    with kapa.home.client(project) as client:
        return client.post(f"/query/v1/projects/{project.id}/{endpoint}/", json=body)


def retrieve(kapa: MainSetup, project: Project, **body: Any) -> list[dict[str, Any]]:
    resp = post(kapa, project, "retrieval", body)
    assert resp.status_code == 200, resp.text
    results = resp.json()
    assert isinstance(results, list), "retrieval answers a bare JSON array"
    for item in results:
        assert set(item) == {"source_url", "content", "title"}, item
        assert all(isinstance(item[k], str) and item[k] for k in item), item
    return results


# --- retrieval -----------------------------------------------------------------------------------------------


def test_retrieval_returns_the_relevant_passage_first(kapa: MainSetup) -> None:
    results = retrieve(kapa, kapa.a, query="How do I verify webhook signatures?")
    assert results[0]["source_url"] == kapa.url("webhooks.html")
    assert results[0]["title"] == "Webhooks"
    assert "X-Skyloom-Signature" in results[0]["content"]
    # Only this project's documents: B's changelog is never returned to A's key.
    assert all(r["source_url"] != kapa.changelog_url for r in results)


def test_retrieval_default_top_k_is_15(kapa: MainSetup) -> None:
    results = retrieve(kapa, kapa.b, query="What changed in the thumbnail cache release notes?")
    assert len(results) == 15
    assert len(retrieve(kapa, kapa.b, query="thumbnail cache release", top_k=3)) == 3
    assert len(retrieve(kapa, kapa.b, query="thumbnail cache release", top_k=15)) == 15


@pytest.mark.parametrize("top_k", [0, 16, -1])
def test_retrieval_top_k_out_of_range_is_422(kapa: MainSetup, top_k: int) -> None:
    assert_json_error(post(kapa, kapa.a, "retrieval", {"query": "webhooks", "top_k": top_k}), 422)


@pytest.mark.parametrize("max_chars", [400, 1500, 5000])
def test_retrieval_content_fits_in_max_chars(kapa: MainSetup, max_chars: int) -> None:
    results = retrieve(kapa, kapa.b, query="thumbnail cache release notes", max_chars=max_chars)
    assert results, "a budget this size holds at least one passage"
    assert sum(len(r["content"]) for r in results) <= max_chars


def test_retrieval_max_chars_bounds(kapa: MainSetup) -> None:
    default = retrieve(kapa, kapa.b, query="thumbnail cache release notes")
    assert sum(len(r["content"]) for r in default) <= 35000
    assert retrieve(kapa, kapa.b, query="thumbnail cache release notes", max_chars=60000)
    assert_json_error(post(kapa, kapa.b, "retrieval", {"query": "release notes", "max_chars": 60001}), 422)
    assert_json_error(post(kapa, kapa.b, "retrieval", {"query": "release notes", "max_chars": 0}), 422)


def test_retrieval_modes(kapa: MainSetup) -> None:
    deep = retrieve(kapa, kapa.a, query="How do I verify webhook signatures?", mode="deep")
    assert deep[0]["source_url"] == kapa.url("webhooks.html")
    assert retrieve(kapa, kapa.a, query="How do I verify webhook signatures?", mode="default")
    assert_json_error(post(kapa, kapa.a, "retrieval", {"query": "webhooks", "mode": "thorough"}), 422)


def test_retrieval_with_every_documented_field(kapa: MainSetup) -> None:
    """The exact body the official LangChain retriever can send."""
    results = retrieve(
        kapa,
        kapa.a,
        query="How do I verify webhook signatures?",
        mode="default",
        top_k=5,
        max_chars=20000,
        integration_id=kapa.a_api_integration,
        redact_query=False,
        user={"email": "eve@example.com", "unique_client_id": "eve-1", "metadata": {"plan": "pro"}},
    )
    assert 1 <= len(results) <= 5
    assert results[0]["source_url"] == kapa.url("webhooks.html")


def test_retrieval_with_redact_query(kapa: MainSetup) -> None:
    query = "I'm jane.doe@example.com, phone +1 415 555 0134. How do I verify webhook signatures?"
    results = retrieve(kapa, kapa.a, query=query, redact_query=True)
    assert results[0]["source_url"] == kapa.url("webhooks.html")


@pytest.mark.parametrize("query", ["", "x" * 5001])
def test_retrieval_query_length_is_checked(kapa: MainSetup, query: str) -> None:
    assert_json_error(post(kapa, kapa.a, "retrieval", {"query": query}), 422)


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("retrieval", {"query": "webhooks"}),
        ("documents", {"urls": ["file:///nowhere.md"]}),
        ("search", {"query": "webhooks"}),
        ("chat", {"query": "How do I verify webhook signatures?"}),
        ("chat/stream", {"query": "How do I verify webhook signatures?"}),
    ],
)
def test_trailing_slash_paths_are_served_without_redirect(kapa: MainSetup, endpoint: str, body: dict) -> None:
    resp = post(kapa, kapa.a, endpoint, body)  # the client does not follow redirects
    assert resp.status_code == 200, (resp.status_code, resp.headers.get("location"))
    assert not resp.is_redirect


def test_concurrent_retrievals_queue_for_the_search_threads_and_all_get_their_own_answer(kapa: MainSetup) -> None:
    """With one search thread (DOCSAGE_SEARCH_THREADS=1), 24 requests at once all succeed, each with what the
    same query gets alone: queued searches are not dropped, mixed up or failed."""
    queries = [
        "How do I verify webhook signatures?",
        "Which environment variable selects the data region?",
        "What happens when I exceed the rate limit?",
        "How do I install the command-line client?",
        "connection refused, is the daemon running?",
        "How often does the daemon sync?",
    ]
    with serve(kapa.home.cli.home, {**UNLIMITED, "DOCSAGE_SEARCH_THREADS": "1"}) as server:
        url = f"{server.base_url}/query/v1/projects/{kapa.a.id}/retrieval/"
        headers = {"X-API-KEY": kapa.a.key}
        alone = {q: httpx.post(url, json={"query": q}, headers=headers, timeout=60).json() for q in queries}

        async def all_at_once() -> list[httpx.Response]:
            async with httpx.AsyncClient(headers=headers, timeout=60) as client:
                return await asyncio.gather(*(client.post(url, json={"query": q}) for q in queries * 4))

        responses = asyncio.run(all_at_once())
    assert [r.status_code for r in responses] == [200] * len(responses)
    for query, resp in zip(queries * 4, responses, strict=True):
        assert resp.json() == alone[query], query
        assert resp.json(), query


def test_retrieval_sees_documents_ingested_while_the_server_runs(
    live_server: LiveServer, run_cli: Cli, make_docs, tmp_path: Path
) -> None:
    project = run_cli.json("project", "create", "--name", "Late")
    key = run_cli.json("key", "create", "--project", project["id"])["key"]
    url = f"{live_server.base_url}/query/v1/projects/{project['id']}/retrieval/"
    body = {"query": "How do I verify webhook signatures?"}
    before = httpx.post(url, json=body, headers={"X-API-KEY": key}, timeout=60)
    assert before.status_code == 200 and before.json() == []

    docs = make_docs(tmp_path)
    run_cli.json("source", "add", "--project", project["id"], "--type", "folder", "--path", docs)
    assert run_cli("ingest", "--project", project["id"]).returncode == 0

    after = httpx.post(url, json=body, headers={"X-API-KEY": key}, timeout=60)
    assert after.status_code == 200, after.text
    assert page_name(after.json()[0]["source_url"]) == "webhooks.html"


# --- documents -----------------------------------------------------------------------------------------------


def documents(kapa: MainSetup, project: Project, **body: Any) -> list[dict[str, Any]]:
    resp = post(kapa, project, "documents", body)
    assert resp.status_code == 200, resp.text
    payload = resp.json()
    assert set(payload) == {"results"}
    for doc in payload["results"]:
        assert set(doc) == {"document_id", "source_url", "title", "content", "total_chars", "truncated"}, doc
        uuid.UUID(doc["document_id"])
    return payload["results"]


def test_documents_by_url_return_the_whole_page(kapa: MainSetup) -> None:
    [doc] = documents(kapa, kapa.a, urls=[kapa.url("webhooks.html")])
    assert doc["source_url"] == kapa.url("webhooks.html")
    assert doc["title"] == "Webhooks"
    # The whole page: its introduction, the signature section and the code, not one retrieved chunk.
    assert "whenever a file in a shared vault changes" in doc["content"]
    assert "X-Skyloom-Signature" in doc["content"]
    assert "hmac.compare_digest" in doc["content"]
    assert not any(word in doc["content"] for word in BOILERPLATE_ONLY_WORDS)
    assert doc["total_chars"] == len(doc["content"])
    assert doc["truncated"] is False


def test_documents_by_id_and_truncation(kapa: MainSetup) -> None:
    [whole] = documents(kapa, kapa.b, urls=[kapa.changelog_url])
    assert "## Version 3.0.0" in whole["content"]
    assert f"## Version 3.{CHANGELOG_VERSIONS - 1}.0" in whole["content"]
    assert whole["total_chars"] == len(whole["content"]) > 15000

    [by_id] = documents(kapa, kapa.b, document_ids=[whole["document_id"]])
    assert by_id == whole

    [cut] = documents(kapa, kapa.b, document_ids=[whole["document_id"]], max_chars_per_document=1000)
    assert cut["truncated"] is True
    assert len(cut["content"]) == 1000
    assert whole["content"].startswith(cut["content"])
    assert cut["total_chars"] == whole["total_chars"]


def test_documents_of_another_project_are_not_returned(kapa: MainSetup) -> None:
    assert documents(kapa, kapa.a, urls=[kapa.changelog_url]) == []
    [b_doc] = documents(kapa, kapa.b, urls=[kapa.changelog_url])
    assert documents(kapa, kapa.a, document_ids=[b_doc["document_id"]]) == []


def test_documents_several_urls_and_pages(kapa: MainSetup) -> None:
    urls = [kapa.url(n) for n in ("install.md", "webhooks.html", "configuration.md")]
    found = documents(kapa, kapa.a, urls=urls, page_size=5)
    assert sorted(d["source_url"] for d in found) == sorted(urls)
    first = documents(kapa, kapa.a, urls=urls, page=1, page_size=2)
    second = documents(kapa, kapa.a, urls=urls, page=2, page_size=2)
    assert len(first) == 2 and len(second) == 1
    assert sorted(d["source_url"] for d in first + second) == sorted(urls)


# --- search (deprecated) -------------------------------------------------------------------------------------


def search(kapa: MainSetup, project: Project, **body: Any) -> list[dict[str, Any]]:
    resp = post(kapa, project, "search", body)
    assert resp.status_code == 200, resp.text
    results = resp.json()
    assert isinstance(results, list)
    for item in results:
        assert set(item) == {"content", "source_url", "title", "source_type"}, item
        assert isinstance(item["source_type"], str) and item["source_type"]
    return results


def test_search_honours_num_results(kapa: MainSetup) -> None:
    results = search(kapa, kapa.b, query="release thumbnail cache", num_results=3)
    assert len(results) == 3
    assert len(search(kapa, kapa.b, query="release thumbnail cache")) == 10  # the documented default
    assert search(kapa, kapa.a, query="webhook signature", num_results=1)[0]["source_url"] == kapa.url("webhooks.html")


def test_search_include_source_names_filters_by_source(kapa: MainSetup) -> None:
    query = "Skyloom release webhook signature"
    both = {r["source_url"] for r in search(kapa, kapa.b, query=query, num_results=50)}
    assert kapa.changelog_url in both and kapa.url("webhooks.html") in both
    only_changelog = search(kapa, kapa.b, query=query, num_results=50, include_source_names=["changelog"])
    assert only_changelog
    assert {r["source_url"] for r in only_changelog} == {kapa.changelog_url}
    only_docs = search(kapa, kapa.b, query=query, num_results=50, include_source_names=["skyloom-docs"])
    assert only_docs and kapa.changelog_url not in {r["source_url"] for r in only_docs}
    assert search(kapa, kapa.b, query=query, include_source_names=["no-such-source"]) == []


def test_search_rejects_bad_input(kapa: MainSetup) -> None:
    assert_json_error(post(kapa, kapa.a, "search", {"query": ""}), 422)
    assert_json_error(post(kapa, kapa.a, "search", {"query": "x", "num_results": "many"}), 422)
    assert_json_error(post(kapa, kapa.a, "search", {"query": "x", "include_source_names": [""]}), 422)
