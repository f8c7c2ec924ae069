"""`docsage vector-index`: PostgreSQL's vector index over chunk embeddings, shown and rebuilt with another method
or other parameters while search goes on (docs/retrieval.md, "Recall at 1,000,000 chunks")."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from docsage.cli.common import console, err_console, print_json, services
from docsage.db import vector_index
from docsage.db.engine import make_engine
from docsage.db.vector_index import Progress, VectorIndex
from docsage.embed.registry import get_embedder
from docsage.errors import InvalidInputError

vector_index_app = typer.Typer(
    help="Show or rebuild PostgreSQL's vector index (HNSW or IVFFlat).", no_args_is_help=True
)
DimensionsOpt = Annotated[
    int | None,
    typer.Option("--dimensions", help="Embedding dimensions of the index. Default: the configured embedder's."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _dimensions(given: int | None) -> int:
    return given if given is not None else get_embedder(services().settings).dimension


def _line(index: VectorIndex | None, dimensions: int) -> str:
    if index is None:
        return f"no vector index for {dimensions}-dimensional embeddings: dense search scans exactly"
    state = "" if index.valid else " (INVALID: a failed build left it; rebuild)"
    return f"{index.name}: {index.parameters}, {index.rows:,} rows, {index.size_bytes / 2**20:,.0f} MB{state}"


@vector_index_app.command("show")
def show_cmd(dimensions: DimensionsOpt = None, as_json: JsonOpt = False) -> None:
    """The vector index's method, parameters, size and rows."""
    dims = _dimensions(dimensions)
    engine = make_engine(services().settings.resolved_database_url())
    try:
        index = vector_index.show(engine, dims)
    finally:
        engine.dispose()
    if as_json:
        print_json(index.to_json() if index else None)
    else:
        console.print(_line(index, dims), highlight=False)


@vector_index_app.command("rebuild")
def rebuild_cmd(
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="hnsw (grows from empty; the migration's) or ivfflat (lists learnt from the loaded rows: better "
            "recall at 1M chunks, built in a minute; rebuild after big changes).",
        ),
    ] = "hnsw",
    m: Annotated[
        int, typer.Option("--m", help="Links per node. More: better recall on big corpora, bigger and slower build.")
    ] = vector_index.DEFAULT_M,
    ef_construction: Annotated[
        int, typer.Option("--ef-construction", help="Candidates considered per insert while building (≥ 2 × m).")
    ] = vector_index.DEFAULT_EF_CONSTRUCTION,
    lists: Annotated[
        int | None,
        typer.Option("--lists", help="IVFFlat's lists. Default: rows / 1000 (at least 10), √rows past 1M rows."),
    ] = None,
    dimensions: DimensionsOpt = None,
    maintenance_work_mem: Annotated[
        str | None,
        typer.Option(
            "--maintenance-work-mem",
            help="Memory for the build, e.g. 6GB. Default: what the graph needs (past it the build is many times "
            "slower); the database server must have it free.",
        ),
    ] = None,
    parallel_workers: Annotated[
        int | None,
        typer.Option("--parallel-workers", help="PostgreSQL workers besides the leader (one per spare core)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the index anew with this method and parameters under another name (CREATE INDEX CONCURRENTLY:
    search and writes go on), then swap it in. Interrupted or failed, the old index stays in use."""
    if method not in vector_index.METHODS:
        raise InvalidInputError(f"--method must be one of {', '.join(vector_index.METHODS)}, got {method!r}")
    dims = _dimensions(dimensions)
    engine = make_engine(services().settings.resolved_database_url())
    shown = [0.0]

    def progress(p: Progress) -> None:
        if as_json or time.monotonic() - shown[0] < 10:
            return
        shown[0] = time.monotonic()
        err_console.print(str(p), highlight=False)

    start = time.perf_counter()
    try:
        before, after = vector_index.rebuild(
            engine,
            dims,
            method,
            m,
            ef_construction,
            lists,
            maintenance_work_mem=maintenance_work_mem,
            parallel_workers=parallel_workers,
            on_progress=progress,
        )
    finally:
        engine.dispose()
    seconds = time.perf_counter() - start
    if as_json:
        print_json({"before": before.to_json() if before else None, "after": after.to_json(), "seconds": seconds})
    else:
        console.print(f"before: {_line(before, dims)}", highlight=False)
        console.print(f"after:  {_line(after, dims)} (built in {seconds:,.1f} s)", highlight=False)
