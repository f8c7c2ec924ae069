"""Bundled offline embedder: all-MiniLM-L6-v2 as per-channel int8 ONNX, run by onnxruntime.

The graph uses ONNX Runtime's fused transformer operators (QAttention, BiasGelu, SkipLayerNormalization), built
by scripts/build_minilm_onnx.py: 1.39x the unfused int8 graph's speed on the same chunks, same cosine (0.9945)
to the fp32 reference (docs/ingestion.md)."""

from __future__ import annotations

import os
import threading
from importlib import resources

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from docsage.embed.base import Vectors

MODEL_DIR = resources.files("docsage.embed") / "minilm"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
# The model was trained on texts of at most 128 word pieces and ranks 192-piece chunks better than whole-window
# ones (docs/retrieval.md#chunk-size: anthropic_docs hybrid nDCG@10 0.934 -> 0.947, SciFact 0.731 -> 0.738).
CHUNK_TOKENS = 192
COUNT_SLICE = 64  # texts per tokenizer call when counting (see count_tokens)


def _session(model: str, threads: int, *, spin: bool) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


class MiniLMEmbedder:
    """384-d MiniLM embeddings; mean-pooled over the attention mask and L2-normalised."""

    def __init__(self, threads: int = 0, batch_size: int = 32, model_path: str = "") -> None:
        """`model_path`: another build of the same model (bench/ingest.py compares graph layouts)."""
        # Batches (ingestion) use every core; single queries get their own one-thread session. Neither spin-waits:
        # idle spinning threads starved the numpy vector search that follows a query embedding (100k-chunk dense
        # search: 4 ms quiet, 11 ms behind spinning threads) and, with ingestion running in the server, held
        # /healthz up to 0.3 s; without spinning ingestion was no slower (18 vs 18 texts/s on two cores).
        # One thread embeds a short query as fast as two (2.2 ms).
        model = model_path or str(MODEL_DIR / "model.onnx")
        self._session = _session(model, threads or (os.cpu_count() or 1), spin=False)
        self._query_session = _session(model, 1, spin=False)
        self._tokenizer = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
        # tokenizer.json ships truncation 128 and fixed padding 128: both would silently cut and slow us.
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._counter = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._batch_size = batch_size
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        # A new name re-embeds documents indexed by an earlier build (the unfused graph; full-range int8 weights,
        # whose vectors moved with the CPU's instruction set).
        return "local/all-MiniLM-L6-v2-int8-fused-rr"

    @property
    def dimension(self) -> int:
        return 384

    @property
    def max_tokens(self) -> int:
        return MAX_TOKENS

    @property
    def chunk_tokens(self) -> int:
        return CHUNK_TOKENS

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text, [CLS] and [SEP] included (what the model would see untruncated).

        In slices: the tokenizer's batches share one process-wide thread pool, and a question's few texts would
        wait behind a whole 5 MB document's thousands (measured: 2.4 s chat answers during an upload)."""
        return [
            len(enc.ids)
            for start in range(0, len(texts), COUNT_SLICE)
            for enc in self._counter.encode_batch(texts[start : start + COUNT_SLICE])
        ]

    def _run(self, texts: list[str], session: ort.InferenceSession | None = None) -> Vectors:
        with self._lock:
            encs = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        hidden = (session or self._session).run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        summed = (hidden * mask[..., None]).sum(axis=1)
        vecs = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        out: Vectors = vecs.astype(np.float32)
        return out

    def embed_documents(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Batches of similar length waste less compute on padding; results go back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._run([texts[i] for i in idx])
        return out

    def embed_query(self, text: str) -> Vectors:
        vec: Vectors = self._run([text], self._query_session)[0]
        return vec
