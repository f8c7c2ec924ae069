"""Hybrid, lexical and dense retrieval over a small ingested manual: ranking, pruning, filters, odd queries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BOILERPLATE_ONLY_WORDS, Cli, open_services
from databases import TestConnection
from docsage.retrieval.service import Mode, RetrievalService
from docsage.services import Services

MODES: tuple[Mode, ...] = ("hybrid", "lexical", "dense")
CHANGELOG = """\
# Changelog

## 2.4.0

Added selective sync for very large vaults. Fixed a crash when renaming a folder on Windows.

## 2.3.0

The desktop app now shows upload progress per file.
"""


@dataclass(frozen=True)
class Corpus:
    services: Services
    project_id: str
    manual_source: str
    changelog_source: str

    def search(self, query: str, **kwargs: object) -> list:  # type: ignore[type-arg]
        return self.services.retrieval.search(self.project_id, query, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, make_docs: Callable[[Path], Path]) -> Iterator[Corpus]:
    root = tmp_path_factory.mktemp("retrieval")
    manual = make_docs(root)
    changelog = root / "changelog"
    changelog.mkdir()
    (changelog / "changelog.md").write_text(CHANGELOG, encoding="utf-8")
    with open_services(root / "home") as services:
        project = services.projects.create_project("Skyloom")
        sources = [services.projects.add_source(project.id, "folder", str(p)) for p in (manual, changelog)]
        for source in sources:
            assert services.ingest.run(source.id).status == "succeeded"
        yield Corpus(services, project.id, sources[0].id, sources[1].id)


def page(url: str) -> str:
    return url.rsplit("/", 1)[-1]


QUERIES = {
    "Which environment variable selects the data region?": "configuration.md",
    "What happens when I exceed the rate limit?": "rate-limits.rst",
    "How do I verify webhook signatures?": "webhooks.html",
    "How do I install the command-line client?": "install.md",
    "connection refused, is the daemon running?": "troubleshooting.txt",
    "crash when renaming a folder on Windows": "changelog.md",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", list(QUERIES))
def test_the_relevant_page_comes_first(corpus: Corpus, mode: Mode, query: str) -> None:
    hits = corpus.search(query, top_k=5, mode=mode)
    assert hits
    assert page(hits[0].source_url) == QUERIES[query], [page(h.source_url) for h in hits]
    assert len(hits) <= 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hits_carry_document_fields(corpus: Corpus) -> None:
    [hit] = corpus.search("Retry-After header seconds", top_k=1)
    assert hit.source_url.startswith("file://")
    assert hit.title == "Rate limits"
    assert hit.heading_path.startswith("Rate limits")
    assert "Retry-After" in hit.content
    assert hit.source_id == corpus.manual_source
    assert 0 < hit.dense_score <= 1


def test_boilerplate_words_are_not_indexed(corpus: Corpus) -> None:
    for word in BOILERPLATE_ONLY_WORDS:
        assert corpus.search(word, mode="lexical") == [], f"{word!r} from the page chrome was indexed"


@pytest.mark.parametrize("max_chars", [120, 400, 1000])
def test_max_chars_keeps_the_most_relevant_within_the_budget(corpus: Corpus, max_chars: int) -> None:
    query = "How do I configure environment variables and rate limits?"
    full = corpus.search(query, top_k=10)
    pruned = corpus.search(query, top_k=10, max_chars=max_chars)
    assert pruned
    assert sum(len(h.content) for h in pruned) <= max_chars
    ranked = [h.chunk_id for h in full]
    kept = [h.chunk_id for h in pruned]
    assert kept[0] == ranked[0]
    assert [c for c in ranked if c in kept] == kept, "pruning must keep the ranking order"


def test_max_chars_smaller_than_the_best_hit_truncates_it(corpus: Corpus) -> None:
    query = "How do I verify webhook signatures?"
    best = corpus.search(query, top_k=1)[0]
    assert len(best.content) > 40
    [only] = corpus.search(query, top_k=5, max_chars=40)
    assert only.chunk_id == best.chunk_id
    assert only.content == best.content[:40]


@pytest.mark.parametrize("mode", MODES)
def test_source_filter(corpus: Corpus, mode: Mode) -> None:
    query = "Which environment variable selects the data region?"
    only_changelog = corpus.search(query, top_k=10, mode=mode, source_ids=[corpus.changelog_source])
    assert {h.source_id for h in only_changelog} <= {corpus.changelog_source}
    only_manual = corpus.search(query, top_k=10, mode=mode, source_ids=[corpus.manual_source])
    assert only_manual
    assert {h.source_id for h in only_manual} == {corpus.manual_source}
    assert page(only_manual[0].source_url) == "configuration.md"
    assert corpus.search(query, mode=mode, source_ids=["00000000-0000-4000-8000-000000000000"]) == []


def test_source_filter_finds_what_the_filtered_source_holds(corpus: Corpus) -> None:
    for mode in MODES:
        hits = corpus.search(
            "selective sync for large vaults", top_k=3, mode=mode, source_ids=[corpus.changelog_source]
        )
        assert hits
        assert page(hits[0].source_url) == "changelog.md"


@pytest.mark.parametrize("query", ["the and of to", "what is it", "?!...", "  ", "", "— … ¿¡", "a I s t"])
def test_stopword_or_punctuation_query_is_empty_for_lexical(corpus: Corpus, query: str) -> None:
    assert corpus.search(query, mode="lexical") == []
    assert isinstance(corpus.search(query, mode="hybrid"), list)


FTS_SYNTAX = [
    '"unbalanced quote',
    'say "rate limit"',
    "rate AND limit",
    "rate OR",
    "NOT rate",
    "token*",
    "*",
    "NEAR(rate limit",
    "NEAR(rate limit, 2)",
    "rate -limit",
    "-429",
    "region:eu-west",
    "title:webhooks",
    "{title text}: webhook",
    "^start",
    "(((rate",
    "rate)))",
    "x + y",
    "SKYLOOM_REGION",
    "___",
    "'; DROP TABLE chunks; --",
]


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
@pytest.mark.parametrize("query", FTS_SYNTAX)
def test_fts_syntax_in_queries_does_not_raise(corpus: Corpus, query: str, mode: Mode) -> None:
    hits = corpus.search(query, top_k=5, mode=mode)
    assert isinstance(hits, list)


def test_fts_syntax_words_are_searched_as_plain_words(corpus: Corpus) -> None:
    [hit] = corpus.search('"SKYLOOM_REGION" AND region:*', top_k=1, mode="lexical")
    assert page(hit.source_url) == "configuration.md"


# the in-process index follows writes made by another process --------------------------------------------------


def _manual_with_extra_pages(root: Path, make_docs: Callable[[Path], Path], extra: int) -> Path:
    docs = make_docs(root)
    for i in range(extra):
        (docs / f"release-{i:02d}.md").write_text(
            f"# Release {i}\n\nRelease {i} of the desktop app improves sync speed and fixes bug number {1000 + i}.\n",
            encoding="utf-8",
        )
    return docs


def _db_chunk_ids(services: Services) -> set[str]:
    with closing(TestConnection(services.settings.resolved_home())) as conn:
        return {r[0] for r in conn.execute("SELECT chunk_id FROM chunks")}


def test_search_follows_an_update_and_a_delete_made_by_the_cli(
    tmp_path: Path, make_docs: Callable[[Path], Path]
) -> None:
    docs = _manual_with_extra_pages(tmp_path, make_docs, extra=15)
    home = tmp_path / "home"
    with open_services(home) as services:
        project = services.projects.create_project("Skyloom")
        source = services.projects.add_source(project.id, "folder", str(docs))
        assert services.ingest.run(source.id).status == "succeeded"
        for mode in MODES:  # warm this process's in-memory index
            hits = services.retrieval.search(project.id, "429 Too Many Requests Retry-After", top_k=3, mode=mode)
            assert page(hits[0].source_url) == "rate-limits.rst"

        (docs / "rate-limits.rst").unlink()
        config = docs / "configuration.md"
        config.write_text(
            config.read_text(encoding="utf-8").replace("SKYLOOM_CACHE_DIR", "SKYLOOM_PROXY_URL")
            + "\n## Proxy\n\nSet `SKYLOOM_PROXY_URL` to route traffic through a corporate proxy server.\n",
            encoding="utf-8",
        )
        result = Cli(home)("ingest", "--project", project.id, "--json")
        assert result.returncode == 0, result.stderr

        live = _db_chunk_ids(services)
        for mode in MODES:
            gone = services.retrieval.search(project.id, "429 Too Many Requests Retry-After", top_k=10, mode=mode)
            assert "rate-limits.rst" not in {page(h.source_url) for h in gone}, mode
            found = services.retrieval.search(project.id, "SKYLOOM_PROXY_URL corporate proxy", top_k=10, mode=mode)
            assert page(found[0].source_url) == "configuration.md", mode
            assert {h.chunk_id for h in gone + found} <= live, f"{mode} returned chunks that no longer exist"
        stale = services.retrieval.search(project.id, "SKYLOOM_CACHE_DIR", top_k=10, mode="lexical")
        assert stale == [], "text of the replaced version is still indexed"


def test_search_follows_a_mass_deletion_made_by_the_cli(tmp_path: Path, make_docs: Callable[[Path], Path]) -> None:
    docs = _manual_with_extra_pages(tmp_path, make_docs, extra=6)
    home = tmp_path / "home"
    with open_services(home) as services:
        project = services.projects.create_project("Skyloom")
        source = services.projects.add_source(project.id, "folder", str(docs))
        assert services.ingest.run(source.id).status == "succeeded"
        assert services.retrieval.search(project.id, "desktop app sync speed release", mode="lexical")

        for path in docs.iterdir():
            if path.name != "webhooks.html":
                path.unlink()
        result = Cli(home)("ingest", "--project", project.id, "--json")
        assert result.returncode == 0, result.stderr

        for mode in MODES:
            for query in ("desktop app sync speed release", "How do I verify webhook signatures?", "rate limits"):
                hits = services.retrieval.search(project.id, query, top_k=10, mode=mode)
                assert {page(h.source_url) for h in hits} <= {"webhooks.html"}, (mode, query)
        assert services.retrieval.search(project.id, "webhook signature", top_k=1, mode="lexical")


# the in-memory index kept up to date piece by piece ranks exactly like one built from scratch ------------------


def test_index_grown_between_searches_ranks_like_a_fresh_one(tmp_path: Path, make_docs: Callable[[Path], Path]) -> None:
    """Writes and deletes land in the arrays a search already loaded (new postings segments, masked rows); the
    scores must stay those of an index loaded from the database in one go."""
    docs = _manual_with_extra_pages(tmp_path, make_docs, extra=4)
    changelog = tmp_path / "changelog"
    changelog.mkdir()
    (changelog / "changelog.md").write_text(CHANGELOG, encoding="utf-8")
    queries = [*QUERIES, "desktop app sync speed release", "selective sync large vaults"]
    with open_services(tmp_path / "home") as services:
        project = services.projects.create_project("Skyloom")
        manual = services.projects.add_source(project.id, "folder", str(docs))
        assert services.ingest.run(manual.id).status == "succeeded"
        for query in queries:  # load the arrays now, so everything below arrives incrementally
            services.retrieval.search(project.id, query, mode="lexical")
        notes = services.projects.add_source(project.id, "folder", str(changelog))
        assert services.ingest.run(notes.id).status == "succeeded"
        services.retrieval.search(project.id, "crash renaming folder", mode="lexical")
        (docs / "release-01.md").unlink()
        (docs / "install.md").write_text("# Install\n\nInstall the desktop app with the package manager.\n")
        assert services.ingest.run(manual.id).status == "succeeded"

        fresh_index = type(services.index)()  # the same backend, with nothing loaded yet
        fresh = RetrievalService(services.database, fresh_index, services.embedder, services.settings)
        for mode in MODES:
            for query in queries:
                grown = services.retrieval.search(project.id, query, top_k=10, mode=mode)
                rebuilt = fresh.search(project.id, query, top_k=10, mode=mode)
                assert [h.chunk_id for h in grown] == [h.chunk_id for h in rebuilt], (mode, query)
                assert [h.score for h in grown] == pytest.approx([h.score for h in rebuilt], rel=1e-5), (mode, query)
        assert not any("release-01" in h.source_url for h in services.retrieval.search(project.id, "Release 1"))
