"""Source files into sections along their definitions (`class Client > def send`): code fenced, doc comments prose."""

from __future__ import annotations

import ast
import itertools
import logging
import re
import textwrap
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from docsage.ingest.languages import (
    COMMENT_MARKERS,
    CONFIG_KEY,
    CONTINUATION,
    IMPORT,
    JSON,
    PYTHON,
    RETURN_TYPE,
    SMALL_CONFIG_LINES,
    XML_DOC_TAGS,
    Grammar,
    definition,
    heading,
    language,
)
from docsage.ingest.parse import Block, ParsedDocument, Section

log = logging.getLogger(__name__)

MAX_DEPTH = 2  # namespace > class > method: deeper definitions stay inside their parent's code
SHORT_DEFINITION_LINES = 2  # adjacent undocumented one-liners (#define, const, getters) share one section
MAX_NAMES = 3  # names listed in the heading of a merged section


@dataclass
class _Segment:
    """A run of lines [start, end) shown as one section; a container's members are its children."""

    start: int
    end: int
    heading: str = ""
    is_definition: bool = False
    doc: list[str] = field(default_factory=list)  # prose blocks: docstring, doc comment
    hidden: set[int] = field(default_factory=set)  # lines shown as prose, not code
    children: list[_Segment] = field(default_factory=list)


def _names(names: list[str]) -> str:
    return ", ".join(names[:MAX_NAMES] + (["…"] if len(names) > MAX_NAMES else []))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _comment_prose(lines: list[str]) -> list[str]:
    """A comment block's text without its markers, one string per paragraph."""
    text = "\n".join(re.sub(r"\s*\*+/\s*$", "", COMMENT_MARKERS.sub("", line)).rstrip() for line in lines)
    text = XML_DOC_TAGS.sub("", text)
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _scan(lines: list[str], lo: int, hi: int, grammar: Grammar, depth: int) -> list[_Segment]:
    """Split lines [lo, hi) at the statements that start at the block's own indentation."""
    present = [i for i in range(lo, hi) if lines[i].strip()]
    if not present:
        return []
    base = min(_indent(lines[i]) for i in present)
    starts: list[tuple[int, int, re.Match[str] | None]] = []  # (first line incl. lead, statement line, match)
    comments: set[int] = set()
    lead: int | None = None  # first line of the comment/attribute run just above
    closing = ""
    for i in range(lo, hi):
        line = lines[i]
        stripped = line.strip()
        if closing:
            comments.add(i)
            closing = "" if closing in stripped else closing
            continue
        if not stripped:
            lead = None
            continue
        if _indent(line) != base:
            continue
        if grammar.attribute and grammar.attribute.match(stripped):
            lead = i if lead is None else lead
            continue
        block = grammar.block_comment
        if grammar.comment.match(stripped) or (block and stripped.startswith(block[0])):
            comments.add(i)
            if block and stripped.startswith(block[0]) and block[1] not in stripped[len(block[0]) :]:
                closing = block[1]
            lead = i if lead is None else lead
            continue
        if CONTINUATION.match(stripped):
            lead = None
            continue
        match = definition(stripped, grammar, depth)
        following = lines[i + 1] if i + 1 < hi else ""
        if (
            grammar.member_at_top  # C's `static int` on the line above the function's name
            and RETURN_TYPE.match(stripped)
            and _indent(following) == base
            and definition(following.strip(), grammar, depth)
        ):
            lead = i if lead is None else lead
            continue
        start = i if lead is None else lead
        lead = None
        in_definition = bool(starts) and starts[-1][2] is not None
        if match or not starts or (in_definition and not grammar.to_next_definition):
            starts.append((start, i, match))
    # The file's opening comment (a package doc, a licence) is prose: before the first definition it gets a
    # segment of its own, before other statements it opens theirs.
    if starts and starts[0][2] is None:
        starts[0] = (lo, starts[0][1], None)
    elif starts and starts[0][0] > lo:
        starts.insert(0, (lo, starts[0][0], None))
    segments: list[_Segment] = []
    for k, (start, line_no, match) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else hi
        segment = _Segment(start, end)
        if match is None:
            if k == 0 and depth == 0:
                opening = [j for j in range(start, line_no) if j in comments]
                segment.doc, segment.hidden = _comment_prose([lines[j] for j in opening]), set(opening)
            base_lines = [j for j in range(start, end) if lines[j].strip() and _indent(lines[j]) == base]
            imports = [j for j in base_lines if IMPORT.match(lines[j].strip())]
            if imports and all(
                j in imports or j in comments or CONTINUATION.match(lines[j].strip()) for j in base_lines
            ):
                segment.heading = "imports"
            elif grammar.config:  # the keys it sets
                keys = [m.group(1) for j in base_lines if (m := CONFIG_KEY.match(lines[j].strip()))]
                segment.heading = _names(keys)
        else:
            segment.heading, kind = heading(match, grammar)
            segment.is_definition = True
            lead_comments = [j for j in range(start, line_no) if j in comments]
            segment.doc = _comment_prose([lines[j] for j in lead_comments])
            segment.hidden.update(lead_comments)
            if (kind in grammar.containers or "*" in grammar.containers) and depth < MAX_DEPTH:
                segment.children = _members(lines, line_no, end, grammar, depth)
        segments.append(segment)
    return segments


def _members(lines: list[str], line_no: int, end: int, grammar: Grammar, depth: int) -> list[_Segment]:
    """The definitions inside a container (a class's methods), when it is long enough to split."""
    if end - line_no <= grammar.split_lines:
        return []
    header_end = line_no
    if grammar.opens:
        limit = min(line_no + 8, end)
        found = [j for j in range(line_no, limit) if grammar.opens in lines[j] or lines[j].rstrip().endswith(":")]
        ends = [j for j in found if grammar.opens in lines[j]] if grammar.opens == "{" else found
        if not ends:
            return []
        header_end = ends[0]
    body_end = end
    own = _indent(lines[line_no])
    while body_end > header_end + 1 and (
        not lines[body_end - 1].strip() or _indent(lines[body_end - 1]) <= own
    ):  # the closing brace or `end`, and blank lines before the next statement
        body_end -= 1
    return [s for s in _scan(lines, header_end + 1, body_end, grammar, depth + 1) if s.is_definition]


def _python_segments(source: str, lines: list[str]) -> list[_Segment] | None:
    """Definitions from Python's own parser; None when the file does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    segments: list[_Segment] = []
    body, floor = tree.body, 0
    if (module_doc := _docstring(body)) and (text := ast.get_docstring(tree)):
        floor = module_doc.end_lineno or module_doc.lineno
        segments.append(_Segment(0, floor, doc=[text], hidden=_docstring_lines(module_doc, lines)))
        body = body[1:]
    segments += _python_block(body, lines, floor, depth=0)
    if segments:  # every line belongs to a segment: gaps go to the statement before them
        segments[0].start = 0
        for before, after in itertools.pairwise(segments):
            before.end = after.start
        segments[-1].end = max(segments[-1].end, len(lines))
    return segments


def _column(line: str, byte_offset: int) -> int:
    """ast's column offsets count UTF-8 bytes; the same position in characters."""
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def _docstring(body: list[ast.stmt]) -> ast.Expr | None:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def _docstring_lines(node: ast.Expr | None, lines: list[str]) -> set[int]:
    """The lines of a docstring that occupies whole lines (so the code reads well without it)."""
    if node is None or node.end_lineno is None:
        return set()
    start, end = node.lineno - 1, node.end_lineno - 1
    before = lines[start][: _column(lines[start], node.col_offset)]
    after = lines[end][_column(lines[end], node.end_col_offset or 0) :]
    return set(range(start, end + 1)) if not before.strip() and after.strip() in ("", ";") else set()


def _assigned(node: ast.stmt) -> list[str]:
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _python_block(nodes: list[ast.stmt], lines: list[str], floor: int, depth: int) -> list[_Segment]:
    """Top level: definitions and groups of other statements; inside a class: its definitions only."""
    segments: list[_Segment] = []
    names: list[str] = []
    for node in nodes:
        decorators: list[ast.expr] = getattr(node, "decorator_list", [])
        first = min([node.lineno, *(d.lineno for d in decorators)]) - 1
        start = first
        while start - 1 >= floor and lines[start - 1].strip().startswith("#"):
            start -= 1
        end = node.end_lineno or node.lineno
        floor = end
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            kind = (
                "class"
                if isinstance(node, ast.ClassDef)
                else "async def"
                if isinstance(node, ast.AsyncFunctionDef)
                else "def"
            )
            segment = _Segment(start, end, f"{kind} {node.name}", is_definition=True)
            segment.doc = _comment_prose(lines[start:first])
            segment.hidden = set(range(start, first)) | _docstring_lines(_docstring(node.body), lines)
            if docstring := ast.get_docstring(node):
                segment.doc.append(docstring)
            if isinstance(node, ast.ClassDef) and depth == 0:
                segment.children = _python_block(node.body, lines, node.lineno, depth + 1)
            segments.append(segment)
            continue
        if depth:
            continue  # class attributes stay in the class's own section
        group = "imports" if isinstance(node, ast.Import | ast.ImportFrom) else ""
        previous = segments[-1] if segments else None
        if (
            previous
            and not previous.is_definition
            and previous.doc == []
            and (previous.heading == "imports") == bool(group)
        ):
            previous.end = end
        else:
            names = []
            segments.append(_Segment(start, end, group))
        if not group:
            names.extend(_assigned(node))
            label = lines[node.lineno - 1].strip().rstrip(":")[:60]
            segments[-1].heading = _names(names) if names else segments[-1].heading or label
    return segments


def _merge_short(segments: list[_Segment], lines: list[str]) -> list[_Segment]:
    """Adjacent undocumented one-line definitions (`#define`s, constants, getters) become one section."""

    def short(s: _Segment) -> bool:
        code = [j for j in range(s.start, s.end) if lines[j].strip() and j not in s.hidden]
        return s.is_definition and not s.doc and not s.children and len(code) <= SHORT_DEFINITION_LINES

    merged: list[_Segment] = []
    run: list[_Segment] = []
    for segment in [*segments, None]:
        if segment is not None and short(segment):
            run.append(segment)
            continue
        if len(run) > 1:
            merged.append(_Segment(run[0].start, run[-1].end, _names([s.heading for s in run]), is_definition=True))
        else:
            merged.extend(run)
        run = []
        if segment is not None:
            segment.children = _merge_short(segment.children, lines)
            merged.append(segment)
    return merged


def _group_keys(segments: list[_Segment], lines: list[str]) -> list[_Segment]:
    """Config: adjacent keys share a section while together they stay small (comments back in the code)."""
    grouped: list[_Segment] = []
    for segment in segments:
        segment.children = _group_keys(segment.children, lines)
        previous = grouped[-1] if grouped else None
        if (
            previous
            and not previous.children
            and not segment.children
            and segment.end - previous.start <= SMALL_CONFIG_LINES
        ):
            headings = [h for s in (previous, segment) for h in s.heading.split(", ") if h and h != "…"]
            grouped[-1] = _Segment(previous.start, segment.end, _names(list(dict.fromkeys(headings))), True)
        else:
            grouped.append(segment)
    return grouped


def _fenced(code: list[str], fence: str) -> str:
    """The lines as one fenced block, dedented; a longer fence when the code itself holds ``` lines."""
    text = textwrap.dedent("\n".join(code)).strip("\n")
    if not text.strip():
        return ""
    runs = [len(m.group()) for m in re.finditer(r"^\s*(`{3,})", text, re.MULTILINE)]
    marker = "`" * max([3, *(n + 1 for n in runs)])
    return f"{marker}{fence}\n{text}\n{marker}"


def _emit(segment: _Segment, lines: list[str], path: tuple[str, ...], fence: str, out: list[Section]) -> None:
    heading_path = (*path, segment.heading) if segment.heading else path
    blocks = [Block(text) for text in segment.doc]
    members = {j for child in segment.children for j in range(child.start, child.end)}
    code: list[str] = []
    marker = -1  # where the last "..." stands for members shown in their own sections
    for j in range(segment.start, segment.end):
        if j in members:
            if marker >= 0 and not any(line.strip() for line in code[marker + 1 :]):
                del code[marker + 1 :]  # only blank lines since the last "...": the same run of members
            else:
                code.append(" " * _indent(lines[j]) + "...")
                marker = len(code) - 1
        elif j not in segment.hidden:
            code.append(lines[j])
    if text := _fenced(code, fence):
        blocks.append(Block(text, is_code=True))
    if blocks:
        if out and out[-1].heading_path == heading_path:
            out[-1].blocks.extend(blocks)
        else:
            out.append(Section(heading_path, blocks))
    for child in segment.children:
        _emit(child, lines, heading_path, fence, out)


def _name_from_url(url: str) -> str:
    return unquote(urlparse(url).path).rstrip("/").rsplit("/", 1)[-1] or url


def parse_code(text: str, fmt: str, url: str = "", title_hint: str = "") -> ParsedDocument:
    """A source file split along its definitions. Python goes through Python's own parser; other languages (and
    Python that does not parse) through an indentation-and-keyword scan, which never fails: a file it cannot
    structure becomes blocks of plain code."""
    lang = language(fmt)
    title = title_hint or f"{_name_from_url(url)} ({lang.name})"
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    present = [line for line in lines if line.strip()]
    if not present:
        return ParsedDocument(title=title, sections=[])
    segments: list[_Segment] | None = None
    if lang.grammar.config and len(present) <= SMALL_CONFIG_LINES:
        segments = [_Segment(0, len(lines))]
    elif lang.grammar is PYTHON:
        segments = _python_segments("\n".join(lines), lines)
        if segments is None:
            log.info("%s does not parse as Python; split by indentation instead", url)
    if segments is None:
        lo, hi = 0, len(lines)
        if lang.grammar is JSON:  # split inside the outer object: its keys are the "definitions"
            first, last = (
                next(i for i, x in enumerate(lines) if x.strip()),
                max(i for i, x in enumerate(lines) if x.strip()),
            )
            if lines[first].strip() == "{" and lines[last].strip() == "}":
                lo, hi = first + 1, last
        segments = _scan(lines, lo, hi, lang.grammar, depth=0)
    sections: list[Section] = []
    grouped = _group_keys(segments, lines) if lang.grammar.config else _merge_short(segments, lines)
    for segment in grouped:
        _emit(segment, lines, (), lang.fence, sections)
    return ParsedDocument(title=title, sections=sections)
