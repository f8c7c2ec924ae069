"""The index-backend interface: chunk writes, lexical search, vector search, deletion by document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from docsage.embed.base import Vectors


@dataclass(frozen=True)
class ChunkWrite:
    chunk_id: str
    ordinal: int
    heading_path: str
    text: str
    token_count: int


@dataclass(frozen=True)
class StoredChunk:
    """A chunk joined with its document, as search results need it."""

    pk: int
    chunk_id: str
    document_id: str
    source_id: str
    url: str
    title: str
    heading_path: str
    text: str


class IndexBackend(Protocol):
    """Owns chunk rows and both indexes of one database; every method runs in the caller's transaction."""

    def write_document(
        self, session: Session, project_id: str, source_id: str, document_id: str, title: str,
        chunks: list[ChunkWrite], vectors: Vectors,
    ) -> None:
        """Replace all chunks of a document (lexical rows and vectors included)."""
        ...

    def delete_documents(self, session: Session, project_id: str, document_ids: list[str]) -> None: ...

    def search_lexical(
        self, session: Session, project_id: str, query: str, k: int, source_ids: list[str] | None = None
    ) -> list[tuple[int, float]]:
        """(chunk pk, score) best first; higher score is better."""
        ...

    def search_vector(
        self, session: Session, project_id: str, vector: Vectors, k: int, source_ids: list[str] | None = None
    ) -> list[tuple[int, float]]:
        """(chunk pk, cosine similarity) best first."""
        ...

    def vector_scores(self, session: Session, project_id: str, vector: Vectors, pks: list[int]) -> dict[int, float]:
        """Cosine similarity of the query to each given chunk."""
        ...

    def load(self, session: Session, pks: list[int]) -> dict[int, StoredChunk]: ...
