"""What to change in the docs for one coverage gap, worked out from what retrieval finds for it today.

No language model is needed: the gap's question is searched again and judged with the same coverage rule the
answers use. Nothing close means a missing topic (write it, or say it is unsupported); a close page that lacks
the question's own words means a page to extend; a page that now covers it means the gap may be closed.
"""

from __future__ import annotations

from docsage.index.lexical import TOKEN, analyze
from docsage.retrieval.service import RetrievalService
from docsage.retrieval.types import Hit

SEARCH_DEPTH = 5
MAX_WORDS = 4


def missing_words(question: str, hits: list[Hit]) -> list[str]:
    """The question's own words (as written) that none of the passages, their titles or headings contain."""
    found = set(analyze(" ".join(f"{h.title} {h.heading_path} {h.content}" for h in hits)))
    out: list[str] = []
    for word in TOKEN.findall(question):
        terms = analyze(word)
        if terms and not found.intersection(terms) and word.lower() not in (w.lower() for w in out):
            out.append(word)
    return out[:MAX_WORDS]


def _quoted(words: list[str]) -> str:
    quoted = [f"“{w}”" for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def suggest(retrieval: RetrievalService, project_id: str, question: str) -> str:
    """One or two sentences for a person who maintains the docs."""
    hits = retrieval.search(project_id, question, top_k=SEARCH_DEPTH)
    coverage = retrieval.judge(project_id, question, hits)
    missing = missing_words(question, hits)
    if hits and coverage.covered:
        best = hits[0]
        return (
            f"The docs now seem to cover this: “{best.title}” ({best.source_url}) matches it. Check that answers "
            "to it are right; if they are, nothing needs adding."
        )
    if not hits or coverage.off_topic:
        absent = f" (the closest passages never mention {_quoted(missing)})" if missing else ""
        return (
            f"Nothing in the docs is about this{absent}. If it is in scope, add a page on it; if it is not "
            "supported, say so in the docs, so that the assistant can answer that instead of being unsure."
        )
    best = hits[0]
    lacking = f": it never mentions {_quoted(missing)}" if missing else ""
    return (
        f"The closest page, “{best.title}” ({best.source_url}), does not answer this{lacking}. Extend it with a "
        "section on this question, or add a page of its own and link it from there."
    )
