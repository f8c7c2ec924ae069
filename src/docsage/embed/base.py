"""The embedder interface every embedding provider implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors.

    `max_tokens` is the longest input (in the embedder's own tokens, special tokens included) that the
    model sees whole; the chunker keeps every chunk at or under it. `chunk_tokens` is the chunk size the
    model is measured to rank best, at most `max_tokens` (DOCSAGE_CHUNK_TOKENS overrides it).
    """

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    @property
    def chunk_tokens(self) -> int: ...

    def count_tokens(self, texts: list[str]) -> list[int]: ...

    def embed_documents(self, texts: list[str]) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...
