"""Local folder connector, and the file rules it shares with git: which files are indexed, which skipped and why."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from docsage.errors import ConnectorError, InvalidInputError
from docsage.ingest.documents import ConnectorItem, FetchedDocument, FetchFailure
from docsage.ingest.languages import code_title

FORMATS = {  # documents: what uploads and web crawls accept too
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".rst": "rst",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
CODE_FORMATS = {  # only from folders and repositories, where code sits next to the docs that cite it
    ".py": "code:python",
    ".pyi": "code:python",
    ".js": "code:javascript",
    ".jsx": "code:javascript",
    ".mjs": "code:javascript",
    ".cjs": "code:javascript",
    ".ts": "code:typescript",
    ".tsx": "code:tsx",
    ".go": "code:go",
    ".rs": "code:rust",
    ".java": "code:java",
    ".kt": "code:kotlin",
    ".kts": "code:kotlin",
    ".rb": "code:ruby",
    ".php": "code:php",
    ".cs": "code:csharp",
    ".c": "code:c",
    ".cpp": "code:cpp",
    ".cc": "code:cpp",
    ".cxx": "code:cpp",
    ".hpp": "code:cpp",
    ".h": "code:c-header",
    ".sh": "code:shell",
    ".bash": "code:shell",
    ".sql": "code:sql",
    ".yaml": "code:yaml",
    ".yml": "code:yaml",
    ".toml": "code:toml",
    ".json": "code:json",
    ".ipynb": "notebook",
}
SOURCE_FORMATS = {**FORMATS, **CODE_FORMATS}
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache"}
# Code in these is someone else's (dependencies) or built from the real source; documents in them still count.
VENDORED_DIRS = {
    "node_modules", "bower_components", "jspm_packages", "vendor", "third_party", "site-packages", ".venv", "venv",
    "dist", "build", "target",
}  # fmt: skip
LOCK_FILES = {"package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "composer.lock", "Pipfile.lock"}
GENERATED_NAMES = (
    "*.min.js", "*.min.mjs", "*-min.js", "*.bundle.js", "*_pb2.py", "*_pb2_grpc.py", "*.pb.go", "*.pb.h", "*.pb.cc",
    "*.generated.*", "*.g.cs", "*.designer.cs",
)  # fmt: skip
# The marker code generators write at the top of their output (Go's convention, protoc, Facebook's @generated).
GENERATED_HEADER = re.compile(r"(?i)^\s*(?:#|//|/\*|\*|--)(?!!).*(?:\bdo not edit\b|@generated\b)")
MAX_FILE_BYTES = 20 * 1024 * 1024
# Hand-written source files are rarely over 1 MB; bigger ones are bundles, generated code or data.
MAX_CODE_BYTES = 1024 * 1024
MINIFIED_LINE_CHARS = 500
MINIFIED_WHITESPACE = 0.10  # minified JavaScript measures 1-3 % whitespace, prose in long JSON strings over 15 %


def looks_binary(data: bytes) -> bool:
    return b"\0" in data[:8192]


def is_code(fmt: str) -> bool:
    return fmt.startswith("code:") or fmt == "notebook"


def source_format(name: str) -> str | None:
    """The parser format of a file in a folder or repository, or None for a type docsage does not index."""
    return SOURCE_FORMATS.get(PurePosixPath(name).suffix.lower())


def max_bytes(fmt: str) -> int:
    return MAX_CODE_BYTES if fmt.startswith("code:") else MAX_FILE_BYTES


def vendored_dir(path: str) -> str | None:
    """The vendored or build-output directory (path from the source's root) that a file lies in, if any."""
    parts = PurePosixPath(path).parts[:-1]
    for depth, part in enumerate(parts, start=1):
        if part in VENDORED_DIRS:
            return "/".join(parts[:depth])
    return None


def vendored_reason(directory: str) -> str:
    return f"code under {directory}/ is vendored or built, not indexed (documents there are)"


def name_skip_reason(path: str, fmt: str) -> str | None:
    """Why a file is skipped for its name alone, before it is read."""
    name = PurePosixPath(path).name
    if name in LOCK_FILES:
        return "lock file, written by a package manager"
    pattern = next((p for p in GENERATED_NAMES if fnmatch(name.lower(), p)), None)
    if is_code(fmt) and pattern:
        return f"minified or generated code (named {pattern})"
    return None


def minified_reason(text: str) -> str | None:
    """Most of the text in very long lines with little whitespace: minified, bundled or machine-written data."""
    if len(text) < 4 * MINIFIED_LINE_CHARS:
        return None
    long_lines = [line for line in text.splitlines() if len(line) > MINIFIED_LINE_CHARS]
    chars = sum(map(len, long_lines))
    if chars * 2 < len(text):
        return None
    whitespace = sum(line.count(" ") + line.count("\t") for line in long_lines) / chars
    if whitespace >= MINIFIED_WHITESPACE:
        return None
    share = chars / len(text)
    return f"minified: {share:.0%} of it in lines over {MINIFIED_LINE_CHARS} characters, {whitespace:.0%} spaces"


def check_document(data: bytes, fmt: str, url: str, path: str) -> ConnectorItem:
    """A file's bytes as a document, or a skip with its reason (size, binary, encoding, minified, generated).
    `path` is the file's path in the source: code documents are titled with it."""
    limit = max_bytes(fmt)
    if len(data) > limit:
        return FetchFailure(url, f"file is {len(data)} bytes, over the {limit}-byte limit", skipped=True)
    if fmt == "pdf":
        return FetchedDocument(url=url, raw=data, fmt=fmt)
    if looks_binary(data):
        return FetchFailure(url, "binary content in a text file", skipped=True)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return FetchFailure(url, "not valid UTF-8 text", skipped=True)
    if fmt.startswith("code:"):
        if reason := minified_reason(text):
            return FetchFailure(url, reason, skipped=True)
        if any(GENERATED_HEADER.match(line) for line in text.split("\n", 5)[:5]):
            return FetchFailure(url, "generated code (marked 'DO NOT EDIT' or @generated)", skipped=True)
        return FetchedDocument(url=url, raw=data, fmt=fmt, title=code_title(path, fmt))
    return FetchedDocument(url=url, raw=data, fmt=fmt)


def read_document(path: Path, url: str, name: str = "") -> ConnectorItem | None:
    """One file as a document, a skip or failure with its reason, or None for a type docsage does not index.
    `name` is the file's path in the source (its file name when not given)."""
    name = name or path.name
    fmt = source_format(name)
    if fmt is None:
        return None
    if reason := name_skip_reason(name, fmt):
        return FetchFailure(url, reason, skipped=True)
    try:
        size = path.stat().st_size
        if size > max_bytes(fmt):
            return FetchFailure(url, f"file is {size} bytes, over the {max_bytes(fmt)}-byte limit", skipped=True)
        data = path.read_bytes()
    except OSError as exc:
        return FetchFailure(url, f"unreadable: {exc.strerror or exc}")
    return check_document(data, fmt, url, name)


def check_url_template(template: str | None, *fields: str) -> str | None:
    """The template, if it formats with exactly these fields; InvalidInputError (at `source add`) otherwise."""
    if template is not None:
        try:
            template.format(**dict.fromkeys(fields, "x"))
        except (KeyError, IndexError, ValueError) as exc:
            names = ", ".join(f"{{{f}}}" for f in fields)
            raise InvalidInputError(f"url_template {template!r} is invalid ({exc}); it may use {names}") from None
    return template


def quote_path(path: str) -> str:
    # Paths come from os.fsdecode, so undecodable bytes travel as surrogates and must go back out as bytes.
    return quote(path, errors="surrogateescape")


class FolderConnector:
    """Walks a directory in a stable order. Citations are `url_template` with `{path}` (the file's path under the
    folder, URL-quoted) when given — the page where readers find it, e.g. https://docs.example.com/{path} — and
    otherwise `file://` + the absolute path, which only people on this machine can open."""

    def __init__(self, path: str, url_template: str | None = None) -> None:
        self.root = Path(path).expanduser().resolve()
        self.url_template = check_url_template(url_template, "path")

    def _cite(self, path: Path) -> str:
        if self.url_template is None:
            return path.as_uri()
        return self.url_template.format(path=quote_path(path.relative_to(self.root).as_posix()))

    def iter_documents(self) -> Iterator[ConnectorItem]:
        if not self.root.is_dir():
            raise ConnectorError(f"folder not found: {self.root}")
        reported: set[str] = set()  # vendored directories, each reported once rather than file by file
        for dirpath, dirnames, filenames in os.walk(self.root):
            here = Path(dirpath)
            walked = []
            for name in sorted(dirnames):
                if name in SKIP_DIRS or name.startswith("."):
                    if name in VENDORED_DIRS:  # never walked: dependencies, documents included
                        yield FetchFailure(self._cite(here / name), "vendored dependencies, not indexed", skipped=True)
                    continue
                walked.append(name)
            dirnames[:] = walked
            for name in sorted(filenames):
                path = here / name
                relative = path.relative_to(self.root).as_posix()
                fmt = source_format(name)
                vendored = vendored_dir(relative) if fmt and is_code(fmt) else None
                if vendored is not None:
                    if vendored not in reported:
                        reported.add(vendored)
                        yield FetchFailure(self._cite(self.root / vendored), vendored_reason(vendored), skipped=True)
                    continue
                item = read_document(path, self._cite(path), relative)
                if item is not None:
                    yield item
