"""The index-backend interface: chunk writes, lexical search, vector search, deletion by document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
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
class CandidateSet:
    """The union of both retrievers' top lists as parallel arrays, with both raw scores exact for every
    candidate, plus each list's own scores (the fusion normalises with their statistics).

    `lexical` is BM25 (0 when no query term occurs), `dense` the cosine similarity; the ranks are 1-based
    positions in each top list, 0 when the chunk is not in it. `documents` codes each candidate's document
    (equal codes: chunks of one page; the codes mean nothing beyond one search).
    """

    pks: npt.NDArray[np.int64]
    lexical: npt.NDArray[np.float32]
    dense: npt.NDArray[np.float32]
    lexical_rank: npt.NDArray[np.int64]
    dense_rank: npt.NDArray[np.int64]
    lexical_top: npt.NDArray[np.float32]
    dense_top: npt.NDArray[np.float32]
    documents: npt.NDArray[np.int32]

    @classmethod
    def empty(cls) -> CandidateSet:
        f, i = np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        return cls(i, f, f, i, i, f, f, np.zeros(0, dtype=np.int32))


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

    def term_weights(self, session: Session, project_id: str, terms: list[str]) -> dict[str, float]:
        """BM25 IDF of each analyzed term over the project's live chunks (a term in no chunk gets the most)."""
        ...
