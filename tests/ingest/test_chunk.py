"""The chunker against the real MiniLM tokenizer: the 256-token window, whole code blocks, context, stable ids."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import DOCS
from docsage.embed.base import Embedder
from docsage.ingest.chunk import ChunkDraft, Chunker, chunk_id
from docsage.ingest.parse import Block, ParsedDocument, Section, parse, parse_markdown

WINDOW = 256
# fmt: off
VOCABULARY = [
    "vault", "sync", "daemon", "token", "region", "cache", "block", "upload", "retry", "quota", "webhook",
    "signature", "archive", "folder", "share", "member", "policy", "audit", "export", "bridge", "client",
    "server", "request", "response", "latency", "bandwidth", "snapshot", "restore",
]
# fmt: on


@pytest.fixture(scope="module")
def chunker(minilm: Embedder) -> Chunker:
    return Chunker(minilm.count_tokens, minilm.max_tokens)


def words(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCABULARY) for _ in range(n))


def sentences(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(words(rng.randint(8, 20), seed * 1000 + i).capitalize() + "." for i in range(n))


def code(lines: int, seed: int) -> str:
    rng = random.Random(seed)
    body = [f"result_{i} = client.{rng.choice(VOCABULARY)}(path='vault/{i}', retries={i % 5})" for i in range(lines)]
    return "```python\n" + "\n".join(body) + "\n```"


def base64ish(n: int, seed: int) -> str:
    """A whitespace-free run like an inlined key or data URI: thousands of word pieces, no space to split at."""
    rng = random.Random(seed)
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(n))


GIANT_TOKEN = base64ish(6000, 7)

CASES: dict[str, str] = {
    "paragraph-without-sentence-ends": f"# Guide\n\n## Section\n\n{words(2500, 1)}\n",
    "many-sentences": f"# Guide\n\n## Section\n\n{sentences(150, 2)}\n",
    "oversized-code-block": f"# Guide\n\n## Code\n\n{code(120, 3)}\n",
    "giant-single-token": f"# Guide\n\n## Blob\n\n{GIANT_TOKEN}\n",
    "cjk-text": "# 指南\n\n" + "中文文档同步" * 600 + "\n",
    "long-heading-path": "# " + words(120, 4) + "\n\n## " + words(120, 5) + "\n\n" + sentences(40, 6) + "\n",
    "mixed-sections": "\n".join(
        f"## Part {i}\n\n{sentences(6 * i + 1, 10 + i)}\n\n{code(3 * i + 1, 20 + i)}\n" for i in range(1, 9)
    ),
}


def nonspace(text: str) -> str:
    return "".join(text.split())


def assert_within_window(drafts: list[ChunkDraft], minilm: Embedder) -> None:
    assert drafts
    recounted = minilm.count_tokens([d.embed_text for d in drafts])
    for draft, n in zip(drafts, recounted, strict=True):
        assert n <= WINDOW, f"chunk {draft.ordinal} has {n} tokens: {draft.embed_text[:120]!r}…"
        assert draft.token_count == n
    assert [d.ordinal for d in drafts] == list(range(len(drafts)))


@pytest.mark.parametrize("name", list(CASES))
def test_no_chunk_exceeds_the_model_window(name: str, chunker: Chunker, minilm: Embedder) -> None:
    doc = parse_markdown(CASES[name], f"file:///docs/{name}.md")
    drafts = chunker.chunk(doc)
    assert_within_window(drafts, minilm)
    # Nothing is lost: every block's text is in the chunks (fence lines re-added to split code aside).
    source = nonspace(
        "".join(b.text for s in doc.sections for b in s.blocks).replace("```python", "").replace("```", "")
    )
    produced = nonspace("".join(d.text for d in drafts).replace("```python", "").replace("```", ""))
    assert produced == source


@pytest.mark.parametrize("name", sorted(DOCS))
def test_manual_pages_fit_the_window(name: str, chunker: Chunker, minilm: Embedder) -> None:
    fmt = {"md": "markdown", "rst": "rst", "txt": "text", "html": "html"}[name.rsplit(".", 1)[1]]
    drafts = chunker.chunk(parse(DOCS[name].encode(), fmt, f"file:///docs/{name}"))
    assert_within_window(drafts, minilm)


def test_code_blocks_that_fit_are_never_split(chunker: Chunker, minilm: Embedder) -> None:
    blocks = [code(n, 30 + n) for n in (3, 5, 8)]
    assert all(minilm.count_tokens([b])[0] < 200 for b in blocks)
    text = "# Guide\n\n## Examples\n\n" + "\n\n".join(f"{sentences(9, 40 + i)}\n\n{b}" for i, b in enumerate(blocks))
    drafts = chunker.chunk(parse_markdown(text))
    assert len(drafts) > 1, "the section should need several chunks"
    for block in blocks:
        holders = [d for d in drafts if block in d.text]
        assert len(holders) == 1, "a code block that fits the window must sit whole in exactly one chunk"
        first_line = block.splitlines()[1]
        assert sum(first_line in d.text for d in drafts) == 1


def test_split_code_keeps_whole_lines_and_fences(chunker: Chunker) -> None:
    block = code(120, 3)
    drafts = chunker.chunk(parse_markdown(f"# Guide\n\n{block}\n"))
    assert len(drafts) > 1
    for draft in drafts:
        assert draft.text.startswith("```python\n"), f"part {draft.ordinal} lost its opening fence: {draft.text[:60]!r}"
        assert draft.text.rstrip().endswith("```"), f"part {draft.ordinal} lost its closing fence: {draft.text[-60:]!r}"
    produced_lines = [line for d in drafts for line in d.text.splitlines() if not line.startswith("```")]
    assert produced_lines == block.splitlines()[1:-1]


def test_heading_path_is_the_chunk_context(chunker: Chunker) -> None:
    doc = parse_markdown("# Skyloom CLI\n\nIntro.\n\n## Install\n\n### On Windows\n\nUse the installer.\n")
    drafts = chunker.chunk(doc)
    assert [(d.heading_path, d.text) for d in drafts] == [
        ("Skyloom CLI", "Intro."),  # the title is not repeated when it is the H1
        ("Skyloom CLI > Install > On Windows", "Use the installer."),
    ]
    for draft in drafts:
        assert draft.embed_text == f"{draft.heading_path}\n{draft.text}"

    titled = ParsedDocument("Skyloom Manual", [Section(("Install", "Linux"), [Block("Use apt.")])])
    [draft] = chunker.chunk(titled)
    assert draft.heading_path == "Skyloom Manual > Install > Linux"


def test_small_sections_are_separate_chunks_and_small_blocks_share_one(chunker: Chunker) -> None:
    doc = parse_markdown("# A\n\nOne.\n\nTwo.\n\n## B\n\nThree.\n")
    drafts = chunker.chunk(doc)
    assert [d.text for d in drafts] == ["One.\n\nTwo.", "Three."]


def test_empty_document_has_no_chunks(chunker: Chunker) -> None:
    assert chunker.chunk(parse_markdown("")) == []


def test_chunk_ids_are_deterministic_across_runs(
    minilm: Embedder, tmp_path: Path, make_docs: Callable[[Path], Path]
) -> None:
    def run() -> list[str]:
        chunker = Chunker(minilm.count_tokens, minilm.max_tokens)  # a fresh chunker, as a new process would have
        ids = []
        for path in sorted(make_docs(tmp_path).iterdir()):
            fmt = {".md": "markdown", ".rst": "rst", ".txt": "text", ".html": "html"}[path.suffix]
            url = path.as_uri()
            for d in chunker.chunk(parse(path.read_bytes(), fmt, url)):
                ids.append(chunk_id("source-1", url, d.ordinal, d.text))
        return ids

    first, second = run(), run()
    assert first == second
    assert len(set(first)) == len(first)
    base = chunk_id("source-1", "file:///docs/a.md", 0, "text")
    assert base == chunk_id("source-1", "file:///docs/a.md", 0, "text")
    assert len({base, chunk_id("source-2", "file:///docs/a.md", 0, "text"),
                chunk_id("source-1", "file:///docs/b.md", 0, "text"),
                chunk_id("source-1", "file:///docs/a.md", 1, "text"),
                chunk_id("source-1", "file:///docs/a.md", 0, "text!")}) == 5  # fmt: skip


def test_long_paragraph_is_split_at_sentence_boundaries(chunker: Chunker, minilm: Embedder) -> None:
    paragraph = sentences(120, 8)
    drafts = chunker.chunk(parse_markdown(f"# Guide\n\n{paragraph}\n"))
    assert len(drafts) > 2
    assert_within_window(drafts, minilm)
    for draft in drafts:
        assert draft.text[0].isupper(), draft.text[:40]
        assert draft.text.endswith("."), draft.text[-40:]
    assert " ".join(d.text for d in drafts) == paragraph


def test_giant_single_token_is_cut_into_pieces(chunker: Chunker, minilm: Embedder) -> None:
    assert minilm.count_tokens([GIANT_TOKEN])[0] > 4 * WINDOW
    drafts = chunker.chunk(parse_markdown(f"# Blob\n\n{GIANT_TOKEN}\n"))
    assert len(drafts) >= 4
    assert_within_window(drafts, minilm)
    assert "".join(d.text for d in drafts) == GIANT_TOKEN
