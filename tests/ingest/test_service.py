"""Change-only ingestion, in process against a real SQLite file: unchanged, updated, deleted, failed, skipped."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import make_settings, minimal_pdf
from databases import TestConnection
from docsage.db.models import Source
from docsage.embed.local import CHUNK_TOKENS
from docsage.services import Services
from fakes.openai_server import FakeOpenAI

DOC_COUNT = 5  # pages in the Skyloom manual written by make_docs


@dataclass
class Indexed:
    services: Services
    docs: Path
    source: Source

    @property
    def project_id(self) -> str:
        return self.source.project_id

    def connect(self) -> TestConnection:
        return TestConnection(self.services.settings.resolved_home())

    def chunks(self) -> dict[str, tuple[int, str, int, bytes]]:
        """chunk_id → (pk, document url, ordinal, embedding) for every chunk of the source."""
        with closing(self.connect()) as conn:
            rows = conn.execute(
                "SELECT c.chunk_id, c.pk, d.url, c.ordinal, c.embedding FROM chunks c "
                "JOIN documents d ON d.id = c.document_id WHERE c.source_id = ?",
                (self.source.id,),
            ).fetchall()
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def url(self, name: str) -> str:
        return (self.docs / name).resolve().as_uri()

    def urls_found(self, query: str) -> set[str]:
        found: set[str] = set()
        for mode in ("hybrid", "lexical", "dense"):
            hits = self.services.retrieval.search(self.project_id, query, top_k=20, mode=mode)  # type: ignore[arg-type]
            found.update(h.source_url for h in hits)
        return found


@pytest.fixture
def indexed(services: Services, tmp_path: Path, make_docs: Callable[[Path], Path]) -> Iterator[Indexed]:
    """The Skyloom manual as a folder source, ingested once."""
    docs = make_docs(tmp_path)
    project = services.projects.create_project("Skyloom")
    source = services.projects.add_source(project.id, "folder", str(docs))
    first = services.ingest.run(source.id)
    assert first.status == "succeeded", first
    assert (first.added, first.updated, first.unchanged, first.deleted, first.failed) == (DOC_COUNT, 0, 0, 0, 0)
    assert first.chunks > 0
    yield Indexed(services, docs, source)


def test_second_run_is_all_unchanged_and_does_not_reembed(indexed: Indexed) -> None:
    before = indexed.chunks()
    summary = indexed.services.ingest.run(indexed.source.id)
    assert summary.status == "succeeded"
    assert (summary.added, summary.updated, summary.unchanged, summary.deleted, summary.failed) == (
        0,
        0,
        DOC_COUNT,
        0,
        0,
    )
    assert summary.chunks == 0, "no chunk should be embedded again"
    # Same ids, same rows (primary keys) and the same vectors: nothing was rewritten.
    assert indexed.chunks() == before


def test_editing_one_file_replaces_only_its_chunks(indexed: Indexed) -> None:
    before = indexed.chunks()
    edited_url = indexed.url("configuration.md")
    page = indexed.docs / "configuration.md"
    page.write_text(
        page.read_text(encoding="utf-8")
        + "\n## Proxy\n\nSet `SKYLOOM_PROXY_URL` to send all traffic through a corporate proxy server.\n",
        encoding="utf-8",
    )

    summary = indexed.services.ingest.run(indexed.source.id)
    assert summary.status == "succeeded"
    assert (summary.added, summary.updated, summary.unchanged, summary.deleted, summary.failed) == (
        0,
        1,
        DOC_COUNT - 1,
        0,
        0,
    )

    after = indexed.chunks()
    untouched_before = {cid: row for cid, row in before.items() if row[1] != edited_url}
    untouched_after = {cid: row for cid, row in after.items() if row[1] != edited_url}
    assert untouched_after == untouched_before, "chunks of unedited pages must not be rewritten"
    edited_after = {cid: row for cid, row in after.items() if row[1] == edited_url}
    assert len(edited_after) > len([r for r in before.values() if r[1] == edited_url])
    assert sorted(r[2] for r in edited_after.values()) == list(range(len(edited_after)))
    with closing(indexed.connect()) as conn:
        (chunk_count,) = conn.execute("SELECT chunk_count FROM documents WHERE url = ?", (edited_url,)).fetchone()
        texts = [
            r[0]
            for r in conn.execute(
                "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.url = ?", (edited_url,)
            )
        ]
    assert chunk_count == len(edited_after)
    assert any("SKYLOOM_PROXY_URL" in t for t in texts)

    hits = indexed.services.retrieval.search(indexed.project_id, "SKYLOOM_PROXY_URL corporate proxy", top_k=3)
    assert hits[0].source_url == edited_url
    assert "SKYLOOM_PROXY_URL" in hits[0].content


def test_deleting_a_file_removes_its_document_chunks_and_vectors_from_every_index(indexed: Indexed) -> None:
    gone_url = indexed.url("rate-limits.rst")
    query = "429 Too Many Requests Retry-After"
    assert gone_url in indexed.urls_found(query)  # also warms the in-process vector cache
    before = indexed.chunks()
    gone_pks = [row[0] for row in before.values() if row[1] == gone_url]
    assert gone_pks

    (indexed.docs / "rate-limits.rst").unlink()
    summary = indexed.services.ingest.run(indexed.source.id)
    assert summary.status == "succeeded"
    assert (summary.added, summary.updated, summary.unchanged, summary.deleted, summary.failed) == (
        0,
        0,
        DOC_COUNT - 1,
        1,
        0,
    )

    marks = ",".join("?" * len(gone_pks))
    with closing(indexed.connect()) as conn:
        assert conn.execute("SELECT count(*) FROM documents WHERE url = ?", (gone_url,)).fetchone()[0] == 0
        assert conn.execute(f"SELECT count(*) FROM chunks WHERE pk IN ({marks})", gone_pks).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == len(before) - len(gone_pks)
    assert {cid: row for cid, row in before.items() if row[1] != gone_url} == indexed.chunks()
    assert gone_url not in indexed.urls_found(query)


def test_unparseable_file_fails_with_a_reason_and_the_rest_is_indexed(
    services: Services, tmp_path: Path, make_docs: Callable[[Path], Path]
) -> None:
    docs = make_docs(tmp_path)
    (docs / "datasheet.pdf").write_bytes(b"This is a plain text file pretending to be a PDF.\n" * 20)
    project = services.projects.create_project("Skyloom")
    source = services.projects.add_source(project.id, "folder", str(docs))

    summary = services.ingest.run(source.id)

    assert summary.status == "succeeded"
    assert (summary.added, summary.failed, summary.skipped) == (DOC_COUNT, 1, 0)
    [failure] = summary.failures
    assert failure["url"].endswith("/datasheet.pdf")
    assert failure["kind"] == "failed"
    assert failure["reason"].strip()
    with closing(TestConnection(services.settings.resolved_home())) as conn:
        urls = {r[0] for r in conn.execute("SELECT url FROM documents")}
        run = conn.execute("SELECT status, failed, added FROM ingest_runs WHERE id = ?", (summary.run_id,)).fetchone()
    assert len(urls) == DOC_COUNT
    assert not any(u.endswith(".pdf") for u in urls)
    assert run == ("succeeded", 1, DOC_COUNT)


def test_a_document_that_now_fails_to_parse_keeps_its_indexed_version(indexed: Indexed) -> None:
    datasheet = indexed.docs / "datasheet.pdf"
    datasheet.write_bytes(minimal_pdf([["Skyloom Datasheet", "The Skyloom appliance stores 48 terabytes."]]))
    first = indexed.services.ingest.run(indexed.source.id)
    assert (first.added, first.unchanged, first.failed) == (1, DOC_COUNT, 0)
    before = indexed.chunks()

    datasheet.write_bytes(b"truncated upload, no longer a PDF")
    summary = indexed.services.ingest.run(indexed.source.id)

    assert summary.status == "succeeded"
    assert (summary.updated, summary.unchanged, summary.deleted, summary.failed) == (0, DOC_COUNT, 0, 1)
    assert summary.failures[0]["url"] == datasheet.resolve().as_uri()
    assert indexed.chunks() == before, "a failed parse must not drop or rewrite the last good version"
    hits = indexed.services.retrieval.search(indexed.project_id, "appliance stores 48 terabytes", top_k=1)
    assert hits[0].source_url == datasheet.resolve().as_uri()


def test_binary_markdown_file_is_skipped(services: Services, tmp_path: Path, make_docs: Callable[[Path], Path]) -> None:
    docs = make_docs(tmp_path)
    (docs / "logo.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)))
    project = services.projects.create_project("Skyloom")
    source = services.projects.add_source(project.id, "folder", str(docs))

    summary = services.ingest.run(source.id)

    assert summary.status == "succeeded"
    assert (summary.added, summary.failed, summary.skipped) == (DOC_COUNT, 0, 1)
    assert [f["kind"] for f in summary.failures] == ["skipped"]
    assert summary.failures[0]["url"].endswith("/logo.md")
    with closing(TestConnection(services.settings.resolved_home())) as conn:
        assert conn.execute("SELECT count(*) FROM documents WHERE url LIKE '%/logo.md'").fetchone()[0] == 0


def test_connector_error_fails_the_run_and_deletes_nothing(indexed: Indexed) -> None:
    before = indexed.chunks()
    with closing(indexed.connect()) as conn:
        docs_before = conn.execute("SELECT id, content_hash FROM documents ORDER BY id").fetchall()
    shutil.rmtree(indexed.docs)

    summary = indexed.services.ingest.run(indexed.source.id)

    assert summary.status == "failed"
    assert summary.error
    assert summary.deleted == 0
    with closing(indexed.connect()) as conn:
        assert conn.execute("SELECT id, content_hash FROM documents ORDER BY id").fetchall() == docs_before
        assert conn.execute("SELECT status FROM ingest_runs WHERE id = ?", (summary.run_id,)).fetchone() == ("failed",)
    assert indexed.chunks() == before
    assert indexed.url("rate-limits.rst") in indexed.urls_found("429 Too Many Requests Retry-After")


def token_counts(indexed: Indexed) -> list[int]:
    with closing(indexed.connect()) as conn:
        rows = conn.execute("SELECT token_count FROM chunks WHERE source_id = ?", (indexed.source.id,)).fetchall()
    return [int(r[0]) for r in rows]


def test_chunks_fit_the_configured_size_and_a_new_size_rechunks_every_page_once(indexed: Indexed) -> None:
    # by default the bundled model's own size, below its window (docs/retrieval.md#chunk-size)
    default = indexed.services.embedder.chunk_tokens
    assert indexed.services.settings.chunk_tokens == 0
    before = token_counts(indexed)
    assert max(before) <= default < indexed.services.embedder.max_tokens
    smaller = Services(indexed.services.settings.model_copy(update={"chunk_tokens": 64}))
    try:
        again = smaller.ingest.run(indexed.source.id)
        assert (again.added, again.updated, again.unchanged, again.failed) == (0, DOC_COUNT, 0, 0), again
        after = token_counts(indexed)
        assert max(after) <= 64 and len(after) > len(before)
        # the pages are still found, from their smaller chunks
        hits = smaller.retrieval.search(indexed.project_id, "rate limits", top_k=3)
        assert hits and all(h.content for h in hits)
        steady = smaller.ingest.run(indexed.source.id)
        assert (steady.updated, steady.unchanged, steady.chunks) == (0, DOC_COUNT, 0), steady
    finally:
        smaller.database.dispose()
    # a size beyond the embedder's window is the window: chunks never exceed what the model reads
    wide = Services(indexed.services.settings.model_copy(update={"chunk_tokens": 10_000}))
    try:
        assert wide.ingest.chunker.max_tokens == wide.embedder.max_tokens
    finally:
        wide.database.dispose()


def test_a_remote_embedder_chunks_to_its_own_window_and_stamps_only_its_name(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    """The bundled model's smaller chunks are not forced on a remote model: an upgrade re-embeds nothing through a
    paid API, and its chunks still fill its window."""
    docs = tmp_path / "relay-docs"
    docs.mkdir()
    sentences = [
        f"Relay {n} forwards the events of destination {n} to the archive every {n} minutes." for n in range(90)
    ]
    (docs / "relays.md").write_text("# Relays\n\n" + " ".join(sentences) + "\n", encoding="utf-8")
    settings = make_settings(tmp_path / "home").model_copy(
        update={
            "embedding_provider": "openai",
            "embedding_base_url": fake_openai.base_url,
            "embedding_api_key": "sk-test",
            "embedding_model": "text-embedding-test",
        }
    )
    services = Services(settings)
    try:
        project = services.projects.create_project("Relays")
        source = services.projects.add_source(project.id, "folder", str(docs))
        summary = services.ingest.run(source.id)
        assert summary.status == "succeeded", summary
        window = services.embedder.max_tokens
        indexed = Indexed(services, docs, source)
        counts = token_counts(indexed)
        assert max(counts) <= window
        assert max(counts) > CHUNK_TOKENS + 64, counts  # well past the bundled model's size
        with closing(indexed.connect()) as conn:
            assert conn.execute("SELECT embedder FROM documents").fetchall() == [("openai/text-embedding-test",)]
    finally:
        services.database.dispose()
