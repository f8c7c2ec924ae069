"""The PostgreSQL index backend: it ranks and weighs terms as the SQLite backend does, its HNSW path finds
the exact path's neighbours, and each process's lexical cache follows writes from other processes, even
when two writers commit in the opposite order to the one they started in."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from conftest import Cli, cli_env, make_settings, open_services
from docsage.db.models import Chunk, ChunkDeletion, Document
from docsage.index.base import ChunkWrite, IndexBackend
from docsage.index.postgres import PostgresIndex
from docsage.retrieval.service import Mode, RetrievalService
from docsage.services import Services

pytestmark = pytest.mark.postgresql_only
MODES: tuple[Mode, ...] = ("hybrid", "lexical", "dense")
QUERIES = [
    "Which environment variable selects the data region?",
    "What happens when I exceed the rate limit?",
    "How do I verify webhook signatures?",
    "How do I install the command-line client?",
    "connection refused, is the daemon running?",
    "desktop app sync speed release",
    "Skyloom",
]


@dataclass(frozen=True)
class Indexed:
    services: Services
    project_id: str
    source_id: str


def _ingest(services: Services, docs: Path) -> Indexed:
    project = services.projects.create_project("Skyloom")
    source = services.projects.add_source(project.id, "folder", str(docs))
    assert services.ingest.run(source.id).status == "succeeded"
    return Indexed(services, project.id, source.id)


def _manual(root: Path, make_docs: Callable[[Path], Path], releases: int) -> Path:
    docs = make_docs(root)
    for i in range(releases):
        (docs / f"release-{i:02d}.md").write_text(
            f"# Release {i}\n\nRelease {i} of the desktop app improves sync speed and fixes bug number {1000 + i}.\n",
            encoding="utf-8",
        )
    return docs


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, make_docs: Callable[[Path], Path]) -> Iterator[dict[str, Indexed]]:
    """The same manual indexed on SQLite and on PostgreSQL."""
    root = tmp_path_factory.mktemp("both")
    docs = _manual(root, make_docs, releases=20)
    pg_settings = make_settings(root / "pg")
    sqlite_settings = pg_settings.model_copy(update={"home": root / "sqlite", "database_url": ""})
    with open_services(root / "pg") as pg:
        sqlite = Services(sqlite_settings)
        try:
            yield {"postgresql": _ingest(pg, docs), "sqlite": _ingest(sqlite, docs)}
        finally:
            sqlite.database.dispose()


@pytest.mark.parametrize("mode", MODES)
def test_postgresql_ranks_and_scores_like_sqlite(both: dict[str, Indexed], mode: Mode) -> None:
    """Same chunks in the same order with the same scores: fusion and coverage thresholds carry over."""
    pg, lite = both["postgresql"], both["sqlite"]
    for query in QUERIES:
        on_pg = pg.services.retrieval.search(pg.project_id, query, top_k=15, mode=mode)
        on_sqlite = lite.services.retrieval.search(lite.project_id, query, top_k=15, mode=mode)
        assert [(h.source_url, h.heading_path, h.content) for h in on_pg] == [
            (h.source_url, h.heading_path, h.content) for h in on_sqlite
        ], (mode, query)
        assert [h.score for h in on_pg] == pytest.approx([h.score for h in on_sqlite], rel=1e-5, abs=1e-6)
        assert [h.dense_score for h in on_pg] == pytest.approx([h.dense_score for h in on_sqlite], abs=1e-6)


def test_term_weights_are_the_same_idf(both: dict[str, Indexed]) -> None:
    pg, lite = both["postgresql"], both["sqlite"]
    for query in [*QUERIES, "a word nobody wrote: zyzzyva"]:
        assert pg.services.retrieval.term_weights(pg.project_id, query) == lite.services.retrieval.term_weights(
            lite.project_id, query
        )


def test_hnsw_finds_the_exact_neighbours(both: dict[str, Indexed]) -> None:
    """The ANN path (forced here; real projects take it from 20,000 chunks) returns the exact top 10."""
    pg = both["postgresql"]
    services = pg.services
    ann = RetrievalService(services.database, PostgresIndex(exact_below=0), services.embedder, services.settings)
    for query in QUERIES:
        exact = pg.services.retrieval.search(pg.project_id, query, top_k=10, mode="dense")
        approx = ann.search(pg.project_id, query, top_k=10, mode="dense")
        assert [h.chunk_id for h in approx] == [h.chunk_id for h in exact], query
        assert [h.dense_score for h in approx] == pytest.approx([h.dense_score for h in exact], abs=1e-6)


def test_hnsw_index_serves_the_ann_query(both: dict[str, Indexed]) -> None:
    """The query shape the backend sends is the one the partial expression index answers."""
    from docsage.index.postgres import ANN_SQL, vector_literal

    pg = both["postgresql"]
    vector = vector_literal(pg.services.embedder.embed_query("webhook signatures"))
    sql = "EXPLAIN " + ANN_SQL.format(dim=384, sources="")
    with pg.services.database.session() as session:
        conn = session.connection()
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a tiny table: make the planner show its choice
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(sql, {"q": vector, "p": pg.project_id, "k": 10}))
    assert "ix_chunks_embedding_hnsw_384" in plan, plan


def test_source_filter_on_postgresql(both: dict[str, Indexed]) -> None:
    pg = both["postgresql"]
    for mode in MODES:
        hits = pg.services.retrieval.search(pg.project_id, "Skyloom", top_k=5, mode=mode, source_ids=[pg.source_id])
        assert hits and {h.source_id for h in hits} == {pg.source_id}
        assert pg.services.retrieval.search(pg.project_id, "Skyloom", mode=mode, source_ids=["no-such-source"]) == []


def test_cache_follows_writes_and_deletes_of_another_process(tmp_path: Path, make_docs: Callable[[Path], Path]) -> None:
    """A replica's in-memory postings follow a CLI ingest (another process) through data_version and the
    project's generation: new chunks found, removed ones gone, nothing stale."""
    docs = _manual(tmp_path, make_docs, releases=6)
    home = tmp_path / "home"
    with open_services(home) as services:
        indexed = _ingest(services, docs)
        query = "429 Too Many Requests Retry-After"
        for mode in MODES:
            hits = services.retrieval.search(indexed.project_id, query, top_k=3, mode=mode)
            assert hits[0].source_url.endswith("rate-limits.rst"), mode
        (docs / "rate-limits.rst").unlink()
        (docs / "proxy.md").write_text("# Proxy\n\nSet `SKYLOOM_PROXY_URL` to go through a corporate proxy.\n")
        result = Cli(home)("ingest", "--project", indexed.project_id, "--json")
        assert result.returncode == 0, result.stderr
        for mode in MODES:
            hits = services.retrieval.search(indexed.project_id, query, top_k=10, mode=mode)
            assert not any(h.source_url.endswith("rate-limits.rst") for h in hits), mode
            found = services.retrieval.search(indexed.project_id, "SKYLOOM_PROXY_URL corporate proxy", mode=mode)
            assert found[0].source_url.endswith("proxy.md"), mode
        assert services.retrieval.term_weights(indexed.project_id, "Retry-After")["retri"] > 0
        assert cli_env(home)["DOCSAGE_DATABASE_URL"] == services.settings.database_url


def _write(services: Services, project_id: str, source_id: str, name: str, text: str) -> None:
    vector = services.embedder.embed_documents([text])
    with services.database.session() as session:
        doc = Document(project_id=project_id, source_id=source_id, url=f"test://{name}", title=name, content_hash=name)
        session.add(doc)
        session.flush()
        services.index.write_document(
            session, project_id, source_id, doc.id, name, [ChunkWrite(f"{name}-0", 0, name, text, 5)], vector
        )


def test_writers_of_one_project_commit_in_pk_order(tmp_path: Path, make_docs: Callable[[Path], Path]) -> None:
    """Caches append chunks by `pk > last seen`. Writer A takes a pk and holds its transaction open; writer B
    must wait for A's commit (a row lock on the project's generation), or it would commit a higher pk first and
    a cache synced in between would skip A's chunk for good."""
    with open_services(tmp_path / "home") as services:
        indexed = _ingest(services, make_docs(tmp_path))
        reader = RetrievalService(services.database, PostgresIndex(), services.embedder, services.settings)
        reader.search(indexed.project_id, "warm up", mode="lexical")
        b_done = threading.Event()

        def writer_b() -> None:
            _write(services, indexed.project_id, indexed.source_id, "bravo", "quokka bravo notes")
            b_done.set()

        with services.database.session() as a_session:
            a_vector = services.embedder.embed_documents(["quokka alpha notes"])
            doc = Document(project_id=indexed.project_id, source_id=indexed.source_id, url="test://a", content_hash="a")
            a_session.add(doc)
            a_session.flush()
            services.index.write_document(
                a_session, indexed.project_id, indexed.source_id, doc.id, "alpha",
                [ChunkWrite("alpha-0", 0, "alpha", "quokka alpha notes", 5)], a_vector,
            )  # fmt: skip
            b = threading.Thread(target=writer_b)
            b.start()
            time.sleep(1.0)
            assert not b_done.is_set(), "writer B committed while A (lower pk) was still open"
            assert reader.search(indexed.project_id, "quokka", mode="lexical") == []  # syncs past nothing
        b.join(timeout=30)
        assert b_done.is_set()
        titles = {h.heading_path for h in reader.search(indexed.project_id, "quokka notes", mode="lexical")}
        assert titles == {"alpha", "bravo"}


def test_an_embedding_without_an_hnsw_index_is_searched_exactly(
    tmp_path: Path, make_docs: Callable[[Path], Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Vectors of another dimension (another embedder) are searched by an exact scan, with a warning."""
    with open_services(tmp_path / "home") as services:
        indexed = _ingest(services, make_docs(tmp_path))
        rng = np.random.default_rng(3)
        vectors = rng.normal(size=(3, 8)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        project = services.projects.create_project("eight dimensions")
        source = services.projects.add_source(project.id, "upload", "test://eight")
        with services.database.session() as session:
            doc = Document(project_id=project.id, source_id=source.id, url="test://8", title="eight", content_hash="8")
            session.add(doc)
            session.flush()
            writes = [ChunkWrite(f"eight-{i}", i, "eight", f"chunk {i}", 2) for i in range(3)]
            services.index.write_document(session, project.id, source.id, doc.id, "eight", writes, vectors)
        index = PostgresIndex(exact_below=0)
        with services.database.session() as session:
            cands = index.candidates(session, project.id, "", vectors[1], depth=3)
        assert cands.pks[cands.dense_rank == 1].size == 1
        assert float(cands.dense.max()) == pytest.approx(1.0, abs=1e-6)
        assert "no vector index for 8-dimensional embeddings" in caplog.text
        assert "docsage vector-index rebuild --dimensions 8" in caplog.text
        assert indexed.services.retrieval.search(indexed.project_id, "install", mode="dense")


def _titles(reader: RetrievalService, project_id: str) -> set[str]:
    return {h.heading_path for h in reader.search(project_id, "quokka notes", mode="lexical")}


def _delete(index: IndexBackend, services: Services, project_id: str, name: str) -> None:
    with services.database.session() as session:
        doc_id = session.scalar(select(Document.id).where(Document.url == f"test://{name}"))
        assert doc_id is not None
        index.delete_documents(session, project_id, [doc_id])


def test_a_replica_follows_deletions_through_the_log_and_after_it_was_pruned(
    tmp_path: Path, make_docs: Callable[[Path], Path]
) -> None:
    """Another replica's cache masks deleted chunks from the deletion log (what went since its generation);
    when the log was pruned past that generation it compares pks instead, and still drops exactly them."""
    with open_services(tmp_path / "home") as services:
        indexed = _ingest(services, make_docs(tmp_path))
        project = indexed.project_id
        for name in ("alpha", "bravo", "charlie", "delta"):
            _write(services, project, indexed.source_id, name, f"quokka {name} notes")
        reader = RetrievalService(services.database, PostgresIndex(), services.embedder, services.settings)
        assert _titles(reader, project) == {"alpha", "bravo", "charlie", "delta"}

        _delete(services.index, services, project, "alpha")  # another process's backend, as far as reader knows
        with services.database.session() as session:
            logged = session.scalars(select(ChunkDeletion.pk).where(ChunkDeletion.project_id == project)).all()
        assert len(logged) == 1 and logged[0] > 0
        assert _titles(reader, project) == {"bravo", "charlie", "delta"}

        pruning = PostgresIndex()
        pruning.keep_generations, pruning.prune_every = 0, 1  # prune the whole log at every deletion
        _delete(pruning, services, project, "bravo")
        with services.database.session() as session:
            logged = session.scalars(select(ChunkDeletion.pk).where(ChunkDeletion.project_id == project)).all()
        assert logged == [-1]  # only the marker: deletions up to its generation are no longer listed
        assert _titles(reader, project) == {"charlie", "delta"}

        _delete(services.index, services, project, "charlie")  # logged again after the marker
        assert _titles(reader, project) == {"delta"}
        fresh = RetrievalService(services.database, PostgresIndex(), services.embedder, services.settings)
        assert _titles(fresh, project) == {"delta"}


def test_exact_scan_below_the_threshold_and_hnsw_above_it_agree(
    tmp_path: Path, make_docs: Callable[[Path], Path]
) -> None:
    """A project under DOCSAGE_PGVECTOR_EXACT_BELOW chunks is scanned exactly; the same project through the
    HNSW index (threshold 0), with the default or a raised DOCSAGE_PGVECTOR_EF_SEARCH, and while another
    project shares the index, returns the same top 10 with the same scores."""
    docs = _manual(tmp_path, make_docs, releases=20)
    with open_services(tmp_path / "home") as services:
        indexed = _ingest(services, docs)
        _ingest(services, docs)  # a second project: the index holds both, the first is half of it
        with services.database.session() as session:
            chunks = session.scalar(
                select(func.count()).select_from(Chunk).where(Chunk.project_id == indexed.project_id)
            )
        assert chunks is not None and chunks > 20
        below = Services(services.settings.model_copy(update={"pgvector_exact_below": chunks + 1}))
        above = Services(services.settings.model_copy(update={"pgvector_exact_below": chunks}))
        wide = Services(services.settings.model_copy(update={"pgvector_exact_below": 0, "pgvector_ef_search": 1000}))
        try:
            assert isinstance(above.index, PostgresIndex) and above.index.exact_below == chunks
            assert isinstance(wide.index, PostgresIndex) and wide.index.ef_search == 1000
            for query in QUERIES:
                exact = below.retrieval.search(indexed.project_id, query, top_k=10, mode="dense")
                for ann in (above, wide):
                    found = ann.retrieval.search(indexed.project_id, query, top_k=10, mode="dense")
                    assert [h.chunk_id for h in found] == [h.chunk_id for h in exact], query
                    assert [h.dense_score for h in found] == pytest.approx([h.dense_score for h in exact], abs=1e-6)
        finally:
            for s in (below, above, wide):
                s.database.dispose()
