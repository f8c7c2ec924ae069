"""Turn passage citations [n] in a streamed answer into page-numbered markdown links: [[page]](url).

Linked citations make every answer self-contained wherever it is shown (a chat widget, Slack, an API
client), and the official Kapa React SDK only keeps the sources whose URL appears in the answer text.
Works on a stream: a marker split across deltas ("[", "1", "]") is held back until it is complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from docsage.answer.events import TextDelta
from docsage.retrieval.types import Hit

MARKER = re.compile(r"\[(\d{1,2})\](?!\()")
PENDING = re.compile(r"\[\d{0,2}$")  # a possible marker cut off at the end of the text seen so far


def document_numbers(hits: list[Hit]) -> list[int]:
    """For each passage, the 1-based number of its page among the distinct pages, in order of first appearance.

    Citations are renumbered by page so that [n] matches entry n of every per-page source list
    (`relevant_sources`, the widget's Sources), even when several passages come from one page.
    """
    pages: dict[str, int] = {}
    return [pages.setdefault(h.source_url, len(pages) + 1) for h in hits]


def link(text: str, hits: list[Hit]) -> str:
    numbers = document_numbers(hits)

    def repl(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if 1 <= n <= len(hits) and hits[n - 1].source_url:
            return f"[[{numbers[n - 1]}]]({hits[n - 1].source_url})"
        return m.group(0)

    return MARKER.sub(repl, text)


def link_citations(deltas: Iterator[TextDelta], hits: list[Hit]) -> Iterator[TextDelta]:
    buffer = ""
    for delta in deltas:
        buffer += delta.text
        cut = PENDING.search(buffer)
        ready, buffer = (buffer[: cut.start()], buffer[cut.start() :]) if cut else (buffer, "")
        # "[12]" followed by "(" would already be a link: keep one character back to decide.
        if ready.endswith("]") and not buffer:
            ready, buffer = ready[:-1], "]"
            m = re.search(r"\[\d{1,2}$", ready)
            if m:
                ready, buffer = ready[: m.start()], ready[m.start() :] + buffer
        if ready:
            yield TextDelta(link(ready, hits))
    if buffer:
        yield TextDelta(link(buffer, hits))
