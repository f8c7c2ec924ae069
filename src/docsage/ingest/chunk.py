"""Structure-aware chunking: heading path as context, code kept whole where it fits, never over the
embedder's token window (counted with the embedder's own tokenizer)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from docsage.ingest.parse import ParsedDocument
from docsage.ingest.repeats import collapse_repeated_lines

TokenCounter = Callable[[list[str]], list[int]]
SPECIAL_TOKENS = 2  # [CLS] and [SEP]: counted by count_tokens on whole texts, not on pieces
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'`*\[])")


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before embedding. `embed_text` (context line + text) is what the embedder sees."""

    ordinal: int
    heading_path: str
    text: str
    embed_text: str
    token_count: int


def chunk_id(source_id: str, url: str, ordinal: int, text: str) -> str:
    """Deterministic: the same chunk of the same document always gets the same id."""
    digest = hashlib.sha256(f"{source_id}\0{url}\0{ordinal}\0{text}".encode()).hexdigest()
    return digest[:32]


def context_line(title: str, heading_path: tuple[str, ...]) -> str:
    parts = [title] if title else []
    parts.extend(h for h in heading_path if h and h != title)
    return " > ".join(parts)


class Chunker:
    """Packs a document's blocks into chunks of at most `max_tokens` tokens including the context line."""

    def __init__(
        self, count_tokens: TokenCounter, max_tokens: int, min_budget: int = 48, *, collapse_repeats: bool = True
    ) -> None:
        self.count = count_tokens
        self.max_tokens = max_tokens
        self.min_budget = min_budget
        self.collapse_repeats = collapse_repeats  # off only to measure the lever (bench/ingest.py)

    def _pieces_count(self, texts: list[str]) -> list[int]:
        return [max(n - SPECIAL_TOKENS, 0) for n in self.count(texts)] if texts else []

    def _split(self, text: str, is_code: bool, budget: int) -> list[str]:
        """Split one oversized block: code by whole lines (each part re-fenced), prose by sentences, then words."""
        if not is_code:
            units = [u for u in SENTENCE_END.split(text) if u.strip()]
            return self._pack(units if len(units) > 1 else text.split(), " ", budget)
        lines = text.split("\n")
        fence = lines[0] if lines[0].lstrip().startswith(("```", "~~~")) else ""
        if not fence:
            return self._pack(lines, "\n", budget)
        marker = fence.strip()[:3]
        closed = len(lines) > 1 and lines[-1].strip().startswith(marker)
        body = lines[1:-1] if closed else lines[1:]
        close = lines[-1] if closed else marker
        # Every part is a valid fenced block, so renderers and the answerer still see code; the fence lines
        # are part of each part's token budget.
        overhead = sum(self._pieces_count([fence, close]))
        return [f"{fence}\n{part}\n{close}" for part in self._pack(body, "\n", max(budget - overhead, 16))]

    def _pack(self, units: list[str], joiner: str, budget: int) -> list[str]:
        """Greedily join units up to the budget; a unit over it is split by words, or by characters."""
        out: list[str] = []
        cur: list[str] = []
        size = 0
        for unit, n in zip(units, self._pieces_count(units), strict=True):
            if n > budget:
                if cur:
                    out.append(joiner.join(cur))
                    cur, size = [], 0
                if len(unit.split()) > 1:
                    out.extend(self._pack(unit.split(), " ", budget))
                else:  # one giant token run (a hash, minified code): cut by characters
                    step = max(budget * 3, 1)
                    out.extend(unit[k : k + step] for k in range(0, len(unit), step))
                continue
            if cur and size + n > budget:
                out.append(joiner.join(cur))
                cur, size = [], 0
            cur.append(unit)
            size += n
        if cur:
            out.append(joiner.join(cur))
        return [p for p in out if p.strip()]

    def chunk(self, doc: ParsedDocument) -> list[ChunkDraft]:
        drafts: list[tuple[str, str]] = []  # (context, text)
        contexts = [context_line(doc.title, s.heading_path) for s in doc.sections]
        ctx_counts = self._pieces_count(contexts)
        # Log dumps and printed output in documentation code blocks: runs of lines differing only in numbers are
        # collapsed (see repeats.py); the document's own text keeps them. Source files are left whole.
        all_blocks = [
            collapse_repeated_lines(b.text) if b.collapsible and self.collapse_repeats else b.text
            for s in doc.sections
            for b in s.blocks
        ]
        block_texts = iter(all_blocks)
        block_counts = iter(self._pieces_count(all_blocks))
        for section, full_ctx, full_n in zip(doc.sections, contexts, ctx_counts, strict=True):
            ctx, ctx_n = full_ctx, full_n
            if ctx_n > self.max_tokens // 3:  # absurdly long headings: keep title and last heading only
                ctx = context_line(doc.title, section.heading_path[-1:])[:200]
                ctx_n = self._pieces_count([ctx])[0]
            budget = max(self.max_tokens - SPECIAL_TOKENS - ctx_n - 1, self.min_budget)
            cur: list[str] = []
            size = 0
            for block in section.blocks:
                text, n = next(block_texts), next(block_counts)
                parts = [text] if n <= budget else self._split(text, block.is_code, budget)
                counts = [n] if n <= budget else self._pieces_count(parts)
                for part, pn in zip(parts, counts, strict=True):
                    if cur and size + pn > budget:
                        drafts.append((ctx, "\n\n".join(cur)))
                        cur, size = [], 0
                    cur.append(part)
                    size += pn
            if cur:
                drafts.append((ctx, "\n\n".join(cur)))
        return self._finalise(drafts)

    def _finalise(self, drafts: list[tuple[str, str]]) -> list[ChunkDraft]:
        """Exact count of each embed text; anything still over the window is halved until it fits."""
        result: list[tuple[str, str, int]] = []
        counts = self.count([_embed_text(ctx, text) for ctx, text in drafts]) if drafts else []
        for (ctx, text), n in zip(drafts, counts, strict=True):
            if n <= self.max_tokens:
                result.append((ctx, text, n))
            else:
                result.extend(self._halve(ctx, text))
        return [
            ChunkDraft(ordinal=i, heading_path=ctx, text=text, embed_text=_embed_text(ctx, text), token_count=n)
            for i, (ctx, text, n) in enumerate(result)
        ]

    def _halve(self, ctx: str, text: str) -> list[tuple[str, str, int]]:
        words = text.split(" ")
        if len(words) >= 2:
            halves = [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])]
        else:
            halves = [text[: len(text) // 2], text[len(text) // 2 :]]
        out: list[tuple[str, str, int]] = []
        for half, n in zip(halves, self.count([_embed_text(ctx, h) for h in halves]), strict=True):
            out.extend([(ctx, half, n)] if n <= self.max_tokens else self._halve(ctx, half))
        return out


def _embed_text(ctx: str, text: str) -> str:
    return f"{ctx}\n{text}" if ctx else text
