"""Parsers: raw markdown, HTML, reStructuredText, text and PDF into titled sections of blocks."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from bs4 import BeautifulSoup, Tag

from docsage.errors import InvalidInputError


@dataclass
class Block:
    text: str
    is_code: bool = False
    # A code block in a documentation page (where printed output and log dumps live): runs of lines differing
    # only in numbers may be collapsed when chunking. Source files (code.py) never are.
    collapsible: bool = False


@dataclass
class Section:
    heading_path: tuple[str, ...]
    blocks: list[Block] = field(default_factory=list)


@dataclass
class ParsedDocument:
    title: str
    sections: list[Section]

    @property
    def text(self) -> str:
        parts: list[str] = []
        for section in self.sections:
            if section.heading_path:
                parts.append("#" * len(section.heading_path) + " " + section.heading_path[-1])
            parts.extend(b.text for b in section.blocks)
        return "\n\n".join(parts)


FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
MDX_LINE = re.compile(r"^(import|export)\s")


def title_from_url(url: str) -> str:
    path = unquote(urlparse(url).path).rstrip("/")
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0] or urlparse(url).netloc
    return re.sub(r"[-_]+", " ", stem).strip().capitalize() or url


def _strip_front_matter(lines: list[str]) -> tuple[list[str], str]:
    if not lines or lines[0].strip() != "---":
        return lines, ""
    for i in range(1, min(len(lines), 200)):
        if lines[i].strip() in ("---", "..."):
            title = ""
            for line in lines[1:i]:
                m = re.match(r"^title:\s*(.+?)\s*$", line)
                if m:
                    title = m.group(1).strip("'\"")
            return lines[i + 1 :], title
    return lines, ""


def parse_markdown(text: str, url: str = "", title_hint: str = "") -> ParsedDocument:
    """Split markdown at ATX/setext headings; fenced code stays one block; paragraphs are blocks."""
    lines, fm_title = _strip_front_matter(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    sections: list[Section] = [Section(())]
    stack: list[tuple[int, str]] = []
    para: list[str] = []
    first_h1 = ""

    def flush() -> None:
        body = "\n".join(para).strip("\n")
        if body.strip():
            sections[-1].blocks.append(Block(body))
        para.clear()

    def open_section(level: int, heading: str) -> None:
        nonlocal first_h1
        flush()
        heading = re.sub(r"\s+", " ", heading).strip()
        if level == 1 and not first_h1:
            first_h1 = heading
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        sections.append(Section(tuple(h for _, h in stack)))

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            flush()
            marker = fence.group(1)
            code = [line]
            i += 1
            while i < len(lines):
                code.append(lines[i])
                if lines[i].strip().startswith(marker[0] * len(marker)) and not lines[i].strip().strip(marker[0]):
                    break
                i += 1
            sections[-1].blocks.append(Block("\n".join(code), is_code=True, collapsible=True))
            i += 1
            continue
        atx = ATX.match(line)
        if atx:
            open_section(len(atx.group(1)), atx.group(2))
            i += 1
            continue
        if para and SETEXT.match(line) and len(para) == 1 and para[0].strip():
            heading = para.pop()
            open_section(1 if line.strip().startswith("=") else 2, heading)
            i += 1
            continue
        if not line.strip():
            flush()
        elif not (MDX_LINE.match(line) and not para):
            para.append(line)
        i += 1
    flush()
    title = title_hint or fm_title or first_h1 or title_from_url(url)
    kept = [s for s in sections if s.blocks]
    return ParsedDocument(title=title, sections=kept)


# Containers whose text is site chrome, not documentation content.
ALWAYS_DROP = ["script", "style", "noscript", "template", "svg", "iframe", "nav", "aside", "form", "button", "footer"]
PAGE_CHROME = ["header"]  # site chrome at page level, but inside an article it holds the H1 (Docusaurus)
BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary"}
BOILERPLATE_WORDS = {
    "nav", "navbar", "sidebar", "breadcrumb", "breadcrumbs", "toc", "menu", "cookie", "cookies", "skip",
    "skip-link", "edit-page", "pagination", "feedback", "announcement", "banner", "footer", "site-footer",
}  # fmt: skip
PAGE_CHROME_WORDS = {"header", "site-header"}
HEADING_ANCHOR_TEXT = {"", "¶", "#", "§", "🔗", "link", "permalink"}
MAIN_SELECTORS = [
    "main",
    "article",
    "[role=main]",
    "#content",
    ".content",
    ".markdown-body",
    ".document",
    ".rst-content",
    ".theme-doc-markdown",
]


def _in_content(tag: Tag) -> bool:
    return tag.find_parent(["article", "main"]) is not None


def _is_boilerplate(tag: object) -> bool:
    if not isinstance(tag, Tag) or tag.attrs is None:
        return False
    if str(tag.get("role", "")).lower() in BOILERPLATE_ROLES:
        return True
    classes: object = tag.get("class") or []
    words = [str(c).lower() for c in (classes if isinstance(classes, list) else [classes])]
    words.append(str(tag.get("id", "")).lower())
    words = [w for w in words if w]
    if any(w in BOILERPLATE_WORDS or w.split("-")[0] in {"sidebar", "navbar", "breadcrumb"} for w in words):
        return True
    return any(w in PAGE_CHROME_WORDS for w in words) and not _in_content(tag)


def _strip_heading_anchors(root: Tag) -> None:
    """Drop permalink anchors (Sphinx's ¶, MkDocs' #) so they do not end up in titles and heading paths."""
    for heading in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6"]):
        for a in heading.find_all("a"):
            cls = " ".join(str(c) for c in (a.get("class") or [])).lower()
            if a.get_text(strip=True).lower() in HEADING_ANCHOR_TEXT or "headerlink" in cls or "anchor" in cls:
                a.decompose()


def parse_html(raw: str, url: str = "", title_hint: str = "") -> ParsedDocument:
    """Main content only (nav, header, footer, sidebars dropped), converted to markdown and split at headings."""
    from markdownify import markdownify

    soup = BeautifulSoup(raw, "lxml")
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(ALWAYS_DROP):
        tag.decompose()
    for tag in soup(PAGE_CHROME):
        if not _in_content(tag):
            tag.decompose()
    for tag in soup.find_all(_is_boilerplate):
        if tag.attrs is not None:  # not already gone with a dropped ancestor
            tag.decompose()
    root = None
    for selector in MAIN_SELECTORS:
        root = soup.select_one(selector)
        if root is not None and root.get_text(strip=True):
            break
        root = None
    root = root or soup.body or soup
    _strip_heading_anchors(root)
    h1 = root.find("h1")
    try:
        md = markdownify(str(root), heading_style="ATX", bullets="-", code_language_callback=_code_language)
    except RecursionError:
        # Nesting deeper than markdownify's recursion can follow (some generated pages): keep the text.
        md = root.get_text("\n")
    doc = parse_markdown(md, url)
    doc.title = title_hint or (h1.get_text(" ", strip=True) if h1 else "") or page_title or title_from_url(url)
    return doc


def _code_language(el: object) -> str:
    if not isinstance(el, Tag):
        return ""
    for node in [el, *el.find_all("code", limit=1)]:
        for cls in node.get("class") or []:
            m = re.match(r"(?:language|lang)-(\w+)", str(cls))
            if m:
                return m.group(1)
    return ""


RST_ADORN = re.compile(r"^([=\-`:'\"~^_*+#<>.])\1{2,}\s*$")
RST_CODE_DIRECTIVE = re.compile(r"^\.\.\s+(code-block|code|sourcecode|literalinclude)::\s*(\S*)")


def rst_to_markdown(text: str) -> str:
    """Headings (adornment styles in order of first use) and literal/code blocks; other markup as text."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    styles: list[tuple[str, bool]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        over = RST_ADORN.match(line)
        if over and i + 2 < len(lines) and RST_ADORN.match(lines[i + 2]) and lines[i + 1].strip():
            style = (line.strip()[0], True)
            if style not in styles:
                styles.append(style)
            out.append("#" * min(styles.index(style) + 1, 6) + " " + lines[i + 1].strip())
            i += 3
            continue
        if line.strip() and not line.startswith(" ") and RST_ADORN.match(nxt) and len(nxt.strip()) >= len(line.strip()):
            style = (nxt.strip()[0], False)
            if style not in styles:
                styles.append(style)
            out.append("#" * min(styles.index(style) + 1, 6) + " " + line.strip())
            i += 2
            continue
        directive = RST_CODE_DIRECTIVE.match(line)
        literal = line.rstrip().endswith("::") and not line.strip().startswith("..")
        if directive or literal:
            if literal:
                kept = line.rstrip()[:-1]
                if kept.strip() and kept.strip() != ":":
                    out.append(kept)
            lang = directive.group(2) if directive else ""
            j = i + 1
            while j < len(lines) and (lines[j].strip().startswith(":") or not lines[j].strip()):
                j += 1
            body: list[str] = []
            while j < len(lines) and (not lines[j].strip() or lines[j].startswith((" ", "\t"))):
                body.append(lines[j])
                j += 1
            while body and not body[-1].strip():
                body.pop()
            if body:
                indent = min(len(b) - len(b.lstrip()) for b in body if b.strip())
                out.extend(["", f"```{lang}", *[b[indent:] for b in body], "```", ""])
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on what one document may expand to: a 12 kB PDF can declare 2,000 pages, and text extracted
    from compressed streams can be far larger than the file. Past a bound the document fails with a reason."""

    max_pdf_pages: int = 1000
    max_chars: int = 10_000_000


class DocumentTooLargeError(InvalidInputError):
    code = "document_too_large"
    http_status = 413


def parse_pdf(raw: bytes, url: str = "", title_hint: str = "", limits: ParseLimits | None = None) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    limits = limits or ParseLimits()
    pages: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(raw))
        count = len(reader.pages)
        if count > limits.max_pdf_pages:
            raise DocumentTooLargeError(f"PDF has {count} pages; the limit is {limits.max_pdf_pages}")
        extracted = 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            extracted += len(pages[-1])
            if extracted > limits.max_chars:
                raise DocumentTooLargeError(f"PDF text exceeds the {limits.max_chars}-character limit")
        metadata = reader.metadata
        meta_title = str(metadata.get("/Title") or "").strip() if metadata is not None else ""
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"unreadable PDF: {exc}") from exc
    sections: list[Section] = []
    for number, page_text in enumerate(pages, start=1):
        blocks = [Block(p.strip()) for p in re.split(r"\n\s*\n", page_text) if p.strip()]
        if blocks:
            sections.append(Section((f"Page {number}",), blocks))
    if not sections:
        raise InvalidInputError("PDF has no extractable text (scanned images are not supported)")
    first_line = sections[0].blocks[0].text.split("\n", 1)[0].strip()
    title = title_hint or meta_title or (first_line if len(first_line) <= 120 else "") or title_from_url(url)
    return ParsedDocument(title=title, sections=sections)


def parse_text(text: str, url: str = "", title_hint: str = "") -> ParsedDocument:
    blocks = [Block(p.strip("\n")) for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if p.strip()]
    return ParsedDocument(title=title_hint or title_from_url(url), sections=[Section((), blocks)] if blocks else [])


def parse(
    raw: bytes, fmt: str, url: str = "", title_hint: str = "", limits: ParseLimits | None = None
) -> ParsedDocument:
    """Dispatch on the connector's format name, within the limits."""
    limits = limits or ParseLimits()
    if fmt == "pdf":
        return parse_pdf(raw, url, title_hint, limits)
    if fmt == "notebook":  # imported here: the notebook and code parsers build on this module's sections
        from docsage.ingest.notebook import parse_notebook

        return parse_notebook(raw, url, title_hint, limits.max_chars)
    text = raw.decode("utf-8", errors="replace")
    if len(text) > limits.max_chars:
        raise DocumentTooLargeError(f"document has {len(text)} characters; the limit is {limits.max_chars}")
    if fmt == "markdown":
        return parse_markdown(text, url, title_hint)
    if fmt == "html":
        return parse_html(text, url, title_hint)
    if fmt == "rst":
        return parse_markdown(rst_to_markdown(text), url, title_hint)
    if fmt == "text":
        return parse_text(text, url, title_hint)
    if fmt.startswith("code:"):
        from docsage.ingest.code import parse_code

        return parse_code(text, fmt, url, title_hint)
    raise InvalidInputError(f"no parser for format {fmt!r}")
