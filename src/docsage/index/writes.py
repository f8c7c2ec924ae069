"""How a chunk is stored by every backend: its row, with its analysed terms and its vector's bytes."""

from __future__ import annotations

from typing import Any

import numpy as np

from docsage.embed.base import Vectors
from docsage.index.base import ChunkWrite
from docsage.index.lexical import analyze


def lexical_text(title: str, heading_path: str, text: str) -> str:
    """The analyzed terms stored with a chunk: its context line (title, headings) and its text."""
    context = heading_path if title and heading_path.startswith(title) else f"{title} {heading_path}"
    return " ".join(analyze(f"{context}\n{text}"))


def chunk_rows(
    project_id: str, source_id: str, document_id: str, title: str, chunks: list[ChunkWrite], vectors: Vectors
) -> list[dict[str, Any]]:
    """The `chunks` rows of one document, ready for one multi-row INSERT."""
    return [
        {
            "chunk_id": c.chunk_id,
            "project_id": project_id,
            "source_id": source_id,
            "document_id": document_id,
            "ordinal": c.ordinal,
            "heading_path": c.heading_path,
            "text": c.text,
            "token_count": c.token_count,
            "lex": lexical_text(title, c.heading_path, c.text),
            "embedding": np.ascontiguousarray(vectors[i], dtype=np.float32).tobytes(),
        }
        for i, c in enumerate(chunks)
    ]
