"""What every index backend hands the fusion: candidates with each one's document coded, so that hybrid
search can rank pages by all their passages (retrieval/hybrid.py). Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from docsage.db.models import Chunk
from docsage.services import Services


def test_candidates_code_the_document_of_each_chunk(
    services: Services, make_docs: Callable[[Path], Path], tmp_path: Path
) -> None:
    """Equal codes exactly for chunks of one document, on a cache synced once and then after a new page."""
    project = services.projects.create_project("Skyloom")
    source = services.projects.add_source(project.id, "folder", str(make_docs(tmp_path)))
    assert services.ingest.run(source.id).status == "succeeded"
    query = "rate limit requests per minute configuration"
    for attempt in range(2):
        with services.database.session() as session:
            cands = services.index.candidates(
                session, project.id, query, services.embedder.embed_query(query), depth=200
            )
            rows = session.execute(select(Chunk.pk, Chunk.document_id).where(Chunk.project_id == project.id))
            document_of = {int(pk): str(document_id) for pk, document_id in rows}
        assert len(cands.documents) == len(cands.pks) > 0
        pairs = {(int(code), document_of[int(pk)]) for code, pk in zip(cands.documents, cands.pks, strict=True)}
        codes, documents = {c for c, _ in pairs}, {d for _, d in pairs}
        assert len(codes) == len(pairs) == len(documents), "a code is one document and a document one code"
        assert len(documents) < len(cands.pks), "some document has several candidate chunks"
        if attempt == 0:
            (tmp_path / "docs" / "limits-faq.md").write_text(
                "# Rate limit FAQ\n\nThe rate limit counts requests per minute.\n\n"
                "## Configuration\n\nRaise the rate limit in the configuration file.\n",
                encoding="utf-8",
            )
            assert services.ingest.run(source.id).status == "succeeded"
