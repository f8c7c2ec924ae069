"""Embedding provider registry; one embedder instance per process and configuration."""

from __future__ import annotations

import threading
from collections.abc import Callable

from docsage.config import Settings
from docsage.embed.base import Embedder
from docsage.errors import InvalidInputError

Factory = Callable[[Settings], Embedder]


def _local(settings: Settings) -> Embedder:
    from docsage.embed.local import MiniLMEmbedder

    return MiniLMEmbedder(threads=settings.embedding_threads, batch_size=settings.embedding_batch_size)


def _openai(settings: Settings) -> Embedder:
    from docsage.embed.openai_compat import OpenAIEmbedder

    return OpenAIEmbedder(settings.embedding_base_url, settings.embedding_api_key, settings.embedding_model)


PROVIDERS: dict[str, Factory] = {"local": _local, "openai": _openai}
_instances: dict[tuple[str, str, str], Embedder] = {}
_lock = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """The process-wide embedder for these settings (the model is loaded once)."""
    provider = settings.embedding_provider
    if provider not in PROVIDERS:
        raise InvalidInputError(f"unknown embedding provider {provider!r}; choose one of {sorted(PROVIDERS)}")
    key = (provider, settings.embedding_base_url, settings.embedding_model)
    with _lock:
        if key not in _instances:
            _instances[key] = PROVIDERS[provider](settings)
        return _instances[key]
