"""`docsage vector-index`: PostgreSQL's vector index shown and rebuilt with other graph parameters or as IVFFlat,
while the project stays searchable and its dense list still finds the exact neighbours; bad parameters are
refused with the index untouched; a leftover of an interrupted build does not get in the way; on SQLite the
command says there is no such index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from conftest import Cli, cli_env, open_services
from docsage.index.postgres import ANN_SQL, PostgresIndex, vector_literal
from docsage.retrieval.service import RetrievalService

QUESTION = "Which environment variable selects the data region?"


def _pg(cli: Cli) -> psycopg.Connection:
    url = cli_env(cli.home)["DOCSAGE_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
    return psycopg.connect(url, autocommit=True)


def _ingested(run_cli: Cli, make_docs: Callable[[Path], Path]) -> str:
    project = run_cli.json("project", "create", "--name", "Skyloom")
    run_cli.json("source", "add", "--project", project["id"], "--type", "folder", "--path", make_docs(run_cli.home))
    assert run_cli("ingest", "--project", project["id"]).returncode == 0
    return str(project["id"])


def _top_page(run_cli: Cli, project: str) -> str:
    hits = run_cli.json("search", "--project", project, QUESTION)
    return str(hits[0]["source_url"])


@pytest.mark.postgresql_only
def test_rebuild_swaps_in_a_denser_graph_and_search_still_answers(
    run_cli: Cli, make_docs: Callable[[Path], Path]
) -> None:
    project = _ingested(run_cli, make_docs)
    page = _top_page(run_cli, project)
    shown = run_cli.json("vector-index", "show")
    assert (shown["name"], shown["dimensions"], shown["method"], shown["m"], shown["ef_construction"]) == (
        "ix_chunks_embedding_hnsw_384",
        384,
        "hnsw",
        16,
        64,
    )
    assert shown["valid"] is True

    rebuilt = run_cli.json("vector-index", "rebuild", "--m", "32", "--ef-construction", "128")
    assert (rebuilt["before"]["m"], rebuilt["before"]["ef_construction"]) == (16, 64)
    after = rebuilt["after"]
    assert (after["name"], after["m"], after["ef_construction"], after["valid"]) == (
        "ix_chunks_embedding_hnsw_384",
        32,
        128,
        True,
    )
    assert after["rows"] > 0
    with _pg(run_cli) as conn:
        names = [r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%hnsw%'")]
        definition = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_chunks_embedding_hnsw_384'"
        ).fetchone()
    assert names == ["ix_chunks_embedding_hnsw_384"], "the temporary index was renamed, the old one dropped"
    assert definition is not None and "vector(384)" in definition[0] and "vector_dims(embedding) = 384" in definition[0]
    assert _top_page(run_cli, project) == page

    table = run_cli("vector-index", "show")
    assert table.returncode == 0
    assert "HNSW, m 32, ef_construction 128" in table.stdout


@pytest.mark.postgresql_only
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--m", "1"), "m must be 2–100"),
        (("--m", "16", "--ef-construction", "20"), "at least 2 × m"),
        (("--maintenance-work-mem", "lots"), "memory must be a number with kB, MB, GB or TB"),
        (("--dimensions", "4000"), "dimensions must be 1–2000"),
        (("--parallel-workers", "-1"), "parallel workers must be 0 or more"),
        (("--method", "annoy"), "--method must be one of hnsw, ivfflat"),
        (("--method", "ivfflat", "--lists", "0"), "lists must be 1–32,768"),
    ],
)
def test_bad_parameters_are_refused_and_the_index_is_untouched(
    run_cli: Cli, args: tuple[str, ...], message: str
) -> None:
    before = run_cli.json("vector-index", "show")
    result = run_cli("vector-index", "rebuild", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert run_cli.json("vector-index", "show") == before


@pytest.mark.postgresql_only
def test_a_leftover_of_an_interrupted_build_is_replaced(run_cli: Cli) -> None:
    with _pg(run_cli) as conn:  # what a build killed between CREATE and the swap leaves behind
        conn.execute(
            "CREATE INDEX ix_chunks_embedding_hnsw_384_new ON chunks USING hnsw ((embedding::vector(384)) "
            "vector_cosine_ops) WHERE vector_dims(embedding) = 384"
        )
    assert run_cli.json("vector-index", "show")["m"] == 16, "show reports the index in use, not the leftover"
    rebuilt = run_cli.json("vector-index", "rebuild", "--m", "20", "--ef-construction", "40")
    assert rebuilt["after"]["m"] == 20
    with _pg(run_cli) as conn:
        names = sorted(r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%hnsw%'"))
    assert names == ["ix_chunks_embedding_hnsw_384"]


@pytest.mark.postgresql_only
def test_show_says_when_there_is_no_index(run_cli: Cli) -> None:
    with _pg(run_cli) as conn:
        conn.execute("DROP INDEX ix_chunks_embedding_hnsw_384")
    result = run_cli("vector-index", "show")
    assert result.returncode == 0
    assert "no vector index for 384-dimensional embeddings" in result.stdout
    rebuilt = run_cli.json("vector-index", "rebuild")  # makes one with the defaults
    assert rebuilt["before"] is None and (rebuilt["after"]["m"], rebuilt["after"]["valid"]) == (16, True)


@pytest.mark.postgresql_only
def test_ivfflat_replaces_hnsw_and_its_dense_list_finds_the_exact_neighbours(
    run_cli: Cli, make_docs: Callable[[Path], Path]
) -> None:
    project = _ingested(run_cli, make_docs)
    rebuilt = run_cli.json("vector-index", "rebuild", "--method", "ivfflat")
    after = rebuilt["after"]
    assert (after["name"], after["method"], after["lists"], after["m"], after["valid"]) == (
        "ix_chunks_embedding_ivfflat_384",
        "ivfflat",
        10,  # rows / 1000, at least 10
        None,
        True,
    )
    with _pg(run_cli) as conn:
        names = [r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_chunks_emb%'")]
    assert names == ["ix_chunks_embedding_ivfflat_384"], "one vector index per dimension"

    with open_services(run_cli.home) as services:
        exact = services.retrieval  # this small project is searched by a scan
        ann = RetrievalService(services.database, PostgresIndex(exact_below=0), services.embedder, services.settings)
        for question in (QUESTION, "How do I verify webhook signatures?", "rate limit exceeded"):
            want = [h.chunk_id for h in exact.search(project, question, top_k=10, mode="dense")]
            assert [h.chunk_id for h in ann.search(project, question, top_k=10, mode="dense")] == want, question
        with services.database.session() as session:  # and the dense list did go through the IVFFlat index
            conn = session.connection()
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            vector = vector_literal(services.embedder.embed_query(QUESTION))
            plan = " ".join(
                r[0]
                for r in conn.exec_driver_sql(
                    "EXPLAIN " + ANN_SQL.format(dim=384, sources=""), {"q": vector, "p": project, "k": 10}
                )
            )
        assert "ix_chunks_embedding_ivfflat_384" in plan, plan

    doctor = run_cli.json("doctor")
    index_check = next(c for c in doctor["checks"] if c["name"] == "vector index")
    assert index_check["status"] == "ok" and "IVFFlat, 10 lists" in index_check["detail"]

    back = run_cli.json("vector-index", "rebuild", "--method", "hnsw")
    assert (back["before"]["method"], back["after"]["method"], back["after"]["name"]) == (
        "ivfflat",
        "hnsw",
        "ix_chunks_embedding_hnsw_384",
    )
    with _pg(run_cli) as conn:
        names = [r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_chunks_emb%'")]
    assert names == ["ix_chunks_embedding_hnsw_384"]


@pytest.mark.postgresql_only
def test_ivfflat_needs_rows_to_learn_from(run_cli: Cli) -> None:
    result = run_cli("vector-index", "rebuild", "--method", "ivfflat")
    assert result.returncode == 2
    assert "learns its lists from the rows" in result.stderr and "ingest first" in result.stderr
    assert run_cli.json("vector-index", "show")["method"] == "hnsw", "the migration's index is untouched"


@pytest.mark.sqlite_only
def test_on_sqlite_the_command_explains_there_is_no_index(run_cli: Cli) -> None:
    for args in (("show",), ("rebuild", "--m", "32", "--ef-construction", "64")):
        result = run_cli("vector-index", *args)
        assert result.returncode == 2
        assert "the vector index is PostgreSQL's" in result.stderr and "sqlite" in result.stderr
        assert "Traceback" not in result.stderr
