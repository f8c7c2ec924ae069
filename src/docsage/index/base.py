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


@dataclass(frozen=True)
class Candidate:
    """A chunk in either retriever's top list, with both raw scores (computed exactly for every candidate)."""

    pk: int
    lexical: float  # BM25; 0 when no query term occurs in the chunk
    dense: float  # cosine similarity to the query
    lexical_rank: int  # 1-based rank in the lexical top list; 0 when not in it
    dense_rank: int


@dataclass(frozen=True)
class CandidateSet:
    """The union of both top lists, plus each list's scores (the fusion normalises with their statistics)."""

    candidates: list[Candidate]
    lexical_top: list[float]
    dense_top: list[float]


class IndexBackend(Protocol):
    """Owns chunk rows and both indexes of one database; every method runs in the caller's transaction."""

    def write_document(
        self,
        session: Session,
        project_id: str,
        source_id: str,
        document_id: str,
        title: str,
        chunks: list[ChunkWrite],
        vectors: Vectors,
    ) -> None:
        """Replace all chunks of a document (lexical terms and vectors included)."""
        ...

    def delete_documents(self, session: Session, project_id: str, document_ids: list[str]) -> None: ...

    def candidates(
        self,
        session: Session,
        project_id: str,
        query: str,
        vector: Vectors | None,
        depth: int,
        source_ids: list[str] | None = None,
    ) -> CandidateSet:
        """Top `depth` chunks by BM25 and (when a vector is given) by cosine, with both scores for each.

        An empty query skips lexical scoring; a None vector skips dense scoring.
        """
        ...

    def load(self, session: Session, pks: list[int]) -> dict[int, StoredChunk]: ...
