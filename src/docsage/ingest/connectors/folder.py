"""Local folder connector: md, mdx, rst, txt, html and pdf files under a directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from docsage.errors import ConnectorError, InvalidInputError
from docsage.ingest.documents import ConnectorItem, FetchedDocument, FetchFailure

FORMATS = {
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
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache"}
MAX_FILE_BYTES = 20 * 1024 * 1024


def looks_binary(data: bytes) -> bool:
    return b"\0" in data[:8192]


def read_document(path: Path, url: str) -> ConnectorItem | None:
    """One file as a document, a failure with its reason, or None for a type docsage does not index."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        return None
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return FetchFailure(url, f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit", skipped=True)
        data = path.read_bytes()
    except OSError as exc:
        return FetchFailure(url, f"unreadable: {exc.strerror or exc}")
    if fmt != "pdf" and looks_binary(data):
        return FetchFailure(url, "binary content in a text file", skipped=True)
    if fmt != "pdf":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return FetchFailure(url, "not valid UTF-8 text", skipped=True)
    return FetchedDocument(url=url, raw=data, fmt=fmt)


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
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                item = read_document(path, self._cite(path))
                if item is not None:
                    yield item
