"""Search as you type (the widget's search mode): the best pages for a query, each with a short passage or two
around the query's words. Titles, URLs and snippets only, never whole documents: what a public key may read."""

from __future__ import annotations

import re
from dataclasses import dataclass

from docsage.index.lexical import TOKEN, analyze
from docsage.retrieval.service import RetrievalService
from docsage.retrieval.types import Hit

SNIPPET_CHARS = 240
PASSAGES_PER_PAGE = 2
MAX_PAGES = 10
HITS_PER_PAGE = 3  # chunks retrieved per page asked for, so that a long page cannot crowd out the others

_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"[`*]+")
_MARKUP = re.compile(r"<[^>]{0,200}>|[#|]+|^\s*>|^\s*[-+]\s+|[=-]{3,}", re.MULTILINE)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Passage:
    heading: str
    snippet: str


@dataclass(frozen=True)
class PageResult:
    title: str
    url: str
    passages: list[Passage]


def plain(text: str) -> str:
    """Chunk text as a reader sees it: no fences, link syntax, emphasis, table pipes or tags; one line."""
    text = _FENCE.sub(" ", text)
    text = _EMPHASIS.sub("", _LINK.sub(r"\1", text))
    return _SPACE.sub(" ", _MARKUP.sub(" ", text)).strip()


def snippet(text: str, query: str, size: int = SNIPPET_CHARS) -> str:
    """About `size` characters of `text` from a little before the first of the query's words it contains (by
    index term, so "installing" finds "install"), cut at word boundaries, with an ellipsis where cut."""
    clean = plain(text)
    if len(clean) <= size:
        return clean
    terms = set(analyze(query))
    at = next((m.start() for m in TOKEN.finditer(clean) if terms.intersection(analyze(m.group()))), 0)
    start = max(0, at - size // 4)
    if start:
        space = clean.rfind(" ", 0, start + 1)
        start = space + 1 if space >= 0 else start
    end = min(len(clean), start + size)
    if end < len(clean):
        space = clean.rfind(" ", start, end)
        end = space if space > start else end
    return ("…" if start else "") + clean[start:end].strip() + ("…" if end < len(clean) else "")


def search_pages(
    retrieval: RetrievalService,
    project_id: str,
    query: str,
    limit: int,
    source_ids: list[str] | None = None,
) -> list[PageResult]:
    """Up to `limit` pages, best first, each with up to PASSAGES_PER_PAGE snippets of its best passages. Passages
    that neither share a word with the query nor come close to it in meaning are left out, so a query the docs
    know nothing about finds nothing rather than whatever is least far."""
    limit = max(1, min(limit, MAX_PAGES))
    floor = retrieval.coverage_rule.off_topic_cosine
    hits = retrieval.search(project_id, query, top_k=limit * HITS_PER_PAGE, source_ids=source_ids)
    pages: dict[str, tuple[Hit, list[Passage]]] = {}
    for hit in hits:
        if hit.lexical_rank == 0 and hit.dense_score < floor:
            continue
        first, passages = pages.setdefault(hit.document_id, (hit, []))
        if len(passages) < PASSAGES_PER_PAGE:
            passages.append(Passage(hit.heading_path or first.title, snippet(hit.content, query)))
    return [PageResult(first.title, first.source_url, passages) for first, passages in pages.values()][:limit]
