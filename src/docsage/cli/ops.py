"""CLI commands that do the work: ingest, search, ask, serve, eval."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from docsage.answer.events import MetadataEvent, SourcesEvent, TextDelta
from docsage.chat.service import sources_of
from docsage.cli.common import console, err_console, fail, print_json, services
from docsage.db.models import Source
from docsage.ingest.service import IngestSummary, enqueue_ingest
from docsage.jobs import JobRunner

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
LINKED_MARKER = re.compile(r"\[\[(\d+)\]\]\([^)\s]*\)")
ProjectOpt = Annotated[str, typer.Option("--project", help="Project id.")]


class RichIngestProgress:
    """Three live bars: documents seen, chunks produced, chunks embedded."""

    def __init__(self, label: str) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self.docs = self.progress.add_task(f"{label}: documents", total=None)
        self.chunk_task = self.progress.add_task("chunks", total=None)
        self.embed_task = self.progress.add_task("embeddings", total=None)

    def __enter__(self) -> RichIngestProgress:
        if err_console.is_terminal:
            self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if err_console.is_terminal:
            self.progress.stop()

    def documents(self, seen: int) -> None:
        self.progress.update(self.docs, completed=seen)

    def chunks(self, produced: int) -> None:
        self.progress.update(self.chunk_task, completed=produced, total=produced)
        self.progress.update(self.embed_task, total=produced)

    def embedded(self, done: int) -> None:
        self.progress.update(self.embed_task, completed=done)


def run_ingest(source: Source) -> IngestSummary:
    """One run of a source through the jobs seam, on this process with live progress bars (or, when a worker
    already runs this source, following that run until it ends)."""
    svc = services()
    job = enqueue_ingest(svc.jobs, source.project_id, source.id)
    with RichIngestProgress(source.name) as progress:

        def show(values: dict[str, Any]) -> None:
            if "documents" in values:
                progress.documents(values["documents"])
            if "chunks" in values:
                progress.chunks(values["chunks"])
            if "embedded" in values:
                progress.embedded(values["embedded"])

        done = JobRunner(svc.jobs).run_here(job.id, show)
    if done.result:
        return IngestSummary(**done.result)
    return IngestSummary(run_id="", source_id=source.id, status="failed", error=done.error or done.status)


def _summary_line(name: str, s: IngestSummary) -> str:
    return (
        f"{name}: {s.status} — added {s.added}, updated {s.updated}, unchanged {s.unchanged}, "
        f"deleted {s.deleted}, failed {s.failed}, skipped {s.skipped}; {s.chunks} chunks in {s.seconds:.1f} s"
    )


def ingest(
    project: ProjectOpt,
    source: Annotated[str | None, typer.Option("--source", help="Only this source id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Index a project's sources (only changed documents are re-embedded); blocks until done."""
    svc = services()
    sources = svc.projects.list_sources(project)
    if source is not None:
        sources = [s for s in sources if s.id == source]
        if not sources:
            fail(f"source {source} not found in project {project}")
    if not sources:
        fail(f"project {project} has no sources; add one with `docsage source add`")
    summaries = [(src.name, run_ingest(src)) for src in sources]
    if as_json:
        print_json([{"source": name, **s.__dict__} for name, s in summaries])
    else:
        for name, s in summaries:
            console.print(_summary_line(name, s), highlight=False)
            if s.error:
                err_console.print(f"[red]{name}: {s.error}[/]")
            for f in s.failures[:20]:
                err_console.print(f"[yellow]{f['kind']}[/] {f['url']}: {f['reason']}", highlight=False)
            if len(s.failures) > 20:
                err_console.print(f"… and {len(s.failures) - 20} more")
    if any(s.status != "succeeded" for _, s in summaries):
        raise SystemExit(1)


def search(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    project: ProjectOpt,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=200, help="Number of passages.")] = 5,
    mode: Annotated[str, typer.Option("--mode", help="hybrid, lexical or dense.")] = "hybrid",
    as_json: JsonOpt = False,
) -> None:
    """Hybrid search over a project's chunks."""
    if mode not in ("hybrid", "lexical", "dense"):
        fail(f"unknown mode {mode!r}; choose hybrid, lexical or dense")
    svc = services()
    svc.projects.get_project(project)
    hits = svc.retrieval.search(project, query, top_k=top_k, mode=mode)  # type: ignore[arg-type]
    if as_json:
        print_json(
            [
                {
                    "source_url": h.source_url,
                    "title": h.title,
                    "heading_path": h.heading_path,
                    "content": h.content,
                    "score": h.score,
                    "dense_score": h.dense_score,
                    "document_id": h.document_id,
                    "chunk_id": h.chunk_id,
                }
                for h in hits
            ]
        )
        return
    for i, h in enumerate(hits, start=1):
        console.print(f"[bold]{i}. {h.heading_path or h.title}[/]  [dim]{h.source_url}  score={h.score:.4f}[/]")
        snippet = h.content if len(h.content) < 400 else h.content[:400] + "…"
        console.print(snippet, markup=False, highlight=False)
        console.print()


def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    project: ProjectOpt,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the project's docs, streaming the answer, then the numbered sources."""
    svc = services()
    svc.projects.get_project(project)
    hits = []
    answer: list[str] = []
    meta: MetadataEvent | None = None
    for event in svc.answers.stream(project, question):
        if isinstance(event, SourcesEvent):
            hits = event.hits
        elif isinstance(event, TextDelta):
            answer.append(event.text)
            if not as_json:  # a terminal shows plain [n] markers; the numbered sources follow the answer
                console.out(LINKED_MARKER.sub(r"[\1]", event.text), end="", highlight=False)
                console.file.flush()
        elif isinstance(event, MetadataEvent):
            meta = event
    if as_json:
        print_json(
            {
                "answer": "".join(answer),
                "is_uncertain": meta.is_uncertain if meta else True,
                "model": meta.model if meta else "",
                "sources": [
                    {"n": i, "title": p["title"], "source_url": p["source_url"]}
                    for i, p in enumerate(sources_of(hits), start=1)
                ],
            }
        )
        return
    console.print("\n")
    if meta and meta.is_uncertain:
        console.print("[yellow]uncertain: the documentation may not cover this[/]")
    console.print("[bold]Sources[/]")
    text = "".join(answer)
    pages = sources_of(hits)
    cited = [i for i in range(1, len(pages) + 1) if f"[[{i}]]" in text]
    for i in cited or range(1, len(pages) + 1):
        page = pages[i - 1]
        console.print(
            f"[{i}] {page['subtitle'] or page['title']} — {page['source_url']}", markup=False, highlight=False
        )


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to bind.")] = None,
    demo_widget_key: Annotated[str | None, typer.Option(hidden=True)] = None,
    demo_docs: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from docsage.api.app import create_app

    settings = services().settings
    bind_host, bind_port = host or settings.host, port or settings.port
    app = create_app(services(), demo_widget_key=demo_widget_key, demo_docs=Path(demo_docs) if demo_docs else None)
    # Load the embedding model now, not on the first question (which would otherwise wait ~0.7 s for it).
    services().embedder.embed_query("warm up")
    console.print(f"docsage serving on http://{bind_host}:{bind_port}  (API docs: /docs)")
    uvicorn.run(
        app,
        host=bind_host,
        port=bind_port,
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Jobs run at once.")] = 1,
    once: Annotated[bool, typer.Option("--once", help="Run the queued jobs, then exit.")] = False,
) -> None:
    """Run background jobs (ingests, uploads) until stopped; several workers on several hosts share them."""
    import signal
    import threading

    runner = JobRunner(services().jobs, concurrency)
    if once:
        console.print(f"ran {runner.run_pending()} job(s)")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner.start()
    console.print(f"docsage worker {runner.worker} running {concurrency} job(s) at a time; Ctrl-C stops")
    stop.wait()
    err_console.print("stopping: waiting for running jobs (a job cut short is retried by another worker)")
    runner.stop(timeout_s=60)


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


def demo(
    docs: Annotated[str, typer.Option("--docs", help="Folder of documentation to serve.")] = "docs",
    name: Annotated[str, typer.Option("--name", help="Project name.")] = "demo",
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to bind.")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Only ingest; do not start the server.")] = False,
) -> None:
    """Create (or reuse) a project for a docs folder, ingest it, and serve it — what `make run` does."""
    svc = services()
    folder = str(Path(docs).expanduser().resolve())
    if not Path(folder).is_dir():
        fail(f"docs folder not found: {docs}")
    project = next((p for p in svc.projects.list_projects() if p.name == name), None)
    project = project or svc.projects.create_project(name)
    bind_host, bind_port = host or svc.settings.host, port or svc.settings.port
    origin = f"http://{bind_host}:{bind_port}"
    # Citations point at this server, which serves the folder under /demo/docs/ (file:// links do not open
    # from a web page). Served elsewhere (--no-serve), they stay file:// paths.
    options = {} if no_serve else {"url_template": f"{origin}/demo/docs/{{path}}"}
    source = next(
        (s for s in svc.projects.list_sources(project.id) if s.type == "folder" and s.location == folder), None
    )
    if source is not None and dict(source.options) != options:  # another port: its citations would be stale
        svc.projects.remove_source(source.id)
        source = None
    source = source or svc.projects.add_source(project.id, "folder", folder, name=Path(folder).name, options=options)
    summary = run_ingest(source)
    console.print(_summary_line(source.name, summary), highlight=False)
    console.print(f"\nproject id: {project.id}")
    console.print(f'try:  docsage ask --project {project.id} "How do I add a website as a source?"', highlight=False)
    if not no_serve:
        # A widget key for this server's own origin, replaced at every start (its secret is never stored).
        for key in svc.projects.list_keys(project.id):
            if key.name == "demo-widget" and key.revoked_at is None:
                svc.projects.revoke_key(key.id)
        widget_key = svc.projects.create_key(project.id, "bearer", [origin], name="demo-widget").secret
        console.print(
            f"open: {origin}/  (chat widget)   {origin}/docs  (API)   {origin}/admin  (dashboard)", highlight=False
        )
        serve(host=bind_host, port=bind_port, demo_widget_key=widget_key, demo_docs=folder)


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
