"""Log dumps and notebook output collapse to a few chunks; repeated boilerplate is embedded once per run."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from databases import TestConnection
from docsage.embed.base import Embedder, Vectors
from docsage.ingest.chunk import Chunker
from docsage.ingest.parse import parse
from docsage.ingest.repeats import MIN_RUN, collapse_repeated_lines
from docsage.ingest.service import IngestService
from docsage.services import Services


def training_log(lines: int) -> str:
    return "\n".join(
        f"Epoch {i + 1}/{lines} - 0s 2ms/step - loss: {1 / (i + 2):.4f} - val_accuracy: 0.9{i % 89}"
        for i in range(lines)
    )


def rendered_notebook(log: str) -> str:
    """A notebook as a docs site renders it: its training output is a <pre> block."""
    return (
        "<html><head><title>Training</title></head><body><main><h1>Training the Skyloom classifier</h1>"
        "<p>Fit the classifier for many epochs and watch the validation accuracy.</p>"
        "<pre><code class='language-python'>model.fit(x, y, epochs=5000)</code></pre>"
        f"<pre>{log}</pre><p>The accuracy plateaus after a few hundred epochs.</p></main></body></html>"
    )


def test_a_run_of_log_lines_keeps_its_first_lines_its_last_and_a_count() -> None:
    collapsed = collapse_repeated_lines(training_log(5000)).split("\n")
    assert len(collapsed) == 7
    assert collapsed[0].startswith("Epoch 1/5000")
    assert collapsed[5] == "[… 4,994 similar lines omitted …]"
    assert collapsed[-1].startswith("Epoch 5000/5000")


def test_a_line_that_differs_in_words_breaks_the_run_and_is_kept() -> None:
    lines = training_log(200).split("\n")
    lines[100] = "ValueError: Input contains NaN, infinity or a value too large for dtype('float64')."
    collapsed = collapse_repeated_lines("\n".join(lines))
    assert "ValueError: Input contains NaN" in collapsed
    assert collapsed.count("similar lines omitted") == 2  # the run before the error and the one after


def test_two_line_cycles_collapse_and_ordinary_code_is_untouched() -> None:
    keras = "\n".join(
        line
        for i in range(300)
        for line in (f"Epoch {i + 1}/300", f"32/32 [{'=' * (i % 30)}>{'.' * (29 - i % 30)}] - loss: 0.{i}")
    )
    collapsed = collapse_repeated_lines(keras).split("\n")
    assert len(collapsed) < 15
    assert collapsed[0] == "Epoch 1/300" and collapsed[-2] == "Epoch 300/300"
    code = "\n".join(f"    value_{i} = compute(step={i})" for i in range(MIN_RUN - 1))  # short: kept whole
    assert collapse_repeated_lines(code) == code
    names = "vault sync daemon token region cache block upload retry quota webhook signature archive folder share"
    table = "\n".join(f"| {name} | {i} |" for i, name in enumerate(names.split() * 2))  # 30 rows, no cycle < 15
    assert collapse_repeated_lines(table) == table  # rows that differ in words are not repeats


def test_prose_blocks_are_never_collapsed(minilm: Embedder) -> None:
    chunker = Chunker(minilm.count_tokens, minilm.max_tokens)
    prose = "\n".join(f"Step {i}: press the button." for i in range(60))  # one paragraph, not a code block
    chunks = chunker.chunk(parse(prose.encode(), "text", "file:///steps.txt"))
    assert "Step 59: press the button." in "\n".join(c.text for c in chunks)


def test_a_rendered_notebook_with_5000_log_lines_is_a_handful_of_chunks_and_still_found(
    services: Services, tmp_path: Path
) -> None:
    docs = tmp_path / "site"
    docs.mkdir()
    log = training_log(5000)
    (docs / "training.html").write_text(rendered_notebook(log), encoding="utf-8")
    (docs / "install.md").write_text("# Install\n\nRun `pip install skyloom` to install the client.\n")
    project = services.projects.create_project("Skyloom")
    source = services.projects.add_source(project.id, "folder", str(docs))
    summary = services.ingest.run(source.id)
    assert summary.status == "succeeded", summary
    plain = Chunker(services.embedder.count_tokens, services.embedder.max_tokens, collapse_repeats=False)
    uncollapsed = len(plain.chunk(parse(rendered_notebook(log).encode(), "html", "file:///training.html")))
    assert uncollapsed > 300  # what the log cost before
    assert summary.chunks <= 5
    hits = services.retrieval.search(project.id, "val_accuracy epoch loss", top_k=5, mode="lexical")
    assert hits and hits[0].source_url.endswith("/training.html")
    with closing(TestConnection(services.settings.resolved_home())) as conn:
        (content,) = conn.execute("SELECT content FROM documents WHERE url LIKE '%training.html'").fetchone()
    assert "Epoch 2500/5000" in content  # the document's own text keeps every line


class CountingEmbedder:
    """The real bundled embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.embedded = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    @property
    def chunk_tokens(self) -> int:
        return self.inner.chunk_tokens

    def count_tokens(self, texts: list[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def embed_documents(self, texts: list[str]) -> Vectors:
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)


def test_boilerplate_repeated_on_every_page_is_embedded_once(services: Services, tmp_path: Path) -> None:
    docs = tmp_path / "site"
    docs.mkdir()
    boilerplate = (
        "## Support\n\nQuestions about Skyloom go to the community forum; security reports go to the security "
        "team, never to a public issue. Skyloom is released under the Apache-2.0 licence.\n"
    )
    pages = 40
    for i in range(pages):
        (docs / f"page{i:02}.md").write_text(
            f"# Guide\n\n## Topic {i}\n\nThe vault daemon syncs region {i} every {i + 3} minutes.\n\n{boilerplate}"
        )
    counting = CountingEmbedder(services.embedder)
    ingest = IngestService(services.database, services.index, counting, services.settings)
    project = services.projects.create_project("Skyloom")
    source = services.projects.add_source(project.id, "folder", str(docs))
    summary = ingest.run(source.id)
    assert summary.status == "succeeded", summary
    assert summary.chunks >= pages + 1
    # Every page titled "Guide": its Support section is one identical chunk text, embedded once for 40 pages.
    assert counting.embedded == summary.chunks - (pages - 1)
    with closing(TestConnection(services.settings.resolved_home())) as conn:
        rows = conn.execute("SELECT text FROM chunks WHERE source_id = ?", (source.id,)).fetchall()
    assert sum("community forum" in text for (text,) in rows) == pages  # every page still has its own chunk
    # The shared vector went to the right chunks: the boilerplate's own words find them by meaning.
    query = "Questions about Skyloom go to the community forum; security reports go to the security team"
    hits = services.retrieval.search(project.id, query, top_k=5, mode="dense")
    assert hits and all("security team" in hit.content for hit in hits)
