"""Index backends: lexical and vector search behind one interface."""

from docsage.index.base import ChunkWrite, IndexBackend, StoredChunk
from docsage.index.registry import get_index_backend

__all__ = ["ChunkWrite", "IndexBackend", "StoredChunk", "get_index_backend"]
