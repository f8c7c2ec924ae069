"""What connectors hand to the ingest pipeline: fetched raw documents and per-document failures."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FetchedDocument:
    """One document as a connector found it, before parsing.

    `url` is stable across runs and is what citations link to; `fmt` picks the parser
    (markdown, html, rst, text, pdf, openapi-operation); `hash` covers everything that affects parsing.
    """

    url: str
    raw: bytes
    fmt: str
    title: str = ""
    hash: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    document_id: str | None = None  # the id a new document gets (an upload's id is known before indexing)

    def __post_init__(self) -> None:
        if not self.hash:
            object.__setattr__(
                self, "hash", content_hash(self.fmt.encode() + b"\0" + self.title.encode() + b"\0" + self.raw)
            )


@dataclass(frozen=True)
class FetchFailure:
    """A document the connector could not deliver; `skipped` marks deliberate skips (binaries, robots)."""

    url: str
    reason: str
    skipped: bool = False


ConnectorItem = FetchedDocument | FetchFailure


class Connector(Protocol):
    """Lists a source's documents. Raising means the listing is incomplete: nothing will be deleted."""

    def iter_documents(self) -> Iterator[ConnectorItem]: ...
