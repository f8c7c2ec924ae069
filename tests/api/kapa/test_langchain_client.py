"""The official `langchain-kapa-ai` client against docsage: retriever, document tool and its error mapping."""

from __future__ import annotations

import json
import uuid

import pytest
from langchain_core.documents import Document
from langchain_kapa_ai import (
    KapaAuthenticationError,
    KapaGetDocumentsTool,
    KapaRateLimitError,
    KapaRetriever,
    KapaValidationError,
)

from conftest import LiveServer

from .conftest import MainSetup, RateLimitSetup


def retriever(kapa: MainSetup, **settings: object) -> KapaRetriever:
    return KapaRetriever(api_key=kapa.a.key, project_id=kapa.a.id, base_url=kapa.home.base_url, **settings)


def test_retriever_returns_documents_from_the_right_page(kapa: MainSetup) -> None:
    docs = retriever(kapa).invoke("How do I verify webhook signatures?")
    assert docs and all(isinstance(d, Document) for d in docs)
    assert len(docs) <= 15
    assert docs[0].metadata["source"] == kapa.url("webhooks.html")
    assert "X-Skyloom-Signature" in docs[0].page_content
    assert all(d.page_content for d in docs)


def test_retriever_settings_are_honoured(kapa: MainSetup) -> None:
    docs = retriever(kapa, mode="deep", top_k=2, max_chars=2000).invoke("How often does the daemon sync?")
    assert 1 <= len(docs) <= 2
    assert sum(len(d.page_content) for d in docs) <= 2000
    assert docs[0].metadata["source"] == kapa.url("configuration.md")
    per_call = retriever(kapa).invoke("How often does the daemon sync?", top_k=1)
    assert len(per_call) == 1


def test_retriever_with_user_integration_and_redaction(kapa: MainSetup) -> None:
    docs = retriever(
        kapa,
        integration_id=kapa.a_api_integration,
        redact_query=True,
        end_user={"email": "sam@example.com", "unique_client_id": "sam-1"},
    ).invoke("I'm sam@example.com: how do I install Skyloom with pip?")
    assert docs[0].metadata["source"] == kapa.url("install.md")


@pytest.mark.anyio
async def test_async_retriever(kapa: MainSetup) -> None:
    docs = await retriever(kapa).ainvoke("How do I verify webhook signatures?")
    assert docs[0].metadata["source"] == kapa.url("webhooks.html")


def test_retriever_errors_are_mapped(kapa: MainSetup) -> None:
    wrong_key = KapaRetriever(api_key="dsk_not_a_key", project_id=kapa.a.id, base_url=kapa.home.base_url)
    with pytest.raises(KapaAuthenticationError) as exc:
        wrong_key.invoke("webhooks")
    assert exc.value.status_code == 401
    other_project = KapaRetriever(api_key=kapa.a.key, project_id=kapa.b.id, base_url=kapa.home.base_url)
    with pytest.raises(KapaAuthenticationError) as exc:
        other_project.invoke("webhooks")
    assert exc.value.status_code == 403
    with pytest.raises(KapaValidationError) as exc:
        retriever(kapa, top_k=16).invoke("webhooks")
    assert exc.value.status_code == 422


def tool(kapa: MainSetup, project=None, **settings: object) -> KapaGetDocumentsTool:
    project = project or kapa.a
    return KapaGetDocumentsTool(api_key=project.key, project_id=project.id, base_url=kapa.home.base_url, **settings)


def run_tool(t: KapaGetDocumentsTool, **args: object) -> dict:
    content = t.invoke(args)
    assert isinstance(content, str)
    return json.loads(content)


def test_documents_tool_fetches_whole_pages_by_url(kapa: MainSetup) -> None:
    url = kapa.url("webhooks.html")
    page = run_tool(tool(kapa), urls=[url])
    assert page["has_more"] is False and page["total_requested"] == 1
    [doc] = page["documents"]
    assert doc["source_url"] == url
    assert doc["title"] == "Webhooks"
    assert doc["content_available"] is True and doc["truncated"] is False
    assert "whenever a file in a shared vault changes" in doc["content"]
    assert "hmac.compare_digest" in doc["content"]
    assert doc["total_chars"] == len(doc["content"])
    uuid.UUID(doc["document_id"])

    # The same document by its id, and cut to a per-document limit.
    again = run_tool(tool(kapa, max_chars_per_document=40), document_ids=[doc["document_id"]])
    [cut] = again["documents"]
    assert cut["document_id"] == doc["document_id"]
    assert cut["truncated"] is True and cut["content"] == doc["content"][:40]
    assert cut["total_chars"] == doc["total_chars"]


def test_documents_tool_pages_through_many_urls(kapa: MainSetup) -> None:
    names = ["install.md", "configuration.md", "rate-limits.rst", "troubleshooting.txt", "webhooks.html"]
    urls = [kapa.url(n) for n in names]
    t = tool(kapa, page_size=2)
    pages = [run_tool(t, urls=urls, page=n) for n in (1, 2, 3)]
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert [d["source_url"] for p in pages for d in p["documents"]] == urls


def test_documents_tool_finds_nothing_in_another_project(kapa: MainSetup) -> None:
    page = run_tool(tool(kapa), urls=[kapa.changelog_url])
    assert page["documents"] == []


def test_rate_limit_surfaces_as_kapa_rate_limit_error(
    rate_limited_server: LiveServer, rate_limit_setup: RateLimitSetup
) -> None:
    p = rate_limit_setup.first
    r = KapaRetriever(api_key=p.key, project_id=p.id, base_url=rate_limited_server.base_url)
    for _ in range(3):
        assert r.invoke("How do I verify webhook signatures?")
    with pytest.raises(KapaRateLimitError) as exc:
        r.invoke("How do I verify webhook signatures?")
    assert exc.value.status_code == 429
    assert exc.value.retry_after is not None and 1 <= exc.value.retry_after <= 60
    assert "limited" in str(exc.value).lower() or "throttled" in str(exc.value).lower()
