"""CLI commands that do the work: ingest, search, ask, serve, worker, demo."""

from __future__ import annotations

import re
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

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


def _served_by_a_demo(options: dict[str, object]) -> bool:
    """A folder source `docsage demo` added: its pages are cited at some demo server's /demo/docs/."""
    template = options.get("url_template")
    return isinstance(template, str) and template.endswith("/demo/docs/{path}")


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
    source = None
    for existing in svc.projects.list_sources(project.id):
        if existing.type != "folder":
            continue
        if existing.location == folder and dict(existing.options) == options:
            source = existing
        elif existing.location == folder or _served_by_a_demo(existing.options):
            # This folder at another address, or another checkout's demo folder: this server serves one folder
            # under /demo/docs/, so their citations would link pages it does not serve (and answers would cite
            # each page twice). Sources added by hand, without a /demo/docs/ address, are kept.
            svc.projects.remove_source(existing.id)
            if existing.location != folder:
                console.print(f"replaced the demo folder {existing.location} with {folder}", highlight=False)
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
