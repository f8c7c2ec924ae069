"""/api/v1/documents: uploads are answerable at once, listed, and deleted for good (GDPR)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from conftest import LiveServer, minimal_pdf, serve

from .conftest import UNLIMITED, ChatbotSetup
from .helpers import assert_api_error, chat, cited_urls, ok

REFUND = b"""# Refund policy

Refunds are available within 14 days of purchase. To request a refund, email billing@skyloom.example with your
order number. Refunds are paid back to the original payment method within 5 business days.
"""
REFUND_QUESTION = "How many days do I have to ask for a refund?"


def upload(c: httpx.Client, filename: str, data: bytes, content_type: str = "text/markdown") -> httpx.Response:
    return c.post("/api/v1/documents", files={"file": (filename, data, content_type)})


def listed(c: httpx.Client) -> list[dict[str, Any]]:
    return list(ok(c.get("/api/v1/documents"))["documents"])


def retrieve(chatbot: ChatbotSetup, query: str) -> list[str]:
    with chatbot.kapa_client(chatbot.uploads_kapa) as c:
        resp = c.post(f"/query/v1/projects/{chatbot.d}/retrieval/", json={"query": query})
    assert resp.status_code == 200, resp.text
    return [r["source_url"] for r in resp.json()]


def rows_for(chatbot: ChatbotSetup, document_id: str, url: str) -> dict[str, int]:
    with closing(chatbot.cli.connect()) as conn:
        return {
            "documents": conn.execute(
                "SELECT count(*) FROM documents WHERE id = ? OR (project_id = ? AND url = ?)",
                (document_id, chatbot.d, url),
            ).fetchone()[0],
            "chunks": conn.execute("SELECT count(*) FROM chunks WHERE document_id = ?", (document_id,)).fetchone()[0],
        }


def test_upload_answer_list_delete(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.uploads) as c:
        resp = upload(c, "refund.md", REFUND)
        doc = ok(resp, 201)["document"]
        assert doc["filename"] == "refund.md"
        assert doc["status"] == "ready"
        assert doc["chunks"] >= 1
        uuid.UUID(doc["id"])

        # Answerable at once, from the upload.
        answer = chat(c, REFUND_QUESTION)
        assert answer["is_uncertain"] is False, answer["answer"]
        assert "14 days" in answer["answer"]
        assert "upload://refund.md" in cited_urls(answer["answer"])
        assert answer["sources"][0]["url"] == "upload://refund.md"
        assert answer["sources"][0]["title"] == "Refund policy"
        assert "upload://refund.md" in retrieve(chatbot, "refund policy 14 days")
        assert rows_for(chatbot, doc["id"], "upload://refund.md")["chunks"] == doc["chunks"]

        assert [(d["id"], d["filename"], d["status"]) for d in listed(c)] == [(doc["id"], "refund.md", "ready")]

        deleted = ok(c.delete(f"/api/v1/documents/{doc['id']}"))
        assert deleted["deleted"] == doc["id"]
        assert listed(c) == []

        after = chat(c, REFUND_QUESTION)
        assert "upload://refund.md" not in [s["url"] for s in after["sources"]]
        assert "upload://refund.md" not in cited_urls(after["answer"])
        assert "14 days" not in after["answer"]
        assert "upload://refund.md" not in retrieve(chatbot, "refund policy 14 days")
        assert rows_for(chatbot, doc["id"], "upload://refund.md") == {"documents": 0, "chunks": 0}

        # Deleted means gone: a second delete is 404.
        assert_api_error(c.delete(f"/api/v1/documents/{doc['id']}"), 404)


def test_same_filename_replaces_the_document(chatbot: ChatbotSetup) -> None:
    v1 = b"# Shipping\n\nSkyloom hardware keys ship within 3 business days from our Lisbon warehouse.\n"
    v2 = b"# Shipping\n\nSkyloom hardware keys ship within 8 business days from our Porto warehouse.\n"
    question = "How long does shipping of hardware keys take?"
    with chatbot.client(chatbot.uploads) as c:
        first = ok(upload(c, "shipping.md", v1), 201)["document"]
        assert "3 business days" in chat(c, question)["answer"]
        second = ok(upload(c, "shipping.md", v2), 201)["document"]
        assert second["filename"] == "shipping.md"
        docs = [d for d in listed(c) if d["filename"] == "shipping.md"]
        assert len(docs) == 1, docs
        answer = chat(c, question)["answer"]
        assert "8 business days" in answer and "Porto" in answer
        assert "3 business days" not in answer and "Lisbon" not in answer
        ok(c.delete(f"/api/v1/documents/{docs[0]['id']}"))
    with closing(chatbot.cli.connect()) as conn:
        left = conn.execute(
            "SELECT count(*) FROM documents WHERE project_id = ? AND url = 'upload://shipping.md'", (chatbot.d,)
        ).fetchone()[0]
        stale = conn.execute(
            "SELECT count(*) FROM chunks WHERE document_id IN (?, ?)", (first["id"], second["id"])
        ).fetchone()[0]
    assert (left, stale) == (0, 0)


def test_pdf_upload_is_answerable(chatbot: ChatbotSetup) -> None:
    pdf = minimal_pdf(
        [["Skyloom support hours", "Phone support is available Monday to Friday, 9:00 to 17:00 CET."]],
        title="Support hours",
    )
    with chatbot.client(chatbot.uploads) as c:
        doc = ok(upload(c, "support.pdf", pdf, "application/pdf"), 201)["document"]
        assert (doc["filename"], doc["status"]) == ("support.pdf", "ready") and doc["chunks"] >= 1
        answer = chat(c, "When is phone support available?")
        ok(c.delete(f"/api/v1/documents/{doc['id']}"))
    assert answer["is_uncertain"] is False, answer["answer"]
    assert "Monday to Friday" in answer["answer"]
    assert answer["sources"][0]["url"] == "upload://support.pdf"


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00"),
        ("notes", b"no extension"),
        ("empty.md", b""),
        ("binary.txt", b"\x00\x01\x02\x03" * 64),
        ("latin1.md", "Caf\u00e9 cr\u00e8me".encode("latin-1")),
    ],
)
def test_unusable_uploads_are_422(chatbot: ChatbotSetup, filename: str, data: bytes) -> None:
    with chatbot.client(chatbot.uploads) as c:
        assert_api_error(upload(c, filename, data, "application/octet-stream"), 422)
        assert filename not in [d["filename"] for d in listed(c)]


def test_upload_without_a_file_is_422(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.uploads) as c:
        assert_api_error(c.post("/api/v1/documents", data={"title": "nothing"}), 422)


def test_another_projects_document_cannot_be_deleted(chatbot: ChatbotSetup) -> None:
    with chatbot.client(chatbot.uploads) as c:
        doc = ok(upload(c, "warranty.md", b"# Warranty\n\nSkyloom hardware keys carry a two-year warranty.\n"), 201)
    doc_id = doc["document"]["id"]
    with chatbot.client(chatbot.other_server) as c:  # project Q's secret key: may manage Q's documents only
        assert_api_error(c.delete(f"/api/v1/documents/{doc_id}"), 404)
        assert_api_error(c.get(f"/api/v1/documents/{doc_id}"), 404)
        assert_api_error(c.delete(f"/api/v1/documents/{uuid.uuid4()}"), 404)
        assert doc_id not in [d["id"] for d in listed(c)]
    with chatbot.client(chatbot.other) as c:  # project Q's public key may not touch documents at all
        assert "documents" in assert_api_error(c.delete(f"/api/v1/documents/{doc_id}"), 403)
    with chatbot.client(chatbot.uploads) as c:
        assert doc_id in [d["id"] for d in listed(c)]
        ok(c.delete(f"/api/v1/documents/{doc_id}"))


def test_a_manual_page_is_not_an_upload(chatbot: ChatbotSetup) -> None:
    """DELETE /api/v1/documents removes uploads only, not pages of the project's other sources."""
    with closing(chatbot.cli.connect()) as conn:
        (page_id,) = conn.execute(
            "SELECT id FROM documents WHERE project_id = ? AND url = ?", (chatbot.d, chatbot.url("install.md"))
        ).fetchone()
    with chatbot.client(chatbot.uploads) as c:
        assert_api_error(c.delete(f"/api/v1/documents/{page_id}"), 404)
        assert chat(c, "How do I install Skyloom?")["sources"][0]["url"] == chatbot.url("install.md")


# --- a server with a small upload limit ----------------------------------------------------------------------

LIMIT = 2000


@pytest.fixture(scope="module")
def small_limit_server(chatbot: ChatbotSetup) -> Iterator[LiveServer]:
    with serve(chatbot.cli.home, {**UNLIMITED, "DOCSAGE_UPLOAD_MAX_BYTES": str(LIMIT)}) as server:
        yield server


def _markdown(size: int) -> bytes:
    data = b"# Big\n\n" + b"Skyloom notes line.\n" * (size // 20 + 1)
    return data[:size]


def test_upload_at_the_limit_is_accepted(chatbot: ChatbotSetup, small_limit_server: LiveServer) -> None:
    with chatbot.client(chatbot.uploads, server=small_limit_server) as c:
        doc = ok(upload(c, "exactly.md", _markdown(LIMIT)), 201)["document"]
        ok(c.delete(f"/api/v1/documents/{doc['id']}"))


@pytest.mark.parametrize("size", [LIMIT + 1, 50_000, 200_000], ids=["just-over", "50KB", "200KB"])
def test_upload_over_the_limit_is_413(chatbot: ChatbotSetup, small_limit_server: LiveServer, size: int) -> None:
    with chatbot.client(chatbot.uploads, server=small_limit_server) as c:
        error = assert_api_error(upload(c, f"big-{size}.md", _markdown(size)), 413)
        assert str(LIMIT) in error.replace(",", ""), f"the error should name the {LIMIT}-byte limit: {error!r}"
        assert f"big-{size}.md" not in [d["filename"] for d in listed(c)]
