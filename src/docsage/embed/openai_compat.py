"""Embeddings from any OpenAI-compatible /v1/embeddings endpoint, through the official SDK."""

from __future__ import annotations

import numpy as np
import openai

from docsage.embed.base import Vectors
from docsage.embed.local import MODEL_DIR
from docsage.errors import ProviderError


class OpenAIEmbedder:
    """Remote embeddings; token counts use the bundled word-piece tokenizer, which over-counts BPE."""

    def __init__(self, base_url: str, api_key: str, model: str, max_tokens: int = 512, batch_size: int = 64) -> None:
        from tokenizers import Tokenizer

        self._client = openai.OpenAI(base_url=base_url or None, api_key=api_key or "none", max_retries=3)
        self._model = model
        self._max_tokens = max_tokens
        self._batch_size = batch_size
        self._dimension = 0
        self._counter = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()

    @property
    def name(self) -> str:
        return f"openai/{self._model}"

    @property
    def dimension(self) -> int:
        if not self._dimension:
            self._dimension = int(self.embed_query("dimension probe").shape[0])
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def chunk_tokens(self) -> int:
        # Not measured for remote models: their whole window, as before DOCSAGE_CHUNK_TOKENS (so an upgrade
        # re-embeds nothing through a paid API).
        return self._max_tokens

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._counter.encode_batch(texts)]

    def embed_documents(self, texts: list[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            try:
                resp = self._client.embeddings.create(model=self._model, input=batch)
            except openai.OpenAIError as exc:
                raise ProviderError(f"embedding request failed: {exc}") from exc
            rows.extend(d.embedding for d in sorted(resp.data, key=lambda d: d.index))
        if not rows:
            return np.zeros((0, self._dimension or 1), dtype=np.float32)
        vecs = np.asarray(rows, dtype=np.float32)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        self._dimension = vecs.shape[1]
        return vecs

    def embed_query(self, text: str) -> Vectors:
        vec: Vectors = self.embed_documents([text])[0]
        return vec
