"""Local folder connector: md, mdx, rst, txt, html and pdf files under a directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from docsage.errors import ConnectorError
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


class FolderConnector:
    """Walks a directory in a stable order; the citation URL is `file://` + the absolute path."""

    def __init__(self, path: str) -> None:
        self.root = Path(path).expanduser().resolve()

    def iter_documents(self) -> Iterator[ConnectorItem]:
        if not self.root.is_dir():
            raise ConnectorError(f"folder not found: {self.root}")
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                item = read_document(path, path.as_uri())
                if item is not None:
                    yield item
