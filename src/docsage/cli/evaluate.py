"""CLI commands that measure: retrieval and answer evaluation, calibration, benchmarks."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from docsage.cli.common import console, err_console, fail, print_json, services
from docsage.cli.ops import JsonOpt, RichIngestProgress


def eval_cmd(
    dataset: Annotated[list[str] | None, typer.Option("--dataset", help="BEIR-format folder (repeatable).")] = None,
    depth: Annotated[int, typer.Option("--depth", min=10, help="Chunks retrieved per query.")] = 300,
    calibrate: Annotated[
        bool,
        typer.Option("--calibrate", help="With --answers: search the coverage rule that holds best on every set."),
    ] = False,
    answers: Annotated[
        list[str] | None,
        typer.Option("--answers", help="Instead: answer-evaluation set folder (repeatable; eval/answers/README.md)."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="With --answers: list the failed questions.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Score lexical, dense and hybrid retrieval on BEIR datasets (nDCG@10, Recall@10/100, MRR@10, latency), or
    with --answers, the configured answer provider on QA sets (answered, right page cited, evidence quoted,
    unanswerable flagged)."""
    from docsage.evaluation.runner import run_eval

    if answers:
        if dataset:
            fail("--answers cannot be combined with --dataset")
        if calibrate:
            _calibrate(answers, as_json)
        else:
            _eval_answers(answers, verbose, as_json)
        return
    if calibrate:
        fail("--calibrate works on answer sets: give --answers DIR (the sets marked tune in eval/answers/sets.json)")
    if not dataset:
        fail("give --dataset DIR (retrieval) or --answers DIR (answers)")
    results = []
    for path in dataset:
        with RichIngestProgress(f"eval {path}") as progress:
            results.append(run_eval(path, services().settings, depth=depth, progress=progress))
    if as_json:
        print_json([r.to_json() for r in results])
        return
    for r in results:
        table = Table(
            title=f"{r.dataset}: {r.documents} docs → {r.chunks} chunks, {r.queries} queries, "
            f"ingest {r.ingest_seconds:.1f}s"
        )
        for col in ("retriever", "nDCG@10", "Recall@10", "Recall@100", "MRR@10", "p50 ms", "p95 ms"):
            table.add_column(col, justify="left" if col == "retriever" else "right")
        for m in r.results:
            table.add_row(
                m.mode,
                *(f"{m.metrics[k]:.4f}" for k in ("ndcg@10", "recall@10", "recall@100", "mrr@10")),
                f"{m.p50_ms:.1f}",
                f"{m.p95_ms:.1f}",
            )
        console.print(table)


def _eval_answers(folders: list[str], verbose: bool, as_json: bool) -> None:
    from docsage.evaluation.answers import load_answer_set, run_answer_eval

    sets = [load_answer_set(folder) for folder in folders]  # every set is checked before any is run
    results = []
    for answer_set in sets:
        with RichIngestProgress(f"answers {answer_set.name}") as progress:
            bar, task = progress.progress, progress.progress.add_task("questions", total=len(answer_set.questions))

            def answered(done: int, _total: int, bar: Progress = bar, task: TaskID = task) -> None:
                bar.update(task, completed=done)

            results.append(run_answer_eval(answer_set, services().settings, progress=progress, on_question=answered))
    if as_json:
        print_json([r.to_json() for r in results])
        return
    for r in results:
        table = Table(
            title=f"{r.answer_set.name}: {r.documents} docs → {r.chunks} chunks, {len(r.outcomes)} questions, "
            f"{r.provider} answers; ingest {r.ingest_seconds:.1f}s, questions {r.answer_seconds:.1f}s",
            caption="answered, right page cited, evidence quoted: of the answerable questions; "
            "flagged: of the unanswerable ones",
            box=box.SIMPLE_HEAD,
        )
        for col in ("style", "n", "answered", "right page", "evidence", "flagged"):
            table.add_column(col, justify="left" if col == "style" else "right")
        counts = r.style_counts()
        for style, rates in [("all", r.metrics()), *r.by_style().items()]:
            cells = [
                f"{x.percent:.1f}% ({x.count}/{x.total})" if x.percent is not None else "—" for x in rates.values()
            ]
            table.add_row(style, str(len(r.outcomes) if style == "all" else counts[style]), *cells)
        console.print(table)
        for f in r.ingest_failures:
            err_console.print(f"[yellow]not indexed[/] {f['url']}: {f['reason']}", highlight=False)
        failures = r.failures()
        if verbose:
            for f in failures:
                console.print(f"[bold]{escape(f['id'])}[/] ({f['style']}) {escape(f['question'])}", highlight=False)
                console.print(f"  {'; '.join(f['problems'])}", markup=False, highlight=False)
                console.print(f"  answer: {' '.join(f['answer'].split())}", markup=False, highlight=False)
        elif failures:
            console.print(f"{len(failures)} question(s) with a problem; --verbose lists them", highlight=False)


def _calibrate(folders: list[str], as_json: bool) -> None:
    from docsage.evaluation.answers import load_answer_set
    from docsage.evaluation.calibrate import calibrate, signals

    settings = services().settings
    sets = [load_answer_set(folder) for folder in folders]
    rows = {}
    for answer_set in sets:
        with RichIngestProgress(f"calibrate {answer_set.name}") as progress:
            rows[answer_set.name] = signals(answer_set, settings, progress)
    result = calibrate(rows, services().retrieval.coverage_rule)
    if as_json:
        print_json(asdict(result))
        return
    for title, rule, per_set in (
        ("configured", result.configured, result.configured_rates),
        ("best on these sets", result.best, result.best_rates),
    ):
        table = Table(
            title=f"{title}: strong share {rule.strong_share:.2f}, weak share {rule.weak_share:.2f}, close cosine "
            f"{rule.close_cosine:.2f}, agreement rank {rule.agreement_rank}"
        )
        for col in ("set", "answerable judged covered", "unanswerable judged uncertain"):
            table.add_column(col, justify="left" if col == "set" else "right")
        for r in per_set:
            table.add_row(r.name, f"{r.answered:.1%} of {r.answerable}", f"{r.flagged:.1%} of {r.unanswerable}")
        console.print(table)


def bench(
    chunks: Annotated[
        int, typer.Option("--chunks", min=1000, help="Index size for the retrieval benchmark.")
    ] = 100_000,
    pages: Annotated[
        str, typer.Option("--pages", help="Folder of documents to ingest and replicate.")
    ] = "../shared/eval/anthropic_docs/pages",
    queries: Annotated[
        str, typer.Option("--queries", help="BEIR queries.jsonl used as search queries.")
    ] = "../shared/eval/anthropic_docs/queries.jsonl",
    skip_ingest: Annotated[bool, typer.Option("--skip-ingest", help="Only the retrieval benchmark.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Benchmarks: ingestion throughput vs the raw embedder, and retrieval latency at scale."""
    from docsage.benchmarks import bench_ingest, bench_retrieval

    folder, qfile = Path(pages), Path(queries)
    if not folder.is_dir():
        fail(f"pages folder not found: {pages}")
    if not qfile.is_file():
        fail(f"queries file not found: {queries}")
    qs = [json.loads(line)["text"] for line in qfile.read_text().splitlines() if line.strip()]

    def log(msg: str) -> None:
        err_console.print(msg, highlight=False)

    settings = services().settings
    figures = [] if skip_ingest else bench_ingest(folder, settings, log)
    figures += bench_retrieval(folder, qs, settings, chunks, log)
    if as_json:
        print_json([{**f.__dict__, "ratio": f.ratio} for f in figures])
    else:
        for f in figures:
            console.print(f.line(), highlight=False)
