"""Splits a retrieved passage (markdown, or rst as the ingester leaves it) into blocks, and quotes parts of them."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from enum import StrEnum


class BlockKind(StrEnum):
    PROSE = "prose"
    LIST = "list"
    TABLE = "table"
    CODE = "code"


@dataclass(frozen=True)
class Block:
    """A paragraph (its sentences), a list (its items), a table (its rows, header first) or a code block (its
    lines, in runs of at most CODE_PART_LINES split at blank lines where possible).

    `parts` are what an answer chooses among; a list, table or code block is quoted as such, never as loose
    sentences. `lead` is the sentence just before a list, table or code block, which says what it is.
    """

    kind: BlockKind
    parts: tuple[str, ...]
    lead: str = ""
    ordered: bool = False
    language: str = ""  # of a code block, from its fence


_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|(\d+|#)[.)])\s+")
_TABLE_RULE = re.compile(r"^[\s|:+=-]+$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(\[*_:])")
_DIRECTIVE = re.compile(r"^\s*\.\.(?:\s+([\w:-]+)::|\s|$)")
# Directives whose body is prose a reader needs (notes, version changes). Machinery (toctree, autodoc) is
# dropped; any other directive's body is an example (".. click:example::", ".. doctest::"), quoted as code.
_PROSE_DIRECTIVES = frozenset(
    """note tip hint important warning caution danger attention error admonition seealso versionadded
    versionchanged deprecated topic sidebar rubric""".split()  # noqa: SIM905 - a word list reads better as text
)
_MACHINERY_DIRECTIVES = frozenset(
    """toctree image figure include currentmodule module automodule autoclass autofunction automethod
    autoattribute autodata autoexception autosummary rst-class highlight raw only contents index""".split()  # noqa: SIM905
)
# A lead too short to say anything ("Example:") gives way to the sentence before it.
MIN_LEAD_WORDS = 3
CODE_INDENT = 4
CODE_PART_LINES = 12
MAX_QUOTE_CHARS = 400


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _table_row(line: str) -> str:
    return "| " + " | ".join(cell.strip() for cell in line.strip().strip("|").split("|")) + " |"


def sentences(text: str) -> list[str]:
    """The sentences of a paragraph, whitespace collapsed."""
    return [s for s in _SENTENCE_END.split(" ".join(text.split())) if s]


class _Splitter:
    """One pass over a passage's lines, collecting the paragraph, list or table being read."""

    def __init__(self, content: str) -> None:
        self.lines = content.replace("\r\n", "\n").split("\n")
        self.blocks: list[Block] = []
        self.paragraph: list[str] = []
        self.items: list[str] = []
        self.ordered = False
        self.rows: list[str] = []

    def run(self) -> list[Block]:
        i = 0
        if self.lines[0].strip() and _indent(self.lines[0]) >= CODE_INDENT:
            i = self._body_end(0, CODE_INDENT - 1)  # the chunk starts inside an indented example
            self._code(self.lines[:i])
        while i < len(self.lines):
            i = self._line(i)
        self._flush()
        return self.blocks

    def _line(self, i: int) -> int:
        """Read the line at i (and any block it opens); the index of the next line to read."""
        line = self.lines[i]
        stripped = line.strip()
        fence = _FENCE.match(line)
        if fence:
            end = i + 1
            while end < len(self.lines) and not self.lines[end].strip().startswith(fence.group(1)):
                end += 1
            # A block the chunker cut has no closing fence; it is closed when quoted.
            self._code(self.lines[i + 1 : end], line.strip()[len(fence.group(1)) :].strip())
            return end + 1
        directive = _DIRECTIVE.match(line)
        if directive:
            return self._directive(i, directive.group(1) or "")
        if stripped.startswith(">>>"):
            end = i
            while end < len(self.lines) and self.lines[end].strip():
                end += 1
            self._code(self.lines[i:end], "pycon")
            return end
        item = _LIST_ITEM.match(line)
        if not stripped or _HEADING.match(line):
            if self.paragraph:
                self._flush()
        elif stripped.startswith("|"):
            if self.paragraph or self.items:
                self._flush()
            if not _TABLE_RULE.match(stripped):
                self.rows.append(_table_row(stripped))
        elif item:
            if self.paragraph or self.rows:
                self._flush()
            if not self.items:
                self.ordered = item.group(1) is not None
            self.items.append(line[item.end() :].strip())
        elif self.items and (_indent(line) > 0 or self.lines[i - 1].strip()):
            self.items[-1] += " " + stripped  # a list item's continuation line
        else:
            if self.items or self.rows:
                self._flush()
            self.paragraph.append(stripped)
        return i + 1

    def _lead(self) -> str:
        """The last informative sentence right before the block being added, if there is one."""
        for block in reversed(self.blocks[-2:]):
            if block.kind is not BlockKind.PROSE:
                return ""
            if len(block.parts[-1].split()) >= MIN_LEAD_WORDS:
                return block.parts[-1]
        return ""

    def _flush(self) -> None:
        if self.paragraph:
            parts = sentences(" ".join(self.paragraph))
            if parts:
                self.blocks.append(Block(BlockKind.PROSE, tuple(parts)))
            self.paragraph = []
        if self.items:
            items = tuple(" ".join(item.split()) for item in self.items)
            self.blocks.append(Block(BlockKind.LIST, items, self._lead(), self.ordered))
            self.items = []
        if self.rows:
            self.blocks.append(Block(BlockKind.TABLE, tuple(self.rows), self._lead()))
            self.rows = []

    def _code(self, body: list[str], language: str = "") -> None:
        self._flush()
        lines = textwrap.dedent("\n".join(body)).strip("\n").split("\n")
        if any(line.strip() for line in lines):
            self.blocks.append(Block(BlockKind.CODE, code_parts(lines), self._lead(), language=language))

    def _body_end(self, start: int, base: int) -> int:
        """The index just past the lines from `start` indented deeper than `base` (blank lines included)."""
        end = start
        while end < len(self.lines) and (not self.lines[end].strip() or _indent(self.lines[end]) > base):
            end += 1
        while end > start and not self.lines[end - 1].strip():
            end -= 1
        return end

    def _directive(self, i: int, name: str) -> int:
        self._flush()
        start = i + 1
        while start < len(self.lines) and self.lines[start].strip().startswith(":"):
            start += 1  # the directive's options (":linenos:")
        end = self._body_end(start, _indent(self.lines[i]))
        body = self.lines[start:end]
        if name in _PROSE_DIRECTIVES:
            # A note's body reads as the passage's own text: paragraphs, lists, even examples.
            self.blocks.extend(split_blocks(textwrap.dedent("\n".join(body))))
        elif name and name not in _MACHINERY_DIRECTIVES:
            self._code(body)
        return end  # comments, link targets (".. _label:") and machinery carry nothing to quote


def code_parts(lines: list[str]) -> tuple[str, ...]:
    """A code block's lines in runs of at most CODE_PART_LINES, each ending at a blank line where one is near."""
    parts: list[str] = []
    start = 0
    while start < len(lines):
        end = min(start + CODE_PART_LINES, len(lines))
        if end < len(lines):
            blank = [i for i in range(start + CODE_PART_LINES // 2, end) if not lines[i].strip()]
            end = blank[-1] + 1 if blank else end
        part = "\n".join(lines[start:end]).strip("\n")
        if part:
            parts.append(part)
        start = end
    return tuple(parts)


def split_blocks(content: str) -> list[Block]:
    """The passage as blocks in reading order; headings and rst directive markup are dropped."""
    return _Splitter(content).run()


def clip(text: str) -> str:
    """The text, cut at a word before MAX_QUOTE_CHARS with an ellipsis when longer."""
    if len(text) <= MAX_QUOTE_CHARS:
        return text
    return text[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0] + "…"


def _runs(parts: set[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for p in sorted(parts):
        if runs and runs[-1][-1] == p - 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


def quote_block(block: Block, parts: set[int], marker: str, intro: str) -> list[str]:
    """Markdown for the chosen parts of one block: bullets for sentences; a list, table or code block as such."""
    if block.kind is BlockKind.PROSE:
        return ["\n".join(f"- {clip(' '.join(block.parts[p] for p in run))} {marker}" for run in _runs(parts))]
    if block.kind is BlockKind.CODE:
        # Lines left out of a long block are marked, so a quote never reads as the whole listing.
        body = "\n…\n".join("\n".join(block.parts[p] for p in run) for run in _runs(parts))
        body = ("…\n" if min(parts) > 0 else "") + body + ("\n…" if max(parts) < len(block.parts) - 1 else "")
        return [intro, f"```{block.language}\n{body}\n```"]
    if block.kind is BlockKind.TABLE:
        header = block.parts[0]
        rule = "|" + "---|" * (header.count(" | ") + 1)
        return [intro, "\n".join([header, rule, *(block.parts[p] for p in sorted(parts) if p)])]
    cite = "" if intro else f" {marker}"
    lines = [f"{f'{p + 1}.' if block.ordered else '-'} {clip(block.parts[p])}{cite}" for p in sorted(parts)]
    return [intro, "\n".join(lines)]
